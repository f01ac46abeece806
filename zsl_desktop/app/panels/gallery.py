"""Gallery: every image of the dataset (and the user's own photos) as lazily loaded thumbnails.

Filters on top (class, seen/unseen/your photos, correct/wrong, name), the
grid below; "rank by edited class" sorts it live by the class on the editor.
Thumbnails are decoded on the bridge's thumbnail thread (see ``thumbnails``).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from zsl_desktop.app import theme
from zsl_desktop.app.widgets.gallery_view import GalleryView
from zsl_desktop.app.widgets.thumb_delegate import ThumbDelegate
from zsl_desktop.app.widgets.thumbnails import THUMB, GalleryModel, ItemRole, with_native_rows


@dataclass(frozen=True)
class GalleryItem:
    name: str
    truth: str  # the class name, "your photo" for a loose photo
    kind: str  # "seen" | "unseen" | "loose"
    path: str


class GalleryPanel(QWidget):
    """Filters on top, the thumbnail grid below. Emits ``item_selected(item)``."""

    item_selected = Signal(int)
    rank_toggled = Signal(bool)
    thumbnail_needed = Signal(object, str)  # key (this dataset's token, item), path
    mark_requested = Signal(int, int)  # item, +1 "is this" / -1 "is not this" / 0 unmark (for the edited class)
    marks_cleared = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.model = GalleryModel(self)
        self._make_controls()
        self._make_view()
        self._lay_out()
        self._connect_signals()
        self._selected: int | None = None
        self.set_dataset(None)

    def _make_controls(self) -> None:
        """The search, the three filters, ranking and the marks' buttons."""
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search images or classes…")
        self.search.setClearButtonEnabled(True)
        self.class_filter = QComboBox(self)
        for combo in (self.class_filter,):
            combo.setMinimumContentsLength(6)
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.split_filter = QComboBox(self)
        for text, key in (
            ("All images", "all"),
            ("Seen classes", "seen"),
            ("Unseen classes", "unseen"),
            ("Your photos", "loose"),
        ):
            self.split_filter.addItem(text, key)
        self.result_filter = QComboBox(self)
        for text, key in (("Any result", "all"), ("Correct", "correct"), ("Wrong", "wrong")):
            self.result_filter.addItem(text, key)
        self.result_filter.setEnabled(False)
        for combo in (self.split_filter, self.result_filter):
            combo.setMinimumContentsLength(6)
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.result_filter.setToolTip("Needs a model: train one or load a checkpoint")
        self.rank_button = QToolButton(self)
        self.rank_button.setText("Rank by edited class")
        self.rank_button.setCheckable(True)
        self.rank_button.setToolTip(
            "Sort the thumbnails by their score for the class being edited; updates live while you move the sliders"
        )
        self.count_label = QLabel("", self)
        self.count_label.setObjectName("hint")
        self.is_this_button = QToolButton(self)
        self.is_this_button.setText("✓ Is this")
        self.is_this_button.setToolTip(
            "The selected image shows the class being edited: the class moves towards it (Ctrl+Z undoes)"
        )
        self.is_not_button = QToolButton(self)
        self.is_not_button.setText("✗ Is not this")
        self.is_not_button.setToolTip("The selected image does not show the class being edited: the class moves away")
        self.clear_marks_button = QToolButton(self)
        self.clear_marks_button.setText("Clear marks")
        self.clear_marks_button.setToolTip("Forget every image marked for the edited class (the sliders stay)")
        self.clear_marks_button.setEnabled(False)

    def _make_view(self) -> None:
        """The thumbnails' view over the model (rows kept native) and the empty-state hint."""
        self.view = GalleryView(self)  # scrolling repaints only the strip that comes into view
        self.view.setViewMode(GalleryView.IconMode)
        self.view.setResizeMode(GalleryView.Adjust)
        self.view.setMovement(GalleryView.Static)
        self.view.setUniformItemSizes(True)
        self.view.setLayoutMode(GalleryView.Batched)
        self.view.setBatchSize(400)
        self.view.setSpacing(0)
        self.view.setSelectionMode(QAbstractItemView.SingleSelection)
        self.view.setMouseTracking(True)
        self.view.setVerticalScrollMode(QAbstractItemView.ScrollPerPixel)
        self.view.setAutoScroll(False)  # re-selecting after a live re-rank must not jump the view
        self.delegate = ThumbDelegate(self.view)
        self.view.setItemDelegate(self.delegate)
        self.view_model = with_native_rows(self.model, self)  # the view's indexes: row r of it is row r of the model
        self.view.setModel(self.view_model)
        self.view.viewport().installEventFilter(self)
        self.view.setContextMenuPolicy(Qt.CustomContextMenu)
        self.empty = QLabel("", self)
        self.empty.setObjectName("empty")
        self.empty.setAlignment(Qt.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.hide()

    def _lay_out(self) -> None:
        row1 = QHBoxLayout()
        row1.addWidget(self.search, 1)
        row1.addWidget(self.rank_button)
        row2 = QHBoxLayout()
        row2.addWidget(self.class_filter, 2)
        row2.addWidget(self.split_filter, 1)
        row2.addWidget(self.result_filter, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(6)
        layout.addLayout(row1)
        layout.addLayout(row2)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.empty, 1)
        marks = QHBoxLayout()
        marks.addWidget(self.is_this_button)
        marks.addWidget(self.is_not_button)
        marks.addWidget(self.clear_marks_button)
        marks.addStretch(1)
        layout.addLayout(marks)
        layout.addWidget(self.count_label)

    def _connect_signals(self) -> None:
        self.search.textChanged.connect(self._on_text)
        self.class_filter.currentIndexChanged.connect(self._on_filters)
        self.split_filter.currentIndexChanged.connect(self._on_filters)
        self.result_filter.currentIndexChanged.connect(self._on_filters)
        self.rank_button.toggled.connect(self._on_rank)
        self.is_this_button.clicked.connect(self._mark_selected_is_this)
        self.is_not_button.clicked.connect(self._mark_selected_is_not)
        self.clear_marks_button.clicked.connect(self.marks_cleared)
        self.view.customContextMenuRequested.connect(self._on_context_menu)
        self.view.selectionModel().currentChanged.connect(self._on_current)
        self.model.modelReset.connect(self._after_reset)
        self.model.reordered.connect(self._after_reorder)
        self.model.cells_changed.connect(self.view.viewport().update)
        self.model.thumbnail_needed.connect(self._on_thumbnail_needed)

    def eventFilter(self, watched, event) -> bool:
        from PySide6.QtCore import QEvent

        if watched is self.view.viewport() and event.type() == QEvent.Resize:
            self._fit_columns(event.size().width())
        return super().eventFilter(watched, event)

    def _fit_columns(self, width: int) -> None:
        """Cells share the full width (no ragged gap on the right), as many columns as fit."""
        base = THUMB + 10
        usable = width - 6  # QListView wraps a row a few pixels before the viewport's edge
        columns = max(1, usable // base)
        cell = QSize(max(base, usable // columns), THUMB + 30)
        if cell != self.delegate.cell:
            self.delegate.cell = cell
            self.view.setGridSize(cell)

    # -- content --------------------------------------------------------------------------------------
    def set_dataset(self, dataset) -> None:
        self._selected = None
        self.class_filter.blockSignals(True)
        self.class_filter.clear()
        self.class_filter.addItem("All classes", None)
        if dataset is not None:
            unseen = set(int(c) for c in dataset.unseen_classes)
            for i, name in enumerate(dataset.classes):
                mark = "◆" if i in unseen else "●"
                self.class_filter.addItem(f"{mark} {theme.display_name(name)}", i)
                self.class_filter.setItemData(
                    i + 1, QColor(theme.UNSEEN if i in unseen else theme.SEEN), Qt.ForegroundRole
                )
        self.class_filter.blockSignals(False)
        if dataset is None:
            self.model.clear()
            self._set_empty("No dataset yet")
            return
        self.model.set_dataset(dataset)
        self._set_empty("")
        if not dataset.has_images:
            self._set_empty(
                f"{dataset.name} has precomputed features only: there are no images to show. "
                f"Predictions and the feature view still work."
            )

    def _set_empty(self, text: str) -> None:
        self.empty.setText(text)
        self.empty.setVisible(bool(text))
        self.view.setVisible(not text)

    def add_loose(self, items) -> None:
        self.model.add_loose(items)

    def set_predictions(self, predicted) -> None:
        self.result_filter.setEnabled(predicted is not None)
        self.result_filter.setToolTip("" if predicted is not None else "Needs a model: train one or load a checkpoint")
        self.model.set_predictions(predicted)

    def set_rank_scores(self, scores) -> None:
        self.model.set_rank_scores(scores)

    def page_request(self) -> tuple[int, object]:
        """(rows of the ranking to make final first, the item ids listed or None) for a live request.

        While ranking: every row down to the bottom of the view, plus one screen below it (a scroll
        does not reveal rows that are still coming); not ranking: none (the ranking is not on screen).
        """
        if not self.model.filters()["rank"]:
            return 0, None
        view, cell = self.view.viewport(), self.delegate.cell
        per_screen = max(1, view.width() // max(1, cell.width())) * (view.height() // max(1, cell.height()) + 1)
        top = self.view.indexAt(view.rect().topLeft())
        first = (top.row() if top.isValid() else 0) + 2 * per_screen
        return first, self.model.shown

    def set_marks(self, marks: dict) -> None:
        """Show which images are marked "is this" / "is not this" for the edited class."""
        self.model.set_marks(marks)
        self.clear_marks_button.setEnabled(bool(marks))

    def thumbnails_loaded(self, batch) -> None:
        self.model.set_thumbnails(batch)

    def _on_thumbnail_needed(self, item: int, path: str) -> None:
        self.thumbnail_needed.emit((self.model.token, item), path)

    # -- what an item is ------------------------------------------------------------------------------
    def item_count(self) -> int:
        return self.model.count

    def describe(self, item: int) -> GalleryItem:
        """Name, true class ("your photo" for a loose photo), kind and path of ``item``."""
        m = self.model
        return GalleryItem(m.names[item], m.class_name(item), m.kinds[item], m.paths[item])

    def show_class(self, label: int) -> None:
        """Filter the grid to the images of dataset class ``label``."""
        self.class_filter.setCurrentIndex(max(0, self.class_filter.findData(label)))

    # -- selection ------------------------------------------------------------------------------------
    def current_item(self) -> int | None:
        return self._selected

    def select_item(self, item: int) -> None:
        row = self.model.row_of(item)
        if row < 0:  # hidden by a filter: clear the filters that hide it
            self.search.blockSignals(True)
            self.search.clear()
            self.search.blockSignals(False)
            for combo in (self.class_filter, self.split_filter, self.result_filter):
                combo.blockSignals(True)
                combo.setCurrentIndex(0)
                combo.blockSignals(False)
            self.model.set_filter(**{"class": None, "split": "all", "result": "all", "text": ""})
            row = self.model.row_of(item)
        if row >= 0:
            index = self.view_model.index(row, 0)
            self.view.setCurrentIndex(index)
            self.view.scrollTo(index, QAbstractItemView.PositionAtCenter)

    def _on_current(self, current: QModelIndex, previous: QModelIndex) -> None:
        if not current.isValid():
            return
        item = int(current.data(ItemRole))
        if item != self._selected:
            self._selected = item
            self.item_selected.emit(item)

    # -- marks for the edited class -------------------------------------------------------------------
    def _mark_selected_is_this(self) -> None:
        if self._selected is not None:
            self.mark_requested.emit(self._selected, 1)

    def _mark_selected_is_not(self) -> None:
        if self._selected is not None:
            self.mark_requested.emit(self._selected, -1)

    def context_menu_for(self, item: int) -> QMenu:
        """The thumbnail's menu: mark it for the edited class, unmark it, or forget every mark."""
        menu = QMenu(self)
        current = self.model.marks.get(item)
        for text, mark in (("✓ Is this (the edited class)", 1), ("✗ Is not this", -1), ("Remove the mark", 0)):
            action = menu.addAction(text)
            action.setData(mark)
            action.setEnabled(current != mark and (mark != 0 or current is not None))
        menu.addSeparator()
        clear = menu.addAction("Clear every mark")
        clear.setData("clear")
        clear.setEnabled(bool(self.model.marks))
        return menu

    def _on_context_menu(self, pos) -> None:
        index = self.view.indexAt(pos)
        if not index.isValid():
            return
        item = int(index.data(ItemRole))
        chosen = self.context_menu_for(item).exec(self.view.viewport().mapToGlobal(pos))
        if chosen is None:
            return
        self.choose_mark(item, chosen.data())

    def choose_mark(self, item: int, choice) -> None:
        """What a context-menu choice does (+1, -1, 0 or "clear")."""
        if choice == "clear":
            self.marks_cleared.emit()
        elif choice in (1, -1, 0):
            self.mark_requested.emit(item, int(choice))

    def _after_reset(self) -> None:
        n, total = len(self.model.order), self.model.count
        self.count_label.setText(f"{n:,} of {total:,} images" if n != total else f"{total:,} images")
        self._reselect(scroll=not self.model.filters()["rank"])

    def _after_reorder(self) -> None:
        """The same rows in a new order: repaint, and the selected image's new row is the current one."""
        self.view.viewport().update()
        self._reselect(scroll=not self.model.filters()["rank"])

    def _reselect(self, scroll: bool) -> None:
        if self._selected is not None:
            row = self.model.row_of(self._selected)
            if row >= 0:
                self.view.selectionModel().blockSignals(True)
                self.view.setCurrentIndex(self.view_model.index(row, 0))
                self.view.selectionModel().blockSignals(False)
                if scroll:
                    self.view.scrollTo(self.view_model.index(row, 0), QAbstractItemView.EnsureVisible)

    # -- filters --------------------------------------------------------------------------------------
    def _on_text(self, text: str) -> None:
        self.model.set_filter(text=text)
        self.view.scrollToTop()  # a new search lists its hits from the first, not at the old scroll offset

    def _on_filters(self) -> None:
        self.model.set_filter(
            **{
                "class": self.class_filter.currentData(),
                "split": self.split_filter.currentData(),
                "result": self.result_filter.currentData(),
            }
        )

    def _on_rank(self, on: bool) -> None:
        self.delegate.show_rank = on
        self.model.set_filter(rank=on)
        if on:
            self.view.scrollToTop()
        self.rank_toggled.emit(on)
