"""Class editor: describe a class by its attributes and see the model recognise it live.

One labelled slider per attribute, in the dataset's own scale, grouped by
attribute group (collapsible), with search, reset, "start from" an existing
class and undo/redo (``engine.edit_history.EditHistory``: a slider drag is one
step). The draft is announced on every change; the controller debounces and
scores it on a worker, so dragging never waits for the model.

Why over 400 lines: the slider list, the search, "start from", import/export
and undo all edit the one draft; the undo history itself is in the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QColor, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from zsl_desktop.app import theme
from zsl_desktop.app.search import matches
from zsl_desktop.app.widgets.attribute_slider import AttributeSlider
from zsl_desktop.app.widgets.collapsible import CollapsibleSection
from zsl_desktop.app.widgets.messages import show_warning
from zsl_desktop.engine.classes import LibraryError
from zsl_desktop.engine.edit_history import EditHistory
from zsl_desktop.engine.cub_species import species_for_attributes

NEW = "__new__"


@dataclass(frozen=True)
class Draft:
    """The class on the editor: its name, values and the saved class it replaces (None when new)."""

    name: str
    values: np.ndarray
    replaces: str | None
    active: bool  # False for an untouched new class (nothing to score yet)
    dirty: bool = False  # differs from what is saved (or not saved at all)


class ClassEditorPanel(QWidget):
    draft_changed = Signal()
    message = Signal(str)
    class_loaded = Signal()  # another class (or a new one) is on the editor: marks made for the last one are void

    def __init__(self, store, parent=None):
        super().__init__(parent)
        self.store = store
        self.dataset = None
        self.species: tuple = ((), None)  # the 200 CUB species when the dataset is on CUB's attributes
        self.sliders: list[AttributeSlider] = []
        self.sections: dict[str, CollapsibleSection] = {}
        self._section_of: list[str] = []
        self.history = EditHistory(np.zeros(0, np.float32))
        self.baseline = np.zeros(0, np.float32)
        self.current: str | None = None
        self._touched = False
        self._groups: dict[str, list[int]] = {}

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

        self.body = QWidget()
        self.body_layout = QVBoxLayout(self.body)
        self.body_layout.setContentsMargins(0, 0, 6, 0)
        self.body_layout.setSpacing(0)
        self.body_layout.addStretch(1)
        self.scroll = QScrollArea(self)
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(self.body)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.empty = QLabel("Open a dataset to define classes by their attributes", self)
        self.empty.setObjectName("empty")
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignCenter)

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
        layout.addWidget(self.scroll, 1)
        layout.addWidget(self.empty, 1)
        layout.addWidget(self.status)

        self.undo_action = QAction("Undo class edit", self)
        self.undo_action.setShortcut(QKeySequence.Undo)
        self.undo_action.setShortcutContext(Qt.WidgetWithChildrenShortcut)
        self.redo_action = QAction("Redo class edit", self)
        self.redo_action.setShortcut(QKeySequence("Ctrl+Shift+Z"))
        self.redo_action.setShortcutContext(Qt.WidgetWithChildrenShortcut)
        self.addAction(self.undo_action)
        self.addAction(self.redo_action)

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
        self.expand_action.triggered.connect(self._expand_all)
        self.collapse_action.triggered.connect(self._collapse_all)
        self.store.changed.connect(self._refresh_boxes)
        self._set_enabled(False)

    # -- dataset ------------------------------------------------------------------------------------------
    def set_dataset(self, dataset) -> None:
        self.dataset = dataset
        self.species = species_for_attributes(dataset.attribute_names) if dataset is not None else ((), None)
        for section in self.sections.values():
            section.setParent(None)
            section.deleteLater()
        self.sliders, self.sections, self._section_of = [], {}, []
        self.current = None
        self._set_enabled(dataset is not None)
        if dataset is None:
            return
        lo, hi = self.store.scale
        self.body.setUpdatesEnabled(False)
        groups = self._groups = dataset.attribute_groups()
        for g, (group, indices) in enumerate(groups.items()):
            section = CollapsibleSection(group.replace("_", " "), self.body, expanded=g < 2)
            for i in indices:
                a = dataset.attributes[i]
                label = a.value.replace("_", " ") if a.group != "attributes" else a.label
                slider = AttributeSlider(i, label, lo, hi, section.body)
                slider.search_text = a.label.casefold()
                slider.edited.connect(self._on_edit)
                slider.released.connect(self._on_released)
                section.add_widget(slider)
                self.sliders.append(slider)
            self.sections[group] = section
            self.body_layout.insertWidget(self.body_layout.count() - 1, section)
        self.sliders.sort(key=lambda s: s.index)
        self._section_of = [""] * dataset.num_attributes
        for group, indices in groups.items():
            for i in indices:
                self._section_of[i] = group
        self.body.setUpdatesEnabled(True)
        self.new_class()
        self._refresh_boxes()

    def _set_enabled(self, on: bool) -> None:
        self.scroll.setVisible(on)
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
        self.status.setText(f"Editing your class “{name}”.")

    def _show_values(self) -> None:
        values = self.history.values
        for s in self.sliders:
            s.set_value(float(values[s.index]))
        self._update_badges()
        self._update_buttons()

    def _changed(self) -> None:
        self._update_buttons()
        dirty = self.is_dirty()
        if self.current is None and self._touched:
            self.status.setText("Unsaved new class.")
        elif dirty:
            self.status.setText(f"Unsaved changes to “{self.current}”.")
        self.draft_changed.emit()

    def _on_edit(self, index: int, value: float) -> None:
        if self.history.set(index, value, f"change {self.dataset.attributes[index].label}"):
            self._touched = True
            self._update_badge(self._section_of[index])
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
        if kind == "dataset":
            values = self.dataset.class_attributes[int(name_or_index)]
            label = self.dataset.classes[int(name_or_index)]
        elif kind == "species":  # one of the 200 CUB species (a dataset on CUB's attributes)
            names, matrix = self.species
            values, label = matrix[int(name_or_index)], names[int(name_or_index)]
        else:
            c = self.store.get(name_or_index)
            if c is None:
                return
            values, label = c.array(), c.name
        lo, hi = self.store.scale
        if self.history.set_all(np.clip(values, lo, hi), f"start from {label}"):
            self._touched = True
            if self.current is None and not self.name_edit.text().strip():
                self.name_edit.setText(f"My {theme.display_name(label)}")
            self._show_values()
            self._changed()
        self.status.setText(f"Started from {theme.display_name(label)}.")

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
        moved = [int(i) for i in np.argsort(-np.abs(change))[:3] if abs(change[i]) >= 0.005 * (hi - lo)]
        decimals = 0 if hi > 1.5 else 2  # as the sliders' value boxes
        words = ", ".join(f"{self.dataset.attributes[i].label} {change[i]:+.{decimals}f}" for i in moved)
        self.status.setText(f"{label[0].upper()}{label[1:]}: {words or 'no attribute moved'} (Ctrl+Z undoes).")
        return True

    def set_value(self, index: int, value: float) -> None:
        """Programmatic edit, as if the user moved the slider (tests, scripting)."""
        self.sliders[index].move_to(value)

    # -- saving ------------------------------------------------------------------------------------------------
    def save(self, name: str | None = None) -> bool:
        name = (name if name is not None else self.name_edit.text()).strip()
        try:
            saved = self.store.save_class(name, self.history.values, previous=self.current)
        except (ValueError, KeyError, OSError) as exc:
            self.status.setText(str(exc))
            self.message.emit(f"Could not save the class: {exc}")
            return False
        self.current = saved.name
        self.baseline = self.history.values
        self._touched = False
        self.name_edit.setText(saved.name)
        self._refresh_boxes()
        self.status.setText(f"Saved “{saved.name}” to your class library.")
        self.message.emit(f"Saved class “{saved.name}”")
        self._changed()
        return True

    def delete_current(self) -> None:
        if self.current is None:
            return
        name = self.current
        self.store.delete(name)
        self.new_class()
        self.message.emit(f"Deleted class “{name}”")

    def _on_save(self) -> None:
        self.save()

    def _on_delete(self) -> None:
        if self.current is None:
            self.new_class()
            return
        answer = QMessageBox.question(self, "Delete class", f"Delete your class “{self.current}”?")
        if answer == QMessageBox.Yes:
            self.delete_current()

    # -- import / export ------------------------------------------------------------------------------------------
    def import_file(self, path) -> list[str]:
        try:
            added = self.store.import_file(path)
        except (LibraryError, OSError) as exc:
            show_warning(self, "Import classes", str(exc))
            self.message.emit(f"Import failed: {exc}")
            return []
        self.message.emit(f"Imported {len(added)} classes from {Path(path).name}")
        return added

    def export_file(self, path) -> Path | None:
        """Your saved classes as a JSON class file, or CSV for a ``.csv`` name (".json" added without a suffix)."""
        count = len(self.store.classes())
        if count == 0:
            show_warning(
                self,
                "Export classes",
                "You have no classes of your own to export yet: draw one in the class editor and save it first.",
            )
            return None
        path = Path(path)
        if not path.suffix:
            path = path.with_name(path.name + ".json")
        try:
            out = self.store.export_file(path)
        except OSError as exc:
            show_warning(self, "Export classes", f"{path}: {exc}")
            return None
        self.message.emit(f"Exported {count} {'class' if count == 1 else 'classes'} to {out}")
        return out

    def _on_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Import classes",
            str(Path.home()),
            "Class files (*.json *.csv);;JSON (*.json);;CSV, one row per class (*.csv)",
        )
        if path:
            self.import_file(path)

    def _on_export(self) -> None:
        if not self.store.classes():  # say so before asking for a file name
            self.export_file("")
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Export classes", str(Path.home() / "classes.json"), "JSON (*.json);;CSV, one row per class (*.csv)"
        )
        if path:
            self.export_file(path)

    # -- boxes, badges, search ------------------------------------------------------------------------------------
    def _refresh_boxes(self) -> None:
        names = self.store.names() if self.dataset is not None else []
        self.class_box.blockSignals(True)
        self.class_box.clear()
        self.class_box.addItem("✎ New class", NEW)
        for n in names:
            self.class_box.addItem(f"★ {n}", n)
        self.class_box.setCurrentIndex(max(0, self.class_box.findData(self.current)) if self.current else 0)
        self.class_box.blockSignals(False)
        self.start_box.blockSignals(True)
        self.start_box.clear()
        self.start_box.addItem("— choose a class —", None)
        if self.dataset is not None:
            unseen = set(int(c) for c in self.dataset.unseen_classes)
            for i, name in enumerate(self.dataset.classes):
                self.start_box.addItem(f"{'◆' if i in unseen else '●'} {theme.display_name(name)}", ("dataset", i))
                self.start_box.setItemData(
                    self.start_box.count() - 1, QColor(theme.UNSEEN if i in unseen else theme.SEEN), Qt.ForegroundRole
                )
            for n in names:
                self.start_box.addItem(f"★ {n}", ("user", n))
                self.start_box.setItemData(self.start_box.count() - 1, QColor(theme.USER), Qt.ForegroundRole)
            own = set(self.dataset.classes)
            for i, name in enumerate(self.species[0]):
                if name not in own:
                    self.start_box.addItem(f"○ {theme.display_name(name)} (CUB species)", ("species", i))
        self.start_box.setCurrentIndex(0)
        self.start_box.blockSignals(False)
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

    def _update_badge(self, group: str) -> None:
        section = self.sections.get(group)
        if section is None:
            return
        values = self.history.values
        idx = self._groups.get(group, [])
        lo, hi = self.store.scale
        on = int(sum(values[i] > lo + 0.25 * (hi - lo) for i in idx))
        section.badge.setText(f"{on} of {len(idx)}" if on else "")

    def _update_badges(self) -> None:
        for group in self.sections:
            self._update_badge(group)

    def filter_attributes(self, text: str) -> None:
        """Show the attributes whose words (or whose group's) begin with the words typed; list them from the top."""
        text = text.strip()
        for group, section in self.sections.items():
            hits = 0
            group_hit = matches(text, group)
            for s in section.findChildren(AttributeSlider):
                show = not text or group_hit or matches(text, s.search_text)
                s.setVisible(show)
                hits += show
            section.setVisible(hits > 0)
            if text and hits:
                section.set_expanded(True)
        self.scroll.verticalScrollBar().setValue(0)

    def _expand_all(self) -> None:
        for s in self.sections.values():
            s.set_expanded(True)

    def _collapse_all(self) -> None:
        for s in self.sections.values():
            s.set_expanded(False)
