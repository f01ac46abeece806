"""Session.all_scores against a model switched on another thread while it runs (review, session 14)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zsl_desktop.engine.data.model import Attribute, Dataset
from zsl_desktop.engine.session import Session
from zsl_desktop.engine.session.class_set import saved_classes

IMAGES, CLASSES, ATTRIBUTES = 60, 6, 4


class LinearStandIn:
    """A model whose score is codes · class attributes (what Session needs of a method here)."""

    feature_kind = "pooled"

    def score(self, codes, matrix):
        return np.asarray(codes, np.float32) @ np.asarray(matrix, np.float32).T


def small_dataset() -> Dataset:
    rng = np.random.default_rng(0)
    return Dataset(
        name="switch",
        format="test",
        root=Path("."),
        classes=tuple(f"c{i}" for i in range(CLASSES)),
        attributes=tuple(Attribute.from_name(f"part::a{i}") for i in range(ATTRIBUTES)),
        class_attributes=rng.random((CLASSES, ATTRIBUTES)).astype(np.float32),
        labels=np.arange(IMAGES) % CLASSES,
        splits={k: np.arange(IMAGES) for k in ("trainval", "test_seen", "test_unseen")},
        seen_classes=np.arange(CLASSES - 2),
        unseen_classes=np.arange(CLASSES - 2, CLASSES),
        features=rng.random((IMAGES, ATTRIBUTES)).astype(np.float32),
    )


def test_the_ranker_is_primed_with_the_codes_that_were_scored_when_the_model_changes_meanwhile(monkeypatch):
    dataset = small_dataset()
    session = Session(dataset, device="cpu")
    rng = np.random.default_rng(1)
    codes_a = rng.random((IMAGES, ATTRIBUTES)).astype(np.float32)
    codes_b = -rng.random((IMAGES, ATTRIBUTES)).astype(np.float32)
    session.use_codes(LinearStandIn(), {}, codes_a)
    scores_of = Session.scores_of

    def scored_then_switched(method, codes, matrix, rows=None):
        out = scores_of(method, codes, matrix, rows)
        session.use_codes(LinearStandIn(), {}, codes_b)  # the long-job thread loads another model meanwhile
        return out

    monkeypatch.setattr(session, "scores_of", scored_then_switched)
    saved = saved_classes(dataset, (), np.zeros((0, dataset.num_attributes), np.float32))
    result = session.all_scores(saved, gamma=0.5)
    np.testing.assert_allclose(result.scores, codes_a @ saved.matrix.T, rtol=1e-6)
    assert session.ranker.held_codes is codes_a, "the ranker holds one model's scores under another model's codes"
