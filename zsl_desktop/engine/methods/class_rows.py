"""Class attribute rows as keys: which columns of a trained classifier a class matrix's rows are.

The app scores class matrices that start with the trained classes and may add rows the user drew; a row is
known when its raw float32 values equal a trained row exactly. Shared by ``gzsl_head.GZSLHead`` (GSMFlow) and
CE-GZSL/IPCE's scoring.
"""

from __future__ import annotations

import numpy as np


def row_keys(class_rows: np.ndarray) -> list[bytes]:
    return [np.ascontiguousarray(r, dtype=np.float32).tobytes() for r in np.asarray(class_rows)]


def row_table(known: list[bytes]) -> dict:
    """Row bytes -> the columns holding that row, in order."""
    table: dict[bytes, list[int]] = {}
    for i, k in enumerate(known):
        table.setdefault(k, []).append(i)
    return table


class KnownRows(dict):
    """``row_table`` of class rows that also keeps them as one block of bytes, for ``match_rows``' fast path:
    the app's class matrices start with the trained classes in order (a slider move adds one drawn row),
    and one comparison of bytes matches them all (~10x faster than a key per row at 200 classes)."""

    def __init__(self, class_rows: np.ndarray):
        rows = np.ascontiguousarray(class_rows, dtype=np.float32)
        super().__init__(row_table(row_keys(rows)))
        self.count, self.shape, self.block = len(rows), rows.shape[1:], rows.tobytes()

    def prefix(self, class_rows: np.ndarray) -> int:
        """How many leading rows of ``class_rows`` are the known rows in order: all of them or 0."""
        n = self.count
        if n == 0 or len(class_rows) < n or np.shape(class_rows)[1:] != self.shape:
            return 0
        return n if np.ascontiguousarray(class_rows[:n], dtype=np.float32).tobytes() == self.block else 0


def match_rows(known, class_rows: np.ndarray) -> np.ndarray:
    """Column of each row among the known class rows (exact match of the raw values), -1 for new rows.

    ``known``: row keys, a ``row_table`` or ``KnownRows``. Duplicated known rows are matched in
    order, so a matrix equal to the training one maps onto it column by column.
    """
    table = known if isinstance(known, dict) else row_table(known)
    class_rows = np.asarray(class_rows)
    out = np.full(len(class_rows), -1, dtype=np.int64)
    start = table.prefix(class_rows) if isinstance(table, KnownRows) else 0
    out[:start] = np.arange(start)
    used: dict[bytes, int] = {}
    for j, k in enumerate(row_keys(class_rows[start:]), start):
        cols = table.get(k)
        if cols:
            n = used.get(k, len(cols) if start else 0)  # after the whole known prefix, each key's columns are used
            out[j] = cols[min(n, len(cols) - 1)]
            used[k] = n + 1
    return out
