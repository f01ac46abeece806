"""How far a photo is from what a model was trained on, and the threshold above which it is "out of domain".

Why a feature-space distance and not the model's own logits: every model here is
trained on backbone features of its training images, and a photo whose features lie
far from all of them (a real photo for a model of drawings, a cat for a model of
birds) is one the model has no evidence about, whatever its logits say. Measured on
the dev data (``docs/out_of_domain/measure.py``; the README gives the table): the
k-nearest-neighbour cosine distance of the pooled backbone feature to the training
features separates real CUB photos from the procedural birds and non-bird photos from
birds better than the energy or the top softmax probability of the logits, and it is
the same function for every method.

The score: 1 - mean cosine similarity of the photo's pooled feature to its ``k``
nearest training features (unit rows). The threshold is the 99% quantile of the
trainval images' distances to the training images of the other classes: each stands
in for a photo of a species the model has no photos of, which a zero-shot model must
accept (held-out images of the training species lie closer to the training images than
such photos do). Never test images. Both travel
with the model (``state`` / ``header``: ``ood.reference`` tensor, ``out_of_domain``
header field); a model without them gets its reference from its dataset's training
features when it is loaded (``reference_for_dataset``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

SCORE_NAME = "knn-cosine"
NEIGHBOURS = 10
FALSE_ALARM = 0.01  # share of the leave-class-out trainval distances above the threshold
MAX_REFERENCE = 2048  # training rows kept (a seeded sample beyond that): bounded size and cost
STATE_KEY = "ood.reference"
HEADER_KEY = "out_of_domain"
WARNING = "This model does not know this kind of image"


def unit_rows(features) -> np.ndarray:
    x = np.asarray(features, np.float32).reshape(len(features), -1)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-8)


def knn_cosine_distance(reference: np.ndarray, features, k: int = NEIGHBOURS, chunk: int = 1024) -> np.ndarray:
    """[N] 1 - mean cosine similarity to the ``k`` most similar rows of ``reference`` (unit rows)."""
    x = unit_rows(features)
    k = max(1, min(int(k), len(reference)))
    out = np.empty(len(x), np.float32)
    for start in range(0, len(x), chunk):
        sims = x[start : start + chunk] @ reference.T
        top = np.partition(sims, sims.shape[1] - k, axis=1)[:, -k:]
        out[start : start + chunk] = 1.0 - top.mean(axis=1)
    return out


@dataclass(frozen=True)
class DomainReference:
    """The training features a model knows (unit rows) and the threshold of its out-of-domain score."""

    reference: np.ndarray  # [M, D] float32 unit rows
    threshold: float
    k: int = NEIGHBOURS
    false_alarm: float = FALSE_ALARM
    calibration_images: int = 0

    def score(self, pooled) -> np.ndarray:
        return knn_cosine_distance(self.reference, pooled, self.k)

    def is_out(self, pooled) -> np.ndarray:
        return self.score(pooled) > self.threshold

    # -- persistence: a tensor in the state, the numbers in the header ----------------------------
    def state(self) -> dict:
        return {STATE_KEY: torch.from_numpy(self.reference.astype(np.float16))}

    def header(self) -> dict:
        return {
            "score": SCORE_NAME,
            "k": int(self.k),
            "threshold": float(self.threshold),
            "false_alarm": float(self.false_alarm),
            "calibration_images": int(self.calibration_images),
        }

    @classmethod
    def from_checkpoint(cls, header: dict, state: dict) -> "DomainReference | None":
        info = header.get(HEADER_KEY)
        if not isinstance(info, dict) or STATE_KEY not in state or info.get("score") != SCORE_NAME:
            return None
        reference = unit_rows(torch.as_tensor(state[STATE_KEY]).float().numpy())
        return cls(
            reference,
            float(info["threshold"]),
            int(info.get("k", NEIGHBOURS)),
            float(info.get("false_alarm", FALSE_ALARM)),
            int(info.get("calibration_images", 0)),
        )


def leave_class_out_distances(reference, reference_labels, features, labels, k: int = NEIGHBOURS) -> np.ndarray:
    """Each row's distance to the reference rows of the OTHER classes: what a photo of a species the model
    has no photos of scores (the zero-shot case), measured on images whose species it does have."""
    reference_labels, labels = np.asarray(reference_labels), np.asarray(labels)
    features = np.asarray(features, np.float32)
    out = np.empty(len(features), np.float32)
    for c in np.unique(labels):
        others = reference_labels != c
        rows = labels == c
        out[rows] = knn_cosine_distance(reference[others], features[rows], k) if others.any() else np.inf
    return out


def fit_reference(
    train_pooled,
    train_labels,
    calibration_pooled=None,
    calibration_labels=None,
    false_alarm: float = FALSE_ALARM,
    k: int = NEIGHBOURS,
    seed: int = 0,
) -> DomainReference:
    """The reference (training rows, at most MAX_REFERENCE) and its threshold.

    The threshold is the (1 - ``false_alarm``) quantile of the leave-own-class-out distances of the
    training and calibration rows: every one stands in for a photo of a species without training
    photos, which a zero-shot model must not call out of domain. No test image is used.
    """
    reference, labels = unit_rows(train_pooled), np.asarray(train_labels)
    if len(reference) > MAX_REFERENCE:
        keep = np.sort(np.random.default_rng(seed).choice(len(reference), MAX_REFERENCE, replace=False))
        reference, labels = reference[keep], labels[keep]
    queries, query_labels = np.asarray(train_pooled, np.float32), np.asarray(train_labels)
    if calibration_pooled is not None and len(calibration_pooled):
        queries = np.concatenate([queries, np.asarray(calibration_pooled, np.float32)])
        query_labels = np.concatenate([query_labels, np.asarray(calibration_labels)])
    held = leave_class_out_distances(reference, labels, queries, query_labels, k)
    held = held[np.isfinite(held)]
    threshold = float(np.quantile(held, 1.0 - false_alarm)) if len(held) else float("inf")
    return DomainReference(reference, threshold, k, false_alarm, len(held))


def calibration_split(dataset, seed: int):
    """(training rows, held-out calibration rows) of trainval, as the trainer holds them out for gamma."""
    from zsl_desktop.engine.selection import hold_out_per_class
    from zsl_desktop.engine.training import CALIBRATION_FRACTION

    return hold_out_per_class(dataset.splits["trainval"], dataset.labels, int(seed) + 7, fraction=CALIBRATION_FRACTION)


def reference_for_dataset(dataset, features, seed: int = 0) -> DomainReference:
    """The reference of a model trained on ``dataset``'s trainval (its calibration rows give the threshold)."""
    train, held = calibration_split(dataset, seed)
    pooled = features.rows("pooled", np.concatenate([train, held])).numpy()
    return fit_reference(
        pooled[: len(train)], dataset.labels[train], pooled[len(train) :], dataset.labels[held], seed=int(seed)
    )


def out_of_domain_score(reference: DomainReference, pooled) -> np.ndarray:
    """[N] out-of-domain scores of pooled backbone features; above ``reference.threshold``: out of domain."""
    return reference.score(pooled)


def auroc(inside, outside) -> float:
    """Area under the ROC curve of a score meant to be higher ``outside`` (ties count half)."""
    inside, outside = np.asarray(inside, np.float64), np.asarray(outside, np.float64)
    if not len(inside) or not len(outside):
        return float("nan")
    both = np.concatenate([inside, outside])
    order = both.argsort(kind="mergesort")
    ranks = np.empty(len(both), np.float64)
    ranks[order] = np.arange(1, len(both) + 1)
    for value in np.unique(both):  # average ranks of ties
        same = both == value
        if same.sum() > 1:
            ranks[same] = ranks[same].mean()
    return float((ranks[len(inside) :].sum() - len(outside) * (len(outside) + 1) / 2) / (len(inside) * len(outside)))
