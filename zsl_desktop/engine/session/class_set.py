"""The class set a live request scores against: dataset classes, saved user classes, and the draft.

Why here: the rule "the draft replaces the class it edits, else comes last"
is the same for the predictions, the gallery ranking and the benchmark, and
it is plain numpy. So is the rule that a user class with no attribute information (every value the same:
``user_class.has_attribute_information``) is in no class set: scored, such a row took nearly every photo
it was unlike the training images (docs/history/degenerate-classes.md).
"""

from __future__ import annotations

import numpy as np

from zsl_desktop.engine.data.model import Dataset
from zsl_desktop.engine.session.results import ClassSet
from zsl_desktop.engine.user_class import has_attribute_information


def saved_classes(dataset: Dataset, user_names, user_matrix: np.ndarray) -> ClassSet:
    """Dataset classes (seen or unseen) then the user's saved classes that carry attribute information."""
    unseen = set(int(c) for c in dataset.unseen_classes)
    kinds = ["unseen" if i in unseen else "seen" for i in range(dataset.num_classes)]
    user_names, user_matrix = informative_classes(user_names, user_matrix, dataset.num_attributes)
    matrix = np.concatenate([dataset.class_attributes, user_matrix]).astype(np.float32)
    return ClassSet(tuple(dataset.classes) + tuple(user_names), tuple(kinds) + ("user",) * len(user_names), matrix)


def informative_classes(names, matrix, num_attributes: int) -> tuple[tuple, np.ndarray]:
    """(names, [U, A] rows) of the user classes that have attribute information, in their order."""
    rows = np.asarray(matrix, np.float32).reshape(-1, num_attributes)
    keep = [i for i, row in enumerate(rows) if has_attribute_information(row)]
    return tuple(names[i] for i in keep), rows[keep]


def with_draft(classes: ClassSet, name: str, values: np.ndarray, replaces: str | None, dirty: bool) -> ClassSet:
    """``classes`` plus the draft: in place of the class it edits (``replaces``), else appended.

    A draft with no attribute information is not scored: ``classes`` without it (and without the class it
    edits, whose values it stands for), ``draft_column`` None."""
    names, kinds, matrix = list(classes.names), list(classes.kinds), classes.matrix
    if not has_attribute_information(values):
        if replaces is None or replaces not in names:
            return classes
        keep = [i for i, n in enumerate(names) if n != replaces]
        return ClassSet(tuple(names[i] for i in keep), tuple(kinds[i] for i in keep), matrix[keep])
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
