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
nearest training features (unit rows). The threshold is the (1 - false alarm)
quantile of the scores of held-out in-domain images: the training run's calibration
images (trainval images held out of the final model), never test images. Both travel
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
FALSE_ALARM = 0.05  # share of held-out in-domain images that the threshold calls out of domain
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
        sims = x[start:start + chunk] @ reference.T
        top = np.partition(sims, sims.shape[1] - k, axis=1)[:, -k:]
        out[start:start + chunk] = 1.0 - top.mean(axis=1)
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
        return {"score": SCORE_NAME, "k": int(self.k), "threshold": float(self.threshold),
                "false_alarm": float(self.false_alarm), "calibration_images": int(self.calibration_images)}

    @classmethod
    def from_checkpoint(cls, header: dict, state: dict) -> "DomainReference | None":
        info = header.get(HEADER_KEY)
        if not isinstance(info, dict) or STATE_KEY not in state or info.get("score") != SCORE_NAME:
            return None
        reference = unit_rows(torch.as_tensor(state[STATE_KEY]).float().numpy())
        return cls(reference, float(info["threshold"]), int(info.get("k", NEIGHBOURS)),
                   float(info.get("false_alarm", FALSE_ALARM)), int(info.get("calibration_images", 0)))


def fit_reference(train_pooled, calibration_pooled, false_alarm: float = FALSE_ALARM, k: int = NEIGHBOURS,
                  seed: int = 0) -> DomainReference:
    """The reference (training rows, at most MAX_REFERENCE) and the threshold on held-out in-domain rows."""
    reference = unit_rows(train_pooled)
    if len(reference) > MAX_REFERENCE:
        keep = np.sort(np.random.default_rng(seed).choice(len(reference), MAX_REFERENCE, replace=False))
        reference = reference[keep]
    held = knn_cosine_distance(reference, calibration_pooled, k)
    threshold = float(np.quantile(held, 1.0 - false_alarm)) if len(held) else float("inf")
    return DomainReference(reference, threshold, k, false_alarm, len(held))


def calibration_split(dataset, seed: int):
    """(training rows, held-out calibration rows) of trainval, as the trainer holds them out for gamma."""
    from zsl_desktop.engine.selection import hold_out_per_class
    from zsl_desktop.engine.training import CALIBRATION_FRACTION

    return hold_out_per_class(dataset.splits["trainval"], dataset.labels, int(seed) + 7,
                              fraction=CALIBRATION_FRACTION)


def reference_for_dataset(dataset, features, seed: int = 0) -> DomainReference:
    """The reference of a model trained on ``dataset``'s trainval (its calibration rows give the threshold)."""
    train, held = calibration_split(dataset, seed)
    pooled = features.rows("pooled", np.concatenate([train, held]))
    return fit_reference(pooled[:len(train)].numpy(), pooled[len(train):].numpy(), seed=int(seed))


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
    return float((ranks[len(inside):].sum() - len(outside) * (len(outside) + 1) / 2) / (len(inside) * len(outside)))
