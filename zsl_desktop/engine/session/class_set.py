"""The class set a live request scores against: dataset classes, saved user classes, and the draft.

Why here: the rule "the draft replaces the class it edits, else comes last"
is the same for the predictions, the gallery ranking and the benchmark, and
it is plain numpy.
"""

from __future__ import annotations

import numpy as np

from zsl_desktop.engine.data.model import Dataset
from zsl_desktop.engine.session.results import ClassSet


def saved_classes(dataset: Dataset, user_names, user_matrix: np.ndarray) -> ClassSet:
    """Dataset classes (seen or unseen) then the user's saved classes."""
    unseen = set(int(c) for c in dataset.unseen_classes)
    kinds = ["unseen" if i in unseen else "seen" for i in range(dataset.num_classes)]
    matrix = np.concatenate([dataset.class_attributes, user_matrix]).astype(np.float32)
    return ClassSet(tuple(dataset.classes) + tuple(user_names), tuple(kinds) + ("user",) * len(user_names), matrix)


def with_draft(classes: ClassSet, name: str, values: np.ndarray, replaces: str | None, dirty: bool) -> ClassSet:
    """``classes`` plus the draft: in place of the class it edits (``replaces``), else appended."""
    names, kinds, matrix = list(classes.names), list(classes.kinds), classes.matrix
    if replaces is not None and replaces in names:
        column = names.index(replaces)
        names[column] = name
        kinds[column] = "draft" if dirty else "user"
        matrix = matrix.copy()
        matrix[column] = values
    else:
        names.append(name)
        kinds.append("draft")
        matrix = np.concatenate([matrix, np.asarray(values, np.float32)[None]])
        column = len(names) - 1
    return ClassSet(tuple(names), tuple(kinds), matrix, column)
