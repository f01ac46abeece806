"""Each final model its own calibration images ("calibration_splits" = "each"): gamma read off more images.

Why: with one shared split the final models' gamma is an order statistic of ~74 flip points on the CUB subset, and
where it lands moves a run's H (read-out noise). When every final model keeps a different slice of each seen
class aside, each reads its own gamma at the chosen rate on its own images (scored by itself alone, which did not
train on them) and the run's gamma is their mean: K x the images for the same training-set size a model. On
validation (IPCE, five models, 9 folds) this halves the read-out sd (1.31 -> 0.68) and gains +0.43 fold H (7 up,
1 down), but does not narrow the seed spread, and end to end it did not raise test H: an option, off by default
(docs/history/ce_gzsl.md, session 12).

Model 0's slice is ``selection.hold_out_per_class``'s split exactly (the same permutation of each class), so model
0 trains on today's rows; model j takes the next slice of the same permutation, wrapping round (slices overlap
only when a class has fewer than K x its slice of images).
"""

from __future__ import annotations

import numpy as np


def model_calibration_splits(
    index, labels, seed: int, fraction: float, count: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(training rows, calibration rows) for each of ``count`` final models, as ``hold_out_per_class(index,
    labels, seed, fraction)`` for model 0 and the next slices of each class's permutation for the others."""
    index = np.asarray(index)
    rng = np.random.default_rng(seed + 1)  # hold_out_per_class's stream: model 0 is its split
    keep: list[list[int]] = [[] for _ in range(count)]
    held: list[list[int]] = [[] for _ in range(count)]
    for c in np.unique(labels[index]):
        rows = rng.permutation(index[labels[index] == c])
        n = int(round(len(rows) * fraction)) if len(rows) > 2 else 0
        for j in range(count):
            aside = np.zeros(len(rows), bool)
            aside[(j * n + np.arange(n)) % len(rows)] = True
            held[j].extend(rows[aside])
            keep[j].extend(rows[~aside])
    return [(np.sort(np.array(k, np.int64)), np.sort(np.array(h, np.int64))) for k, h in zip(keep, held)]
