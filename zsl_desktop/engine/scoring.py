"""Scoring a method over feature-store rows: codes in memory-bounded chunks, ZSL/GZSL figures on index sets,
and the gamma that puts the final model at the operating point chosen on validation.

Used by the trainer (selection every epoch), the session (the active model's test figures) and the bench.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from zsl_desktop.engine import evaluation as ev
from zsl_desktop.engine.data.model import Dataset
from zsl_desktop.engine.feature_source import FeatureSource
from zsl_desktop.engine.methods.base import Method
from zsl_desktop.engine.selection import gamma_at_rate


def encode_rows(method: Method, features: FeatureSource, index, device="cpu", progress=None) -> np.ndarray:
    """Codes for many rows (``Method.encode_rows``: chunked, out-of-memory safe); ``progress(done, total)``.

    With ``features.tta`` (flip test-time averaging) each image's codes are the mean of its own and its
    mirror's. For the dataset's classes every method's logits are linear in its codes, so this is the
    mean of the two logits. A method that re-encodes the original images (SGMA) is never flip-averaged.
    """
    if features.tta and features.mirrored is not None and not method.reencodes_images:
        index = np.asarray(index, np.int64)
        both = method.encode_rows(
            replace(features, tta=False),
            np.concatenate([index, features.mirrored_rows(index)]),
            device,
            progress=None if progress is None else (lambda d, t: progress(d // 2, t // 2)),
        )
        return (both[: len(index)] + both[len(index) :]) / 2
    return method.encode_rows(features, index, device, progress=progress)


def evaluate_on(
    method: Method,
    dataset: Dataset,
    features: FeatureSource,
    seen_idx,
    unseen_idx,
    seen,
    unseen,
    gamma=None,
    candidates=None,
    device="cpu",
    gamma_source="fixed",
    codes: np.ndarray | None = None,
):
    """Score two index sets over ``candidates`` classes and evaluate; gamma None = best on this curve.

    ``codes``: every dataset row's codes already computed on ``features`` (the session's active model):
    the rows are read from them instead of encoded again (36,000 test rows of a 100,000-image store
    took seconds of CPU beside the window just after it opened).
    """
    candidates = np.arange(dataset.num_classes) if candidates is None else np.asarray(candidates)
    ca = dataset.class_attributes[candidates]

    def rows_codes(index):
        return codes[index] if codes is not None else encode_rows(method, features, index, device)

    s_seen = method.score(rows_codes(seen_idx), ca)
    s_unseen = method.score(rows_codes(unseen_idx), ca)
    # Map dataset class ids into positions among the candidates.
    pos = {int(c): i for i, c in enumerate(candidates)}
    to_pos = np.vectorize(lambda c: pos[int(c)], otypes=[np.int64])
    y_seen, y_unseen = to_pos(dataset.labels[seen_idx]), to_pos(dataset.labels[unseen_idx])
    seen_pos, unseen_pos = to_pos(np.asarray(seen)), to_pos(np.asarray(unseen))
    if gamma is None:
        curve = ev.seen_unseen_curve(s_seen, y_seen, s_unseen, y_unseen, seen_pos, unseen_pos)
        gamma = curve.best().gamma
    return ev.evaluate(s_seen, y_seen, s_unseen, y_unseen, seen_pos, unseen_pos, gamma, gamma_source)


def _flip_points(method, dataset, features, index, seen, unseen, device):
    """Per image, the gamma above which it is predicted unseen: max seen score - max unseen score."""
    scores = method.score(encode_rows(method, features, index, device), dataset.class_attributes)
    return scores[:, seen].max(axis=1) - scores[:, unseen].max(axis=1)


def gamma_for_rejection_rate(method, dataset, features, index, seen, unseen, rate, device="cpu") -> float:
    """The gamma that sends ``rate`` of these seen images to unseen classes."""
    flips = _flip_points(method, dataset, features, index, np.asarray(seen), np.asarray(unseen), device)
    return gamma_at_rate(flips, rate)
