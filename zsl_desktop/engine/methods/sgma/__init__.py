"""SGMA (Zhu et al., NeurIPS 2019): the method (``method.py``), its sub-nets and losses (``parts.py``), its
training stages (``training.py``), its checkpoint state (``state.py``), its several final models
(``members.py``), one image's part maps, boxes and crops (``explaining.py``), its part-localisation score
(``evaluation.py``) and the part crops it re-encodes with their disk cache (``crops.py``).

Attention maps and peak locations that the app draws for any method stay in ``engine/localisation.py`` and
``engine/attention.py``; the images of the feature-store rows are ``engine.feature_source.ImageAccess``.
"""

from zsl_desktop.engine.methods.sgma.evaluation import part_localisation
from zsl_desktop.engine.methods.sgma.method import SGMA

__all__ = ["SGMA", "part_localisation"]
