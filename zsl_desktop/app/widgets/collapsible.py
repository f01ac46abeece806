"""A titled section whose body folds away (attribute groups in the class editor)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QToolButton, QVBoxLayout, QWidget

from zsl_desktop.app import theme


class CollapsibleSection(QWidget):
    toggled = Signal(bool)

    def __init__(self, title: str, parent=None, expanded: bool = False):
        super().__init__(parent)
        self.button = QToolButton(self)
        self.button.setText(title)
        self.button.setCheckable(True)
        self.button.setChecked(expanded)
        self.button.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        self.button.setArrowType(Qt.DownArrow if expanded else Qt.RightArrow)
        self.button.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.button.setStyleSheet(
            f"QToolButton {{ background: transparent; border: none; font-weight: 600; color: {theme.TEXT};"
            f" text-align: left; padding: 5px 2px; }} QToolButton:checked {{ background: transparent; }}"
        )
        self.badge = QLabel("", self)
        self.badge.setObjectName("hint")
        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 6, 0)
        header.addWidget(self.button, 1)
        header.addWidget(self.badge)
        self.body = QFrame(self)
        self.body_layout = QVBoxLayout(self.body)
        self.body_layout.setContentsMargins(18, 0, 4, 6)
        self.body_layout.setSpacing(2)
        self.body.setVisible(expanded)
        line = QFrame(self)
        line.setFrameShape(QFrame.HLine)
        line.setStyleSheet(f"color: {theme.BORDER};")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(header)
        layout.addWidget(self.body)
        layout.addWidget(line)
        self.button.toggled.connect(self.set_expanded)

    def set_expanded(self, expanded: bool) -> None:
        self.button.blockSignals(True)
        self.button.setChecked(expanded)
        self.button.blockSignals(False)
        self.button.setArrowType(Qt.DownArrow if expanded else Qt.RightArrow)
        self.body.setVisible(expanded)
        self.toggled.emit(expanded)

    @property
    def expanded(self) -> bool:
        return self.button.isChecked()

    def add_widget(self, widget: QWidget) -> None:
        self.body_layout.addWidget(widget)
