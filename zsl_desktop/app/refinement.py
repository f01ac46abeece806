"""Refine the edited class from images marked "is this" / "is not this" in the gallery.

Why its own QObject beside the controller: the marks belong to the class on the editor (another class
voids them), and each mark is one round trip (a request to the worker, the refined vector back into
the editor as one undo step); keeping that small state here leaves the controller its routing.
The rule itself is ``engine/refinement.py``; the worker runs it through ``session/refining.py``.

Each mark refines the user's own definition (the editor's values before the first mark, or after the
user's last own edit) with every mark so far, as the refinement study measures; removing a mark removes
its pull. The refined values replace the editor's as one undo step; the ranking then updates through the
ordinary live path (``draft_changed``).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from zsl_desktop.engine.session.results import RefinedClass, RefineRequest


class Refiner(QObject):
    """Marks in, refined sliders out. ``status`` carries what the user should read in the status bar."""

    status = Signal(str)

    def __init__(self, bridge, controller, gallery, editor, parent=None):
        super().__init__(parent)
        self.bridge, self.controller, self.gallery, self.editor = bridge, controller, gallery, editor
        self.marks: dict[int, int] = {}  # item -> +1 "is this" / -1 "is not this"
        self.pending = False  # a refinement was asked for and is not back yet (only the latest one comes back)
        self.start: np.ndarray | None = None  # the user's own definition the marks refine
        self._applied: np.ndarray | None = None  # the last refinement put on the editor
        gallery.mark_requested.connect(self.mark)
        gallery.marks_cleared.connect(self.clear)
        editor.class_loaded.connect(self.clear)
        bridge.refined.connect(self.on_refined)
        bridge.dataset_ready.connect(self.on_dataset_ready)
        bridge.short_failed.connect(self.on_failed)

    @Slot(int, int)
    def mark(self, item: int, mark: int) -> None:
        """Mark ``item`` (+1 / -1; 0 removes its mark) and refine the edited class from every mark."""
        c = self.controller
        if c.model is None or c.dataset is None:
            self.status.emit("Marking images refines a class with the model: train or load one first.")
            return
        draft = self.editor.draft()
        if draft is None or not draft.active:
            self.status.emit("Pick or draw a class in the class editor first: the marks refine that class.")
            return
        if mark:
            self.marks[item] = 1 if mark > 0 else -1
        else:
            self.marks.pop(item, None)
        self.gallery.set_marks(self.marks)
        positives = tuple(sorted(i for i, m in self.marks.items() if m > 0))
        negatives = tuple(sorted(i for i, m in self.marks.items() if m < 0))
        values = self.editor.values()
        if not positives and not negatives:  # the last mark removed: back to the user's own definition
            if self.start is not None and self._applied is not None and np.array_equal(values, self._applied):
                self.editor.apply_refinement(self.start, "remove the marks' refinement")
            self.start = self._applied = None
            self.pending = False
            return
        if self.start is None or self._applied is None or not np.array_equal(values, self._applied):
            self.start = values  # the user edited (or undid) since the last refinement: refine their values
        request = RefineRequest(
            c.class_set(),
            self.start,
            positives,
            negatives,
            c.store.scale,
            self.bridge.generation,
            gamma=c.predictions.gamma,
        )
        self.pending = True
        self.bridge.request_refine(request)

    @Slot(object)
    def on_refined(self, refined: RefinedClass) -> None:
        positives = tuple(sorted(i for i, m in self.marks.items() if m > 0))
        negatives = tuple(sorted(i for i, m in self.marks.items() if m < 0))
        if (refined.positives, refined.negatives) != (positives, negatives):
            return  # the marks changed meanwhile (a newer request is on its way) or were cleared
        self.pending = False
        self._applied = np.asarray(refined.values, np.float32)
        label = f"refine from {len(positives)} “is this” and {len(negatives)} “is not this”"
        if not self.editor.apply_refinement(refined.values, label):
            self.status.emit("The marks did not move the class (it already fits them as well as it can).")

    @Slot()
    def clear(self) -> None:
        """Forget every mark (the sliders keep their values; Ctrl+Z walks back through the refinements)."""
        self.marks = {}
        self.pending = False  # a refinement still on its way is for marks that no longer exist: dropped
        self.start = self._applied = None
        self.gallery.set_marks(self.marks)

    @Slot(str, str)
    def on_failed(self, kind: str, message: str) -> None:
        if kind == "refine":  # the controller reports the message
            self.pending = False

    @Slot(object)
    def on_dataset_ready(self, ready) -> None:
        self.marks = {}
        self.pending = False
        self.start = self._applied = None
