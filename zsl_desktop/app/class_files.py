"""The class editor's "Import classes…" and "Export classes…": the file dialogs and what the user is told.

Why apart from the panel: the library (``LibraryStore``) reads and writes the files through the engine's
gates; this module asks for the path and turns the outcome into a message or a warning.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from zsl_desktop.app.widgets.messages import show_warning
from zsl_desktop.engine.classes import LibraryError

CLASS_FILES = "Class files (*.json *.csv);;JSON (*.json);;CSV, one row per class (*.csv)"
EXPORT_FILES = "JSON (*.json);;CSV, one row per class (*.csv)"


def import_classes(parent, store, path, say) -> list[str]:
    """The classes of the file at ``path`` added to ``store``; ``say(text)`` reports the outcome."""
    try:
        added = store.import_file(path)
    except (LibraryError, OSError) as exc:
        show_warning(parent, "Import classes", str(exc))
        say(f"Import failed: {exc}")
        return []
    say(f"Imported {len(added)} classes from {Path(path).name}")
    return added


def export_classes(parent, store, path, say) -> Path | None:
    """The saved classes as a JSON class file, or CSV for a ``.csv`` name (".json" added without a suffix)."""
    count = len(store.classes())
    if count == 0:
        show_warning(
            parent,
            "Export classes",
            "You have no classes of your own to export yet: draw one in the class editor and save it first.",
        )
        return None
    path = Path(path)
    if not path.suffix:
        path = path.with_name(path.name + ".json")
    try:
        out = store.export_file(path)
    except OSError as exc:
        show_warning(parent, "Export classes", f"{path}: {exc}")
        return None
    say(f"Exported {count} {'class' if count == 1 else 'classes'} to {out}")
    return out


def ask_import_path(parent) -> str:
    """The file to import ("" when the user cancels)."""
    path, _ = QFileDialog.getOpenFileName(parent, "Import classes", str(Path.home()), CLASS_FILES)
    return path


def ask_export_path(parent) -> str:
    """Where to export ("" when the user cancels)."""
    path, _ = QFileDialog.getSaveFileName(parent, "Export classes", str(Path.home() / "classes.json"), EXPORT_FILES)
    return path
