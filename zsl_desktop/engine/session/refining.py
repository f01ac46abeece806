"""The session's side of "refine a class from a few examples": codes of the marked items, then ``refinement``.

Why a module of its own: the rule lives in ``engine/refinement.py`` (plain numpy, any method); this
only turns a request from the app (item ids, the class set, γ) into its arguments, with the active
model's codes, so the facade stays one line longer rather than one rule longer.
"""

from __future__ import annotations

import numpy as np

from zsl_desktop.engine.ranking import calibration
from zsl_desktop.engine.refinement import refine
from zsl_desktop.engine.session.results import RefinedClass, RefineRequest


def refine_draft(session, request: RefineRequest) -> RefinedClass:
    """Refine the request's draft with the active model (``session.active()``); items out of range are ignored."""
    classes = request.classes
    if classes.draft_column is None:
        raise ValueError("no class is being edited: pick or draw a class in the class editor first")
    method = session.active().method
    codes = session.all_codes()
    count = len(codes)
    positives = [i for i in request.positives if 0 <= i < count]
    negatives = [i for i in request.negatives if 0 <= i < count]
    matrix = np.array(classes.matrix, np.float32)
    matrix[classes.draft_column] = np.asarray(request.start, np.float32)
    boost = calibration(classes.kinds, request.gamma)

    def score(some_codes, rows):
        return np.asarray(method.score(some_codes, np.asarray(rows, np.float32)), np.float64)

    refined = refine(
        score, codes[positives], codes[negatives], matrix, classes.draft_column, boost, request.value_range
    )
    return RefinedClass(
        refined.values,
        np.asarray(request.start, np.float32),
        tuple(request.positives),
        tuple(request.negatives),
        refined.before,
        refined.after,
        request.generation,
    )
