"""The shipped IPCE checkpoint reaches its stated figures on a freshly generated built-in dataset.

Same check as ``test_shipped_model.py`` for a pooled method: the dataset is
regenerated (same fingerprint, so the checkpoint is accepted), the test
images are re-extracted and their pooled features scored.
"""
from pathlib import Path

import numpy as np
import pytest

import zsl_desktop
from zsl_desktop.engine.checkpoints import check_compatible, load_checkpoint
from zsl_desktop.engine.data import load_builtin
from zsl_desktop.engine.evaluation import evaluate
from zsl_desktop.engine.features import extract_images
from zsl_desktop.engine.training import method_from_checkpoint

SHIPPED = Path(zsl_desktop.__file__).resolve().parents[1] / "trained" / "ipce_builtin.pt"
STATED_FIGURES = {"zsl_t1": 0.648, "u": 0.618, "s": 0.850, "h": 0.716, "ausuc": 0.603}
TOLERANCE = 0.01


@pytest.fixture(scope="module")
def fresh_builtin(tmp_path_factory):
    return load_builtin(root=tmp_path_factory.mktemp("fresh") / "builtin_birds")


def test_shipped_ipce_reaches_its_stated_figures(fresh_builtin):
    checkpoint = load_checkpoint(SHIPPED)
    check_compatible(checkpoint, fresh_builtin)  # same fingerprint: the generator is deterministic
    header = checkpoint.header
    assert header["method"] == "ipce" and header["gamma_source"] == "validation"
    for name, value in STATED_FIGURES.items():
        assert header["metrics"][name] == pytest.approx(value, abs=0.0005), f"stated figure {name} is stale"
    assert not any(key.startswith("optim.") for key in checkpoint.state)  # no critic, no Adam state

    d = fresh_builtin
    method = method_from_checkpoint(checkpoint)
    rows = np.concatenate([d.splits["test_seen"], d.splits["test_unseen"]])
    _, pooled, errors = extract_images([d.image_path(int(i)) for i in rows], header["backbone"], header["input_size"])
    assert not errors
    scores = method.score(method.encode(pooled), d.class_attributes)
    n_seen = len(d.splits["test_seen"])
    report = evaluate(scores[:n_seen], d.labels[d.splits["test_seen"]], scores[n_seen:],
                      d.labels[d.splits["test_unseen"]], d.seen_classes, d.unseen_classes, header["gamma"])
    got = report.as_dict()
    for name, value in STATED_FIGURES.items():
        assert got[name] == pytest.approx(value, abs=TOLERANCE), name
    assert got["zsl_t1"] > 5 * (1 / len(d.unseen_classes))  # far above chance (10%)
