"""The standard test-split evaluation of the active model, leaving out the images that could not be read."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from zsl_desktop.engine import evaluation as ev
from zsl_desktop.engine.features import FeatureStore
from zsl_desktop.engine.methods.base import FeatureSource
from zsl_desktop.engine.scoring import evaluate_on
from zsl_desktop.engine.session.model_state import ModelState


def evaluate_model(
    state: ModelState, dataset, features: FeatureSource, store: FeatureStore | None, device, gamma: float | None = None
) -> ev.EvaluationReport:
    """``state``'s model on the test splits at its training-chosen gamma (or ``gamma``); its report's ``skipped``
    counts the test images left out because they could not be read."""
    header = state.header
    source = header.get("gamma_source", "fixed") if gamma is None else "given"
    gamma = state.gamma if gamma is None else gamma
    d = dataset
    unreadable = unreadable_rows(store, d)
    seen_idx, unseen_idx = (np.setdiff1d(d.splits[k], unreadable) for k in ("test_seen", "test_unseen"))
    skipped = len(d.splits["test_seen"]) + len(d.splits["test_unseen"]) - len(seen_idx) - len(unseen_idx)
    if len(unseen_idx) == 0:
        raise ValueError(
            f"{d.name}: none of the {len(d.splits['test_unseen'])} unseen test images could be read; nothing to evaluate"
        )
    report = evaluate_on(
        state.method,
        d,
        features,
        seen_idx,
        unseen_idx,
        d.seen_classes,
        d.unseen_classes,
        gamma,
        None,
        device,
        source,
        codes=state.codes if len(state.codes) == d.num_samples else None,  # encoded once
    )
    return replace(report, skipped=skipped)


def unreadable_rows(store: FeatureStore | None, dataset) -> np.ndarray:
    """Rows whose image file could not be read at extraction (their features are zeros)."""
    if store is None or not store.failed or not dataset.has_images:
        return np.zeros(0, np.int64)
    failed = set(store.failed)
    return np.array([i for i, p in enumerate(dataset.image_paths or ()) if p in failed], np.int64)
