"""Scoring a method over feature-store rows: codes in memory-bounded chunks, ZSL/GZSL figures on index sets,
and the gamma that puts the final model at the operating point chosen on validation.

Used by the trainer (selection every epoch), the session (the active model's test figures) and the bench.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from zsl_desktop.engine import evaluation as ev
from zsl_desktop.engine.data.model import Dataset
from zsl_desktop.engine.methods.base import FeatureSource, Method
from zsl_desktop.engine.selection import gamma_at_rate


def encode_rows(method: Method, features: FeatureSource, index, device="cpu", chunk: int = 512,
                progress=None) -> np.ndarray:
    """Codes for many rows, in chunks so a 10k-image store never sits in memory as float32.

    Out of memory halves the chunk (down to one row) before giving up. A method that
    needs more than the feature rows (SGMA re-encodes part crops) encodes rows itself.
    ``progress(done, total)``, in rows, after each chunk.
    """
    if hasattr(method, "encode_rows"):  # SGMA: crops of the original images; never flip-averaged
        if progress is None:
            return method.encode_rows(features, index, device)
        return method.encode_rows(features, index, device, progress=progress)
    if features.tta and features.mirrored is not None:
        # Flip test-time averaging: the mean of the image's codes and its mirror's. For the dataset's
        # classes every method's logits are linear in its codes, so this is the mean of the two logits.
        index = np.asarray(index, np.int64)
        both = encode_rows(method, replace(features, tta=False), np.concatenate([index, features.mirrored_rows(index)]),
                           device, chunk, None if progress is None else (lambda d, t: progress(d // 2, t // 2)))
        return (both[:len(index)] + both[len(index):]) / 2
    from zsl_desktop.engine.features import is_out_of_memory

    index = np.asarray(index)
    out, i = [], 0
    while i < len(index):
        try:
            out.append(method.encode(features.rows(method.feature_kind, index[i:i + chunk], device)))
        except Exception as exc:  # noqa: BLE001 - only out-of-memory is retried
            if chunk == 1 or not is_out_of_memory(exc):
                raise
            chunk = max(1, chunk // 2)
            if str(device).startswith("cuda"):
                torch.cuda.empty_cache()
            continue
        i += chunk
        if progress is not None:
            progress(min(i, len(index)), len(index))
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def evaluate_on(method: Method, dataset: Dataset, features: FeatureSource, seen_idx, unseen_idx,
                seen, unseen, gamma=None, candidates=None, device="cpu", gamma_source="fixed"):
    """Score two index sets over ``candidates`` classes and evaluate; gamma None = best on this curve."""
    candidates = np.arange(dataset.num_classes) if candidates is None else np.asarray(candidates)
    ca = dataset.class_attributes[candidates]
    s_seen = method.score(encode_rows(method, features, seen_idx, device), ca)
    s_unseen = method.score(encode_rows(method, features, unseen_idx, device), ca)
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
