"""The shipped MSDN checkpoint reaches its stated figures on a freshly generated built-in dataset.

The README states these figures; the checkpoint header carries the same
ones (written by ``zsl-desktop train``). Regenerating the dataset must give
the same fingerprint (the generator is deterministic), so the checkpoint
is accepted, and re-extracting the test images must reproduce the figures.
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

SHIPPED = Path(zsl_desktop.__file__).resolve().parents[1] / "trained" / "msdn_builtin.pt"
README_FIGURES = {"zsl_t1": 0.677, "u": 0.668, "s": 0.825, "h": 0.738, "ausuc": 0.635}
TOLERANCE = 0.01


@pytest.fixture(scope="module")
def fresh_builtin(tmp_path_factory):
    return load_builtin(root=tmp_path_factory.mktemp("fresh") / "builtin_birds")


def test_shipped_msdn_reaches_its_stated_figures(fresh_builtin):
    checkpoint = load_checkpoint(SHIPPED)
    check_compatible(checkpoint, fresh_builtin)  # same fingerprint: the generator is deterministic
    header = checkpoint.header
    for name, value in README_FIGURES.items():
        assert header["metrics"][name] == pytest.approx(value, abs=0.0005), f"README figure {name} is stale"
    assert header["gamma_source"] == "validation"

    d = fresh_builtin
    method = method_from_checkpoint(checkpoint)
    rows = np.concatenate([d.splits["test_seen"], d.splits["test_unseen"]])
    grid, _, errors = extract_images([d.image_path(int(i)) for i in rows], header["backbone"], header["input_size"])
    assert not errors
    scores = method.score(method.encode(grid), d.class_attributes)
    n_seen = len(d.splits["test_seen"])
    report = evaluate(scores[:n_seen], d.labels[d.splits["test_seen"]], scores[n_seen:],
                      d.labels[d.splits["test_unseen"]], d.seen_classes, d.unseen_classes, header["gamma"])
    got = report.as_dict()
    for name, value in README_FIGURES.items():
        assert got[name] == pytest.approx(value, abs=TOLERANCE), name
    assert got["zsl_t1"] > 5 * (1 / len(d.unseen_classes))  # far above chance (10%)
