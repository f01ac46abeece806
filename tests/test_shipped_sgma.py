"""The shipped SGMA checkpoint reaches its stated figures on a freshly generated built-in dataset.

Stated figures (test split, gamma chosen on validation data) come from
``zsl-desktop train --dataset builtin --method sgma --out trained/sgma_builtin.pt``
(session 9: ``--seed 0 --threads 1``, two final models, the default) with the trainer
reaching the original images (crops); the checkpoint header carries the same ones. Re-extracting the test images and re-cutting the crops
must reproduce them, and the grid-only fallback (no images) its own figures.
The discovered crops must cover the birds' heads far more often than random
crops of the same size.
"""

import numpy as np
import pytest

from shipped import TRAINED, figures_on_test_split, made_on_default_features
from zsl_desktop.engine.checkpoints import check_compatible, load_checkpoint
from zsl_desktop.engine.feature_source import ImageAccess
from zsl_desktop.engine.methods.base import FeatureSource
from zsl_desktop.engine.methods.sgma import part_localisation
from zsl_desktop.engine.training import method_from_checkpoint

SHIPPED = TRAINED / "sgma_builtin.pt"
STATED = {"zsl_t1": 0.720, "u": 0.655, "s": 0.929, "h": 0.768, "ausuc": 0.683}  # part features from crops
GRID_ONLY = {"zsl_t1": 0.690, "u": 0.597, "s": 0.931, "h": 0.727, "ausuc": 0.649}  # the fallback, same gamma
HEAD_COVERAGE = (0.865, 0.345)  # share of head keypoints inside the best crop: SGMA, random crops of the same sides
TOLERANCE = 0.01


class _TestRows(FeatureSource):
    """Features of some dataset rows only, still addressed by dataset row."""

    def __init__(self, grid, rows):
        super().__init__(grid=grid)
        self._position = {int(r): i for i, r in enumerate(rows)}

    def rows(self, kind, index, device="cpu"):
        return super().rows(kind, np.array([self._position[int(i)] for i in np.atleast_1d(index)]), device)


@pytest.fixture(scope="module")
def fresh(fresh_builtin, fresh_test_features):
    """The regenerated dataset, the shipped model and the test rows' features (with image access)."""
    dataset = fresh_builtin
    checkpoint = load_checkpoint(SHIPPED)
    header = checkpoint.header
    assert made_on_default_features(header)
    rows, grid, _ = fresh_test_features
    source = _TestRows(grid, rows)
    source.images = ImageAccess(dataset.image_path, header["backbone"], int(header["input_size"]))
    return dataset, checkpoint, source, rows


def _figures(dataset, method, codes, gamma):
    return figures_on_test_split(dataset, method.score(codes, dataset.class_attributes), gamma)


def test_the_header_states_the_figures_and_the_file_is_small():
    checkpoint = load_checkpoint(SHIPPED)  # weights_only=True inside
    header = checkpoint.header
    assert header["method"] == "sgma" and header["select"] == "validation"
    assert header["gamma_source"] == "validation"
    for name, value in STATED.items():
        assert header["metrics"][name] == pytest.approx(value, abs=0.0005), f"stated figure {name} is stale"
    assert SHIPPED.stat().st_size < 7_000_000  # two models' heads, attention and f_CNet: no backbone, no optimiser
    assert not any(k.startswith("optim.") for k in checkpoint.state)


def test_shipped_sgma_reaches_its_stated_figures_with_crops_and_on_the_grid(fresh):
    dataset, checkpoint, source, rows = fresh
    check_compatible(checkpoint, dataset)  # same fingerprint: the generator is deterministic
    method = method_from_checkpoint(checkpoint)
    gamma = checkpoint.header["gamma"]
    with_crops = _figures(dataset, method, method.encode_rows(source, rows), gamma)
    for name, value in STATED.items():
        assert with_crops[name] == pytest.approx(value, abs=TOLERANCE), name
    grid_only = _figures(dataset, method, method.encode(source.rows("grid", rows)), gamma)
    for name, value in GRID_ONLY.items():
        assert grid_only[name] == pytest.approx(value, abs=TOLERANCE), name
    assert with_crops["zsl_t1"] > 5 * (1 / len(dataset.unseen_classes))  # far above chance (10%)


def test_shipped_sgma_crops_find_the_head_more_often_than_random_crops(fresh):
    dataset, checkpoint, source, rows = fresh
    method = method_from_checkpoint(checkpoint)
    score = part_localisation(method, dataset, source, rows, checkpoint.header["input_size"])
    assert score.head_coverage == pytest.approx(HEAD_COVERAGE[0], abs=0.02)
    assert score.head_coverage_random == pytest.approx(HEAD_COVERAGE[1], abs=0.02)
    assert score.head_coverage > 2 * score.head_coverage_random
