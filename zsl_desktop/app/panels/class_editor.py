"""Class editor: describe a class by its attributes and see the model recognise it live.

One labelled slider per attribute, in the dataset's own scale, grouped by
attribute group (collapsible), with search, reset, "start from" an existing
class and undo/redo (``engine.edit_history.EditHistory``: a slider drag is one
step). The draft is announced on every change; the controller debounces and
scores it on a worker, so dragging never waits for the model.

Its parts: the sliders themselves are ``widgets.attribute_grid``, the two
class lists ``widgets.class_choices``, saving, deleting, importing and
exporting ``class_library_actions`` (a mixin; its dialogs ``class_files``), the
``Draft`` and its start-from values ``class_draft``; the undo history is the
engine's. The panel owns the draft being edited.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from zsl_desktop.app import theme
from zsl_desktop.app.class_draft import (
    NO_ATTRIBUTE_SET,
    TWIN_START,
    Draft,
    refinement_words,
    start_values,
    twin_class,
    twin_words,
)
from zsl_desktop.app.class_library_actions import ClassLibraryActions
from zsl_desktop.app.widgets.attribute_grid import AttributeGrid
from zsl_desktop.app.widgets.attribute_slider import AttributeSlider
from zsl_desktop.app.widgets.class_choices import NEW, fill_class_box, fill_start_box
from zsl_desktop.engine.edit_history import EditHistory
from zsl_desktop.engine.user_class import has_attribute_information
from zsl_desktop.engine.cub_species import SpeciesOffer


class ClassEditorPanel(ClassLibraryActions, QWidget):
    draft_changed = Signal()
    message = Signal(str)
    class_loaded = Signal()  # another class (or a new one) is on the editor: marks made for the last one are void

    def __init__(self, store, parent=None):
        super().__init__(parent)
        self.store = store
        self.dataset = None
        self.species: tuple = ((), None)  # the 200 CUB species when the dataset is on CUB's attributes
        self._species_for: tuple[str, ...] | None = None  # the attribute names ``species`` was offered for
        self.history = EditHistory(np.zeros(0, np.float32))
        self.baseline = np.zeros(0, np.float32)
        self.current: str | None = None
        self._touched = False

        self._make_widgets()
        self._lay_out()
        self._add_shortcuts()
        self._connect_signals()
        self._set_enabled(False)

    def _make_widgets(self) -> None:
        """The editor's controls, the attribute grid and the empty-state hint."""
        self.class_box = QComboBox(self)
        self.class_box.setToolTip("The class you are editing")
        self.new_button = QToolButton(self)
        self.new_button.setText("New")
        self.delete_button = QToolButton(self)
        self.delete_button.setText("Delete")
        self.delete_button.setObjectName("danger")
        self.more_button = QToolButton(self)
        self.more_button.setText("⋯")
        self.more_button.setPopupMode(QToolButton.InstantPopup)
        menu = QMenu(self.more_button)
        self.import_action = menu.addAction("Import classes…")
        self.export_action = menu.addAction("Export classes…")
        menu.addSeparator()
        self.expand_action = menu.addAction("Expand all groups")
        self.collapse_action = menu.addAction("Collapse all groups")
        self.more_button.setMenu(menu)
        self.name_edit = QLineEdit(self)
        self.name_edit.setPlaceholderText("Name of your class")
        self.save_button = QPushButton("Save", self)
        self.save_button.setObjectName("primary")
        self.save_button.setToolTip("Save this class (a changed name renames it)")
        self.start_box = QComboBox(self)
        self.start_box.setToolTip("Copy the attributes of an existing class as a starting point")
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Filter attributes…")
        self.search.setClearButtonEnabled(True)
        self.undo_button = QToolButton(self)
        self.undo_button.setText("↶")
        self.undo_button.setToolTip("Undo (Ctrl+Z)")
        self.redo_button = QToolButton(self)
        self.redo_button.setText("↷")
        self.redo_button.setToolTip("Redo (Ctrl+Shift+Z)")
        self.reset_button = QToolButton(self)
        self.reset_button.setText("Reset")
        self.reset_button.setToolTip("Back to the values this class started with")
        self.status = QLabel("", self)
        self.status.setObjectName("hint")
        self.status.setWordWrap(True)

        self.grid = AttributeGrid(self)
        self.empty = QLabel("Open a dataset to define classes by their attributes", self)
        self.empty.setObjectName("empty")
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignCenter)

    def _lay_out(self) -> None:
        """Four rows of controls over the grid."""
        row1 = QHBoxLayout()
        row1.addWidget(self.class_box, 1)
        row1.addWidget(self.new_button)
        row1.addWidget(self.delete_button)
        row1.addWidget(self.more_button)
        row2 = QHBoxLayout()
        row2.addWidget(self.name_edit, 1)
        row2.addWidget(self.save_button)
        row3 = QHBoxLayout()
        row3.addWidget(QLabel("Start from", self))
        row3.addWidget(self.start_box, 1)
        row4 = QHBoxLayout()
        row4.addWidget(self.search, 1)
        row4.addWidget(self.undo_button)
        row4.addWidget(self.redo_button)
        row4.addWidget(self.reset_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(6)
        layout.addLayout(row1)
        layout.addLayout(row2)
        layout.addLayout(row3)
        layout.addLayout(row4)
        layout.addWidget(self.grid, 1)
        layout.addWidget(self.empty, 1)
        layout.addWidget(self.status)

    def _add_shortcuts(self) -> None:
        """Undo and redo while the focus is anywhere in the editor."""
        self.undo_action = QAction("Undo class edit", self)
        self.undo_action.setShortcut(QKeySequence.Undo)
        self.undo_action.setShortcutContext(Qt.WidgetWithChildrenShortcut)
        self.redo_action = QAction("Redo class edit", self)
        self.redo_action.setShortcut(QKeySequence("Ctrl+Shift+Z"))
        self.redo_action.setShortcutContext(Qt.WidgetWithChildrenShortcut)
        self.addAction(self.undo_action)
        self.addAction(self.redo_action)

    def _connect_signals(self) -> None:
        self.class_box.activated.connect(self._on_class_box)
        self.new_button.clicked.connect(self.new_class)
        self.delete_button.clicked.connect(self._on_delete)
        self.save_button.clicked.connect(self._on_save)
        self.name_edit.textEdited.connect(self._on_name)
        self.start_box.activated.connect(self._on_start)
        self.search.textChanged.connect(self.filter_attributes)
        self.undo_button.clicked.connect(self.undo)
        self.redo_button.clicked.connect(self.redo)
        self.undo_action.triggered.connect(self.undo)
        self.redo_action.triggered.connect(self.redo)
        self.reset_button.clicked.connect(self.reset)
        self.import_action.triggered.connect(self._on_import)
        self.export_action.triggered.connect(self._on_export)
        self.expand_action.triggered.connect(self.grid.expand_all)
        self.collapse_action.triggered.connect(self.grid.collapse_all)
        self.grid.edited.connect(self._on_edit)
        self.grid.released.connect(self._on_released)
        self.store.changed.connect(self._refresh_boxes)

    # -- dataset ------------------------------------------------------------------------------------------
    def set_dataset(self, dataset) -> None:
        """A new class on ``dataset``'s attributes. The CUB species for "Start from" come later (``set_species``,
        read on a worker): those of the last dataset stay when its attributes are the same."""
        self.dataset = dataset
        if not self.species_shown_for(dataset):
            self.species, self._species_for = ((), None), None
        self.current = None
        self._set_enabled(dataset is not None)
        self.grid.set_dataset(dataset, self.store.scale)
        if dataset is None:
            return
        self.new_class()
        self._refresh_boxes()

    def species_shown_for(self, dataset) -> bool:
        """True when "Start from" already lists the CUB species for ``dataset``'s attributes (none: False)."""
        return dataset is not None and self._species_for == tuple(dataset.attribute_names)

    def set_species(self, offer: SpeciesOffer) -> None:
        """The CUB species "Start from" offers (the bridge's reply to ``request_species``); a reply for other
        attributes than the open dataset's (a dataset opened meanwhile) is dropped."""
        if self.dataset is None or offer.attribute_names != tuple(self.dataset.attribute_names):
            return
        self.species, self._species_for = (offer.names, offer.matrix), offer.attribute_names
        self._refresh_boxes()

    @property
    def sliders(self) -> list[AttributeSlider]:
        """One slider per attribute, by index."""
        return self.grid.sliders

    def _set_enabled(self, on: bool) -> None:
        self.grid.setVisible(on)
        self.empty.setVisible(not on)
        for w in (
            self.class_box,
            self.new_button,
            self.delete_button,
            self.more_button,
            self.name_edit,
            self.save_button,
            self.start_box,
            self.search,
            self.reset_button,
        ):
            w.setEnabled(on)
        self._update_buttons()

    # -- the draft --------------------------------------------------------------------------------------------
    def draft(self) -> Draft | None:
        if self.dataset is None:
            return None
        name = self.name_edit.text().strip() or "New class"
        active = self.current is not None or self._touched
        return Draft(name, self.history.values, self.current, active, self.is_dirty())

    def is_dirty(self) -> bool:
        if self.current is None:
            return self._touched
        return not np.array_equal(self.history.values, self.baseline) or self.name_edit.text().strip() != self.current

    def values(self) -> np.ndarray:
        return self.history.values

    def _load(self, values, name: str, current: str | None, label: str | None = None) -> None:
        values = np.asarray(values, np.float32)
        self.history = EditHistory(values)
        self.baseline = values.copy()
        self.current = current
        self._touched = False
        self.name_edit.setText(name)
        self._show_values()
        self._refresh_boxes()
        self.class_loaded.emit()
        self._changed()

    def new_class(self) -> None:
        if self.dataset is None:
            return
        self._load(np.zeros(self.dataset.num_attributes, np.float32), "", None)
        self.status.setText("A new class: start from an existing one or move the sliders.")

    def edit_class(self, name: str) -> None:
        c = self.store.get(name)
        if c is None:
            return
        self._load(c.array(), c.name, c.name)
        blank = not has_attribute_information(c.array())  # imported or hand-edited so: it is not scored
        self.status.setText(f"Editing your class “{name}”." + (f" {NO_ATTRIBUTE_SET}" if blank else ""))

    def _show_values(self) -> None:
        self.grid.show_values(self.history.values)
        self._update_buttons()

    def _changed(self) -> None:
        self._update_buttons()
        dirty = self.is_dirty()
        twin = twin_class(self.history.values, self.dataset) if self._touched else None
        if (self.current is not None or self._touched) and not has_attribute_information(self.history.values):
            self.status.setText(NO_ATTRIBUTE_SET)  # the draft is not scored (engine.session.class_set)
        elif twin is not None:
            self.status.setText(twin_words(theme.display_name(twin)))
        elif self.current is None and self._touched:
            self.status.setText("Unsaved new class.")
        elif dirty:
            self.status.setText(f"Unsaved changes to “{self.current}”.")
        elif self.status.text() == NO_ATTRIBUTE_SET or self.status.text().startswith(TWIN_START):
            self.status.setText(f"Editing your class “{self.current}”." if self.current else "")
        self.draft_changed.emit()

    def _on_edit(self, index: int, value: float) -> None:
        if self.history.set(index, value, f"change {self.dataset.attributes[index].label}"):
            self._touched = True
            self.grid.value_moved(index, self.history.values)
            self._changed()

    def _on_released(self, index: int) -> None:
        self.history.seal()

    def _on_name(self, text: str) -> None:
        self._touched = True
        self._changed()

    def undo(self) -> None:
        if self.history.undo():
            self._touched = True
            self._show_values()
            self._changed()

    def redo(self) -> None:
        if self.history.redo():
            self._show_values()
            self._changed()

    def reset(self) -> None:
        if self.history.set_all(self.baseline, "reset"):
            self._show_values()
            self._changed()

    def start_from(self, kind: str, name_or_index) -> None:
        """Copy a dataset class (kind "dataset", index), a CUB species ("species", index) or a user class
        (kind "user", name) into the draft."""
        start = start_values(kind, name_or_index, self.dataset, self.species, self.store)
        if start is None:
            return
        values, label = start
        lo, hi = self.store.scale
        if self.history.set_all(np.clip(values, lo, hi), f"start from {label}"):
            self._touched = True
            if self.current is None and not self.name_edit.text().strip():
                self.name_edit.setText(f"My {theme.display_name(label)}")
            self._show_values()
            self._changed()
        values = self.history.values
        twin = twin_class(values, self.dataset)
        after = (
            f" {NO_ATTRIBUTE_SET}"
            if not has_attribute_information(values)
            else f" {twin_words(theme.display_name(twin))}"
            if twin
            else ""
        )
        self.status.setText(f"Started from {theme.display_name(label)}.{after}")

    def apply_refinement(self, values, label: str) -> bool:
        """Values refined from marked images: the sliders move, and one undo step reverts it."""
        lo, hi = self.store.scale
        before = self.history.values
        if not self.history.set_all(np.clip(np.asarray(values, np.float32), lo, hi), label):
            return False
        self._touched = True
        self._show_values()
        self._changed()
        change = self.history.values - before
        self.status.setText(refinement_words(change, self.dataset.attributes, (lo, hi), label))
        return True

    def set_value(self, index: int, value: float) -> None:
        """Programmatic edit, as if the user moved the slider (tests, scripting)."""
        self.grid.slider(index).move_to(value)

    # -- boxes, badges, search ------------------------------------------------------------------------------------
    def _refresh_boxes(self) -> None:
        names = self.store.names() if self.dataset is not None else []
        fill_class_box(self.class_box, names, self.current)
        fill_start_box(self.start_box, self.dataset, names, self.species[0])
        self._update_buttons()

    def _on_class_box(self, row: int) -> None:
        data = self.class_box.itemData(row)
        if data == NEW:
            self.new_class()
        else:
            self.edit_class(data)

    def _on_start(self, row: int) -> None:
        data = self.start_box.itemData(row)
        if data:
            self.start_from(*data)
        self.start_box.setCurrentIndex(0)

    def _update_buttons(self) -> None:
        self.undo_button.setEnabled(self.history.can_undo)
        self.redo_button.setEnabled(self.history.can_redo)
        self.undo_button.setToolTip(f"Undo {self.history.undo_text} (Ctrl+Z)" if self.history.can_undo else "Undo")
        self.redo_button.setToolTip(f"Redo {self.history.redo_text}" if self.history.can_redo else "Redo")
        self.delete_button.setEnabled(self.current is not None)

    def filter_attributes(self, text: str) -> None:
        """Show the attributes whose words (or whose group's) begin with the words typed; list them from the top."""
        self.grid.filter(text)
