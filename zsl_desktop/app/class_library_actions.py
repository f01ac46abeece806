"""What the class editor does to your class library: save (a changed name renames), delete, import, export.

Why apart from the panel: the panel edits a draft; this is the one part of it that writes the user's files
(through ``LibraryStore``, which goes through the engine's gates) and says how that went. ``ClassLibraryActions``
is a mixin of ``panels.class_editor.ClassEditorPanel`` and expects from it ``store``, ``history``, ``baseline``,
``current``, ``_touched``, ``name_edit``, ``status``, ``message``, ``new_class``, ``_refresh_boxes`` and
``_changed``.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QMessageBox

from zsl_desktop.app import class_files
from zsl_desktop.app.class_draft import NOT_SAVED_BLANK
from zsl_desktop.engine.user_class import has_attribute_information


class ClassLibraryActions:
    """Save, delete, import and export, with the buttons' and the "⋯" menu's handlers."""

    # -- saving ------------------------------------------------------------------------------------------------
    def save(self, name: str | None = None) -> bool:
        name = (name if name is not None else self.name_edit.text()).strip()
        if not has_attribute_information(self.history.values):
            self.status.setText(NOT_SAVED_BLANK)
            self.message.emit(NOT_SAVED_BLANK)
            return False
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
        try:
            self.store.delete(name)
        except OSError as exc:  # a full or read-only disk: said, the class stays, the app stays up
            self.status.setText(str(exc))
            self.message.emit(f"Could not delete the class: {exc}")
            return
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
        return class_files.import_classes(self, self.store, path, self.message.emit)

    def export_file(self, path) -> Path | None:
        """Your saved classes as a JSON class file, or CSV for a ``.csv`` name (".json" added without a suffix)."""
        return class_files.export_classes(self, self.store, path, self.message.emit)

    def _on_import(self) -> None:
        path = class_files.ask_import_path(self)
        if path:
            self.import_file(path)

    def _on_export(self) -> None:
        if not self.store.classes():  # say so before asking for a file name
            self.export_file("")
            return
        path = class_files.ask_export_path(self)
        if path:
            self.export_file(path)
