"""The rows of "Predictions for every image (CSV)": each gallery item's top class at the current γ.

Why apart: the export reads the scores the controller keeps and the gallery's description of each item,
and writes nothing itself (``export.all_predictions_csv`` does).
"""

from __future__ import annotations

import numpy as np

from zsl_desktop.app.panels.predictions import softmax
from zsl_desktop.engine.evaluation import calibrate


def every_image_rows(all_scores, dataset, gallery, gamma: float) -> list[tuple]:
    """(image, truth, predicted, kind, probability, correct) per gallery item; [] without scores."""
    a, d = all_scores, dataset
    if a is None or d is None:
        return []
    calibrated = calibrate(a.scores, np.array([k != "seen" for k in a.class_kinds]), gamma)
    rows = []
    for item in range(len(calibrated)):
        probs = softmax(calibrated[item])
        best = int(np.argmax(calibrated[item]))
        g = gallery.describe(item)
        truth = g.truth if item < d.num_samples else ""
        rows.append(
            (
                g.path,
                truth,
                a.class_names[best],
                a.class_kinds[best],
                f"{probs[best]:.6f}",
                "" if not truth else int(a.class_names[best] == truth),
            )
        )
    return rows
