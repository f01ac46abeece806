"""The gallery's list model: numpy-filtered order, lazily requested thumbnails (its delegate: ``thumb_delegate``).

Why a custom model over numpy: filtering 10k items by class, split,
correctness and name, or ranking them by the edited class's score, is one
numpy expression; the model then exposes only the visible order. Thumbnails
are asked for when the view first paints an item and cached as QPixmaps.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPixmap

from zsl_desktop.app import theme
from zsl_desktop.app.widgets.overlay import rgb_to_qimage

ItemRole = Qt.UserRole + 1
KindRole = Qt.UserRole + 2
CorrectRole = Qt.UserRole + 3
RankRole = Qt.UserRole + 4
MarkRole = Qt.UserRole + 5  # +1 "is this", -1 "is not this" (for the edited class), None unmarked
# Everything the delegate paints, in one call: (thumbnail, kind, correct, mark, rank, name). Each data() call
# is a C++ -> Python crossing that must take the GIL back; while a worker thread holds it (encoding,
# an import) each crossing can wait up to Python's 5 ms switch interval, six per thumbnail before.
PaintRole = Qt.UserRole + 6
THUMB = 104
CACHE = 4000


class GalleryModel(QAbstractListModel):
    thumbnail_needed = Signal(int, str)
    # Every row's painted content changed (badges, rank chips, marks), not the rows themselves: the view repaints
    # what it shows. Not ``dataChanged`` over every row: QListView walks the whole range (100,000 rows: ~25 ms
    # of GUI CPU, ~70-95 ms on a busy machine, per call), and the live scores re-rank on every slider move.
    cells_changed = Signal()
    # The same rows in a new order (a ranked slider move): the view repaints, the gallery re-selects its item.
    # Not a model reset, which lays out every cell again: ~240-300 ms of GUI CPU per ranked move at 100,000 rows.
    reordered = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.names: list[str] = []
        self.class_names: list[str] = []
        self.paths: list[str] = []
        self.labels = np.zeros(0, np.int64)  # -1 for loose photos
        self.kinds: list[str] = []
        self._kinds = np.zeros(
            0, "<U6"
        )  # the same as an array, for the filters (built once per change, not per refresh)
        self.shown: np.ndarray | None = None  # item ids the filters keep, in item order (None: every item)
        self._listed: np.ndarray | None = None  # the same, always an array; None: the next refresh resets
        self._rows: np.ndarray | None = None  # item -> its row in ``order`` (-1: filtered out), built on demand
        self.num_dataset = 0
        self.predicted: np.ndarray | None = None
        self.rank_scores: np.ndarray | None = None
        self.marks: dict[int, int] = {}  # item -> +1 / -1: images marked for the edited class
        self.order = np.zeros(0, np.int64)
        self._cache: OrderedDict[int, QPixmap] = OrderedDict()
        self._requested: set[int] = set()
        self._placeholder = self._make_placeholder()
        self.token = 0  # bumped per dataset: thumbnails still in flight for the previous one are ignored
        self._filters = {"class": None, "split": "all", "result": "all", "text": "", "rank": False}

    @staticmethod
    def _make_placeholder() -> QPixmap:
        pm = QPixmap(THUMB, THUMB)
        pm.fill(QColor(theme.BASE))
        return pm

    # -- content ---------------------------------------------------------------------------------
    def set_dataset(self, dataset) -> None:
        self.class_names = list(dataset.classes)
        self.labels = np.asarray(dataset.labels, dtype=np.int64).copy()
        self._kinds = np.where(np.isin(self.labels, dataset.unseen_classes), "unseen", "seen").astype("<U6")
        self.kinds = self._kinds.tolist()
        if dataset.has_images:
            self.paths, self.names = image_paths_and_names(dataset.image_root, dataset.image_paths)
        else:
            self.paths = [""] * dataset.num_samples
            self.names = [f"#{i}" for i in range(dataset.num_samples)]
        self.num_dataset = dataset.num_samples
        self.token += 1
        self.predicted = None
        self.rank_scores = None
        self.marks = {}
        self._cache.clear()
        self._requested.clear()
        self._listed = None  # new items, even if as many: a reset
        self.refresh()

    def clear(self) -> None:
        """No dataset: nothing listed."""
        self.beginResetModel()
        self.order, self.shown, self._rows, self._listed = np.zeros(0, np.int64), None, None, None
        self.endResetModel()

    def add_loose(self, items) -> None:
        for item in items:
            self.paths.append(item.path)
            self.names.append(Path(item.name).stem)
            self.kinds.append("loose")
        self._kinds = np.array(self.kinds, "<U6")
        self.labels = np.concatenate([self.labels, np.full(len(items), -1, np.int64)])
        if self.predicted is not None:
            self.predicted = np.concatenate([self.predicted, np.full(len(items), -1, np.int64)])
        self.refresh()

    @property
    def count(self) -> int:
        return len(self.paths)

    def set_predictions(self, predicted: np.ndarray | None) -> None:
        if predicted is not None:
            predicted = np.asarray(predicted, np.int64)
            fitted = np.full(self.count, -1, np.int64)  # photos added meanwhile have no prediction yet
            k = min(len(predicted), self.count)
            fitted[:k] = predicted[:k]
            predicted = fitted
        self.predicted = predicted
        if self._filters["result"] != "all":
            self.refresh()  # the list shows only right or only wrong predictions: its order changes
        else:
            # The same rows in the same order: repaint their badges. Not a reset, which laid out every row
            # again and scrolled the view back to the selected image: every image's predictions arrive
            # a second or two after opening, when a user may already be scrolling (100,000 images: a
            # ~200 ms frame, then the gallery jumped back to the top).
            self.cells_changed.emit()

    def set_rank_scores(self, scores: np.ndarray | None) -> None:
        if scores is not None:
            scores = np.asarray(scores, np.float32)
            fitted = np.full(self.count, -np.inf, np.float32)
            k = min(len(scores), self.count)
            fitted[:k] = scores[:k]
            scores = fitted
        self.rank_scores = scores
        if self._filters["rank"]:
            self.refresh()
        else:
            self.cells_changed.emit()

    def set_marks(self, marks: dict) -> None:
        """Which items are marked "is this" (+1) / "is not this" (-1) for the edited class."""
        self.marks = dict(marks)
        self.cells_changed.emit()

    def set_filter(self, **kwargs) -> None:
        self._filters.update(kwargs)
        self.refresh()

    def filters(self) -> dict:
        return dict(self._filters)

    def correct(self) -> np.ndarray | None:
        if self.predicted is None:
            return None
        return (self.predicted == self.labels) & (self.labels >= 0)

    def refresh(self) -> None:
        """Recompute the visible order from the filters (one numpy pass)."""
        f = self._filters
        n = self.count
        keep = np.ones(n, bool)
        kinds = self._kinds
        if f["class"] is not None:
            keep &= self.labels == int(f["class"])
        if f["split"] in ("seen", "unseen", "loose"):
            keep &= kinds == f["split"]
        if f["result"] != "all" and self.predicted is not None:
            correct = self.correct()
            keep &= (self.labels >= 0) & (correct if f["result"] == "correct" else ~correct)
        text = f["text"].strip().casefold()
        if text:
            names = [f"{self.names[i]} {self.class_name(i)}".casefold() for i in range(n)]
            keep &= np.array([text in s for s in names], bool)
        listed = np.flatnonzero(keep)
        self.shown = None if len(listed) == n else listed
        order = listed
        if f["rank"] and self.rank_scores is not None and len(self.rank_scores) == n:
            order = order[np.argsort(-self.rank_scores[order], kind="stable")]
        same_rows = self._listed is not None and np.array_equal(listed, self._listed)
        self._listed = listed
        if same_rows:  # only the order changed (``reordered`` says why no reset)
            self.order, self._rows = order, None
            self.reordered.emit()
            return
        self.beginResetModel()
        self.order = order
        self._rows = None
        self.endResetModel()

    def class_name(self, item: int) -> str:
        label = int(self.labels[item]) if item < len(self.labels) else -1
        return self.class_names[label] if label >= 0 else "your photo"

    def row_of(self, item: int) -> int:
        """The row showing ``item`` (-1: filtered out); a lookup table built once per order, not a scan per call
        (thumbnails arrive ~30 a second, each asked for its row: 100,000 comparisons each before)."""
        if self._rows is None:
            rows = np.full(self.count, -1, np.int64)
            rows[self.order] = np.arange(len(self.order))
            self._rows = rows
        return int(self._rows[item]) if 0 <= item < len(self._rows) else -1

    # -- thumbnails --------------------------------------------------------------------------------
    def set_thumbnails(self, batch) -> None:
        rows = []
        for key, rgb in batch:
            token, item = key if isinstance(key, tuple) else (self.token, key)
            if token != self.token or not 0 <= item < self.count:
                continue
            if rgb is None:
                pm = self._placeholder
            else:
                pm = QPixmap.fromImage(fit_thumbnail(rgb_to_qimage(rgb)))
            self._cache[item] = pm
            self._cache.move_to_end(item)
            if len(self._cache) > CACHE:
                old, _ = self._cache.popitem(last=False)
                self._requested.discard(old)
            r = self.row_of(item)
            if r >= 0:
                rows.append(r)
        if rows:
            self.dataChanged.emit(self.index(min(rows)), self.index(max(rows)), [Qt.DecorationRole])

    def thumbnail(self, item: int) -> QPixmap:
        pm = self._cache.get(item)
        if pm is not None:
            return pm
        if item not in self._requested and self.paths[item]:
            self._requested.add(item)
            self.thumbnail_needed.emit(item, self.paths[item])
        return self._placeholder

    # -- Qt model --------------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | None = None) -> int:
        return 0 if parent is not None and parent.isValid() else len(self.order)

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole):
        if not index.isValid() or index.row() >= len(self.order):
            return None
        item = int(self.order[index.row()])
        if role == Qt.DisplayRole:
            return self.names[item]
        if role == Qt.DecorationRole:
            return self.thumbnail(item)
        if role == Qt.ToolTipRole:
            tip = f"{self.names[item]}\n{theme.display_name(self.class_name(item))} ({self.kinds[item]})"
            if self.predicted is not None and self.predicted[item] >= 0:
                tip += f"\npredicted: {theme.display_name(self.class_names[int(self.predicted[item])])}"
            if item in self.marks:
                tip += "\nmarked: " + ("is this" if self.marks[item] > 0 else "is not this") + " (the edited class)"
            return tip
        if role == ItemRole:
            return item
        if role == KindRole:
            return self.kinds[item]
        if role == CorrectRole:
            if self.predicted is None or self.labels[item] < 0:
                return None
            return bool(self.predicted[item] == self.labels[item])
        if role == MarkRole:
            return self.marks.get(item)
        if role == RankRole:
            return self._rank(item)
        if role == PaintRole:
            correct = None
            if self.predicted is not None and self.labels[item] >= 0:
                correct = bool(self.predicted[item] == self.labels[item])
            return (
                self.thumbnail(item),
                self.kinds[item],
                correct,
                self.marks.get(item),
                self._rank(item),
                self.names[item],
            )
        return None

    def _rank(self, item: int):
        if self.rank_scores is None or item >= len(self.rank_scores):
            return None
        score = float(self.rank_scores[item])
        return score if np.isfinite(score) else None


def with_native_rows(model: GalleryModel, parent: QObject | None = None) -> QSortFilterProxyModel:
    """``model`` seen through a pass-through proxy, whose row count and indexes are C++: what the view reads.

    Why: ``QAbstractListModel.index()`` asks ``rowCount()`` for every index it makes, and ours is Python,
    so each one takes the GIL from whichever worker holds it. Laying out 100,000 cells (the view's batched
    layout after every reset, the opening's included) asked it 100,000 times: 850-5,700 times a frame for
    the first ~1.6 s of scrolling 100,000 images, with 8.6 ms of GUI CPU a frame against 4.0 once the layout
    was done (busy 2-core machine). The proxy maps the rows once per reset, in C++; the rows, their order
    and every role are the model's (no sorting, no filtering: a row of the proxy is the same row of ``model``).
    """
    proxy = QSortFilterProxyModel(parent)
    proxy.setDynamicSortFilter(False)
    proxy.setSourceModel(model)
    return proxy


def image_paths_and_names(root, relative) -> tuple[list[str], list[str]]:
    """Each image's full path and its name (the file name without its extension), as strings.

    String operations, not a ``Path`` (nor ``os.path``) per image: with 100,000 images the ``Path`` objects
    took ~0.7 s of the GUI thread between the dataset opening and the first predictions (py-spy, busy
    machine); these take ~70 ms. The same strings as ``str(root / p)`` and ``Path(p).stem`` for the
    relative paths datasets list.
    """
    prefix = os.path.join(str(root), "")
    paths = [p if p.startswith("/") else prefix + p for p in relative]
    return paths, [file_stem(p) for p in relative]


def file_stem(path: str) -> str:
    """``Path(path).stem`` by string operations: the last part without its last suffix."""
    name = path.rpartition("/")[2]
    dot = name.rfind(".")
    return name[:dot] if 0 < dot < len(name) - 1 else name


def fit_thumbnail(image: QImage) -> QImage:
    """Scaled once to fit the THUMB box: the delegate then blits it as it is on every paint (scaling a
    pixmap while painting took a quarter of the gallery's frame time when scrolling 100,000 images)."""
    if image.width() <= THUMB and image.height() <= THUMB:
        return image
    return image.scaled(THUMB, THUMB, Qt.KeepAspectRatio, Qt.SmoothTransformation)
