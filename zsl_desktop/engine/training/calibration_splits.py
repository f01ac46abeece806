"""Each final model its own calibration images ("calibration_splits" = "each"): gamma read off more images.

Why: with one shared split the final models' gamma is an order statistic of a few flip points per seen class
(~74 images on the CUB subset), and where it lands moves a run's H. When every final model keeps a different
slice of each seen class aside, each reads its own gamma at the chosen rate on its own images (scored by itself
alone, which did not train on them) and the run's gamma is their mean: K x the images for the same training-set
size a model. An option, off by default: on validation it halves the read-out noise but does not narrow the
seed spread (figures: ``docs/history/ce_gzsl.md``, session 12).

Model 0's slice is ``selection.hold_out_per_class``'s split exactly, so model 0 trains on the shared recipe's rows.
"""

from __future__ import annotations

import numpy as np

from zsl_desktop.engine.selection import hold_out_slices


def model_calibration_splits(
    index, labels, seed: int, fraction: float, count: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(training rows, calibration rows) for each of ``count`` final models (``selection.hold_out_slices``)."""
    return hold_out_slices(index, labels, seed, fraction, count)
