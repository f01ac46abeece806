"""A row of big numbers with small captions (the evaluation summary people remember)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QVBoxLayout, QWidget

from zsl_desktop.app import theme


class StatCard(QFrame):
    def __init__(self, caption: str, color: str = theme.TEXT, parent=None):
        super().__init__(parent)
        self.setObjectName("card")
        self.setStyleSheet(f"QFrame#card {{ background: {theme.BASE}; border-radius: 8px; }}")
        self.value = QLabel("–", self)
        self.value.setStyleSheet(f"color: {color}; font-size: 13pt; font-weight: 600;")
        self.value.setAlignment(Qt.AlignLeft | Qt.AlignVCenter)
        self.caption = QLabel(caption, self)
        self.caption.setStyleSheet(f"color: {theme.FAINT}; font-size: 8.5pt;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 3, 8, 3)
        layout.setSpacing(0)
        layout.addWidget(self.value)
        layout.addWidget(self.caption)

    def set(self, value: str, tooltip: str = "") -> None:
        self.value.setText(value)
        self.setToolTip(tooltip)


class StatCards(QWidget):
    """Cards in a grid of ``columns``; ``set(key, text)`` fills one."""

    def __init__(self, items, columns: int = 3, parent=None):
        super().__init__(parent)
        self.cards: dict[str, StatCard] = {}
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(4)
        for i, (key, caption, color) in enumerate(items):
            card = StatCard(caption, color, self)
            self.cards[key] = card
            grid.addWidget(card, i // columns, i % columns)

    def set(self, key: str, text: str, tooltip: str = "") -> None:
        self.cards[key].set(text, tooltip)

    def text(self, key: str) -> str:
        return self.cards[key].value.text()
