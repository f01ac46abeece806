"""Non-blocking message boxes: a modal ``exec()`` would stall the event loop (and every test)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

LAST: list[tuple[str, str]] = []  # (title, text) of recent warnings, newest last; tests read it


def show_warning(parent, title: str, text: str) -> QMessageBox:
    box = QMessageBox(QMessageBox.Warning, title, text, QMessageBox.Ok, parent)
    box.setAttribute(Qt.WA_DeleteOnClose)
    box.setWindowModality(Qt.WindowModal)
    box.open()
    LAST.append((title, text))
    del LAST[:-20]
    return box
