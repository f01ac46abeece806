"""The shipped GSMFlow checkpoint reaches its stated figures on a freshly generated built-in dataset.

As ``test_shipped_model.py`` does for MSDN: the regenerated dataset has the
checkpoint's fingerprint, and the test images, re-extracted from scratch
(pooled EfficientNet-Lite0 vectors, as GSMFlow reads), reproduce the figures
that the README states and the checkpoint header carries.
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

SHIPPED = Path(zsl_desktop.__file__).resolve().parents[1] / "trained" / "gsmflow_builtin.pt"
README_FIGURES = {"zsl_t1": 0.685, "u": 0.658, "s": 0.829, "h": 0.734, "ausuc": 0.626}
TOLERANCE = 0.01


@pytest.fixture(scope="module")
def fresh_builtin(tmp_path_factory):
    return load_builtin(root=tmp_path_factory.mktemp("fresh") / "builtin_birds")


def test_shipped_gsmflow_reaches_its_stated_figures(fresh_builtin):
    checkpoint = load_checkpoint(SHIPPED)
    check_compatible(checkpoint, fresh_builtin)
    header = checkpoint.header
    assert header["method"] == "gsmflow" and header["gamma_source"] == "validation"
    for name, value in README_FIGURES.items():
        assert header["metrics"][name] == pytest.approx(value, abs=0.0005), f"README figure {name} is stale"
    assert not any(k.startswith("optim.") for k in checkpoint.state)  # heads only: no training state

    d = fresh_builtin
    method = method_from_checkpoint(checkpoint)
    rows = np.concatenate([d.splits["test_seen"], d.splits["test_unseen"]])
    _, pooled, errors = extract_images([d.image_path(int(i)) for i in rows], header["backbone"],
                                       header["input_size"])
    assert not errors
    scores = method.score(method.encode(pooled), d.class_attributes)
    n_seen = len(d.splits["test_seen"])
    report = evaluate(scores[:n_seen], d.labels[d.splits["test_seen"]], scores[n_seen:],
                      d.labels[d.splits["test_unseen"]], d.seen_classes, d.unseen_classes, header["gamma"])
    got = report.as_dict()
    for name, value in README_FIGURES.items():
        assert got[name] == pytest.approx(value, abs=TOLERANCE), name
    assert got["zsl_t1"] > 5 * (1 / len(d.unseen_classes))  # far above chance (10%)
    # The cluster view's inputs: synthesised features of a user-drawn class, in the store's space.
    user = d.class_attributes[d.unseen_classes[:1]] * 0.9
    synth = method.synthesize(user, 50, seed=0)
    assert synth.shape == (50, pooled.shape[1]) and np.isfinite(synth).all()
