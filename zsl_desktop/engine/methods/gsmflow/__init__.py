"""GSMFlow (Chen et al., ACM MM 2021): the method (``method.py``: training and inference), its conditional flow
with relative positioning (``flows.py``), the flow as a generator (``generator.py``), its final classifier
(``classifier.py``), its checkpoint state (``state.py``) and its seeded streams (``seeding.py``). The generative
pieces it shares with CE-GZSL are in ``methods/generative.py`` and beside it (``gzsl_head.py``, ``class_rows.py``,
``boundary_mining.py``).
"""

from zsl_desktop.engine.methods.gsmflow.method import GSMFlow

__all__ = ["GSMFlow"]
