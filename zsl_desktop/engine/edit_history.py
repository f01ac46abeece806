"""Undo and redo for the class being edited in the class editor (apart from ``classes.py``, which keeps and
saves the finished classes: the history lives only while one class is open and is never written).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class _Edit:
    label: str
    before: np.ndarray
    after: np.ndarray
    index: int | None  # the attribute of a single-slider edit (merge key), None for bulk edits


class EditHistory:
    """Undo/redo for one class being edited.

    Consecutive edits of the same attribute merge into one step until
    ``seal()`` (a slider drag is one undo step, not hundreds).
    """

    def __init__(self, values, limit: int = 500):
        self._values = np.array(values, dtype=np.float32, copy=True)
        self._undo: list[_Edit] = []
        self._redo: list[_Edit] = []
        self._sealed = True
        self.limit = limit

    @property
    def values(self) -> np.ndarray:
        return self._values.copy()

    def value(self, index: int) -> float:
        return float(self._values[index])

    def set(self, index: int, value: float, label: str = "") -> bool:
        """Change one attribute; returns False when nothing changed."""
        new = np.float32(value)
        if self._values[index] == new:
            return False
        before = self._values.copy()
        self._values[index] = new
        last = self._undo[-1] if self._undo else None
        if not self._sealed and last is not None and last.index == index:
            self._undo[-1] = _Edit(last.label, last.before, self._values.copy(), index)
        else:
            self._push(_Edit(label or f"change attribute {index + 1}", before, self._values.copy(), index))
        self._sealed = False
        self._redo.clear()
        return True

    def set_all(self, values, label: str) -> bool:
        values = np.asarray(values, dtype=np.float32)
        if values.shape != self._values.shape:
            raise ValueError(f"expected {self._values.shape[0]} values, got {values.shape}")
        if np.array_equal(values, self._values):
            return False
        self._push(_Edit(label, self._values.copy(), values.copy(), None))
        self._values = values.copy()
        self._sealed = True
        self._redo.clear()
        return True

    def seal(self) -> None:
        self._sealed = True

    def _push(self, edit: _Edit) -> None:
        self._undo.append(edit)
        if len(self._undo) > self.limit:
            del self._undo[0]

    def undo(self) -> bool:
        if not self._undo:
            return False
        edit = self._undo.pop()
        self._values = edit.before.copy()
        self._redo.append(edit)
        self._sealed = True
        return True

    def redo(self) -> bool:
        if not self._redo:
            return False
        edit = self._redo.pop()
        self._values = edit.after.copy()
        self._undo.append(edit)
        self._sealed = True
        return True

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_text(self) -> str:
        return self._undo[-1].label if self._undo else ""

    @property
    def redo_text(self) -> str:
        return self._redo[-1].label if self._redo else ""

    def clear(self) -> None:
        self._undo.clear()
        self._redo.clear()
        self._sealed = True
