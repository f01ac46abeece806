"""The shipped GSMFlow checkpoint reaches its stated figures on a freshly generated built-in dataset.

As ``test_shipped_model.py`` does for MSDN: the regenerated dataset has the
checkpoint's fingerprint, and the test images, re-extracted from scratch
(pooled EfficientNet-Lite0 vectors, as GSMFlow reads), reproduce the figures
that the README states and the checkpoint header carries.
"""

import numpy as np
import pytest

from shipped import TRAINED, figures_on_test_split, made_on_default_features
from zsl_desktop.engine.checkpoints import check_compatible, load_checkpoint
from zsl_desktop.engine.training import method_from_checkpoint

SHIPPED = TRAINED / "gsmflow_builtin.pt"
README_FIGURES = {"zsl_t1": 0.7733, "u": 0.75, "s": 0.8896, "h": 0.8139, "ausuc": 0.7192}
TOLERANCE = 0.01


def test_shipped_gsmflow_reaches_its_stated_figures(fresh_builtin, fresh_test_features):
    checkpoint = load_checkpoint(SHIPPED)
    check_compatible(checkpoint, fresh_builtin)
    header = checkpoint.header
    assert header["method"] == "gsmflow" and header["gamma_source"] == "validation"
    for name, value in README_FIGURES.items():
        assert header["metrics"][name] == pytest.approx(value, abs=0.0005), f"README figure {name} is stale"
    assert not any(k.startswith("optim.") for k in checkpoint.state)  # heads only: no training state

    d = fresh_builtin
    method = method_from_checkpoint(checkpoint)
    assert made_on_default_features(header)
    _, _, pooled = fresh_test_features
    got = figures_on_test_split(d, method.score(method.encode(pooled), d.class_attributes), header["gamma"])
    for name, value in README_FIGURES.items():
        assert got[name] == pytest.approx(value, abs=TOLERANCE), name
    assert got["zsl_t1"] > 5 * (1 / len(d.unseen_classes))  # far above chance (10%)
    # The cluster view's inputs: synthesised features of a user-drawn class, in the store's space.
    user = d.class_attributes[d.unseen_classes[:1]] * 0.9
    synth = method.synthesize(user, 50, seed=0)
    assert synth.shape == (50, pooled.shape[1]) and np.isfinite(synth).all()
