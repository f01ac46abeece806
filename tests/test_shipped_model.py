"""The shipped MSDN checkpoint reaches its stated figures on a freshly generated built-in dataset.

The README states these figures; the checkpoint header carries the same
ones (written by ``zsl-desktop train``). Regenerating the dataset must give
the same fingerprint (the generator is deterministic), so the checkpoint
is accepted, and re-extracting the test images must reproduce the figures.
"""

import pytest

from shipped import TRAINED, figures_on_test_split, made_on_default_features
from zsl_desktop.engine.checkpoints import check_compatible, load_checkpoint
from zsl_desktop.engine.training import method_from_checkpoint

SHIPPED = TRAINED / "msdn_builtin.pt"
README_FIGURES = {"zsl_t1": 0.677, "u": 0.668, "s": 0.825, "h": 0.738, "ausuc": 0.635}
TOLERANCE = 0.01


def test_shipped_msdn_reaches_its_stated_figures(fresh_builtin, fresh_test_features):
    checkpoint = load_checkpoint(SHIPPED)
    check_compatible(checkpoint, fresh_builtin)  # same fingerprint: the generator is deterministic
    header = checkpoint.header
    for name, value in README_FIGURES.items():
        assert header["metrics"][name] == pytest.approx(value, abs=0.0005), f"README figure {name} is stale"
    assert header["gamma_source"] == "validation"

    d = fresh_builtin
    assert made_on_default_features(header)
    method = method_from_checkpoint(checkpoint)
    _, grid, _ = fresh_test_features
    got = figures_on_test_split(d, method.score(method.encode(grid), d.class_attributes), header["gamma"])
    for name, value in README_FIGURES.items():
        assert got[name] == pytest.approx(value, abs=TOLERANCE), name
    assert got["zsl_t1"] > 5 * (1 / len(d.unseen_classes))  # far above chance (10%)
