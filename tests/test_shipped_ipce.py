"""The shipped IPCE checkpoint reaches its stated figures on a freshly generated built-in dataset.

Same check as ``test_shipped_model.py`` for a pooled method: the dataset is
regenerated (same fingerprint, so the checkpoint is accepted), the test
images are re-extracted and their pooled features scored.
"""

import pytest

from shipped import TRAINED, figures_on_test_split, made_on_default_features
from zsl_desktop.engine.checkpoints import check_compatible, load_checkpoint
from zsl_desktop.engine.training import method_from_checkpoint

SHIPPED = TRAINED / "ipce_builtin.pt"
STATED_FIGURES = {"zsl_t1": 0.6833, "u": 0.6733, "s": 0.8771, "h": 0.7618, "ausuc": 0.641}  # session 15
TOLERANCE = 0.01


def test_shipped_ipce_reaches_its_stated_figures(fresh_builtin, fresh_test_features):
    checkpoint = load_checkpoint(SHIPPED)
    check_compatible(checkpoint, fresh_builtin)  # same fingerprint: the generator is deterministic
    header = checkpoint.header
    assert header["method"] == "ipce" and header["gamma_source"] == "validation"
    for name, value in STATED_FIGURES.items():
        assert header["metrics"][name] == pytest.approx(value, abs=0.0005), f"stated figure {name} is stale"
    assert not any(key.startswith("optim.") for key in checkpoint.state)  # no critic, no Adam state
    members = {key.split(".", 1)[0] for key in checkpoint.state if key.startswith("member")}
    assert members == {f"member{i}" for i in range(4)}  # five final models (IPCE's default since session 11)
    assert not any(key.startswith("member") and ".G." in key for key in checkpoint.state)  # members: no generator

    d = fresh_builtin
    method = method_from_checkpoint(checkpoint)
    assert made_on_default_features(header)
    _, _, pooled = fresh_test_features
    got = figures_on_test_split(d, method.score(method.encode(pooled), d.class_attributes), header["gamma"])
    for name, value in STATED_FIGURES.items():
        assert got[name] == pytest.approx(value, abs=TOLERANCE), name
    assert got["zsl_t1"] > 5 * (1 / len(d.unseen_classes))  # far above chance (10%)
