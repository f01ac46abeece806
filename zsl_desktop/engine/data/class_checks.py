"""What the methods need from a folder dataset's class attributes, checked when classes.csv is read.

Every method compares images with a class through its attribute row, made non-negative and scaled to unit
length (``Method.prepare_class_attributes``). So a row with no value above 0 describes nothing (every image
scores 0 against it), and two rows that differ only in scale are the same class to every method. A user who
wrote such rows in a spreadsheet gets told here, with the line, instead of a model that silently cannot
find the class.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .model import DatasetError

SAME_DIRECTION = 1.0 - 1e-6  # cosine at or above which two attribute rows are the same class to the methods


def check_rows_describe_classes(path: Path, names, lines, matrix: np.ndarray) -> None:
    """DatasetError for the first class whose attribute row has no value above 0."""
    empty = np.flatnonzero(~(np.asarray(matrix) > 0).any(axis=1))
    if len(empty):
        k = int(empty[0])
        raise DatasetError(
            path,
            f"class {names[k]!r} has no attribute value above 0: the methods know a class only by its "
            "attributes, so at least one must be positive",
            line=lines[k],
            column="class",
        )


def indistinct_class_notes(names, matrix: np.ndarray, limit: int = 5) -> list[str]:
    """A note naming the pairs of classes whose attribute rows are equal up to scale (none: [])."""
    a = np.clip(np.asarray(matrix, np.float64), 0.0, None)
    unit = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    cosine = unit @ unit.T
    pairs = [(i, j) for i, j in zip(*np.nonzero(np.triu(cosine >= SAME_DIRECTION, k=1)))]
    if not pairs:
        return []
    shown = ", ".join(f"{names[i]!r} and {names[j]!r}" for i, j in pairs[:limit])
    more = f" and {len(pairs) - limit} more pairs" if len(pairs) > limit else ""
    return [f"classes with the same attributes (up to scale), which no method can tell apart: {shown}{more}"]
