"""A horizontal bar chart of the top-k classes, painted directly.

Why custom painting rather than a plot item: each row carries a kind chip
(seen / unseen / yours / editing), the class name inside the row, the
probability bar and the raw score beside it, which reads better than axis
tick labels and costs well under a millisecond to repaint.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from zsl_desktop.app import theme


@dataclass(frozen=True)
class BarRow:
    name: str
    kind: str  # seen | unseen | user | draft
    probability: float
    raw: float
    calibrated: float
    is_truth: bool = False


class PredictionBars(QWidget):
    """Rows of (chip, name, bar, percentage, raw score); clicking a row emits its class name."""

    row_clicked = Signal(str)
    ROW = 26

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[BarRow] = []
        self._message = ""
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)
        self.setMouseTracking(True)
        self._hover = -1

    def set_rows(self, rows: list[BarRow]) -> None:
        self.rows = list(rows)
        self._message = ""
        self.updateGeometry()
        self.update()

    def set_message(self, text: str) -> None:
        self.rows = []
        self._message = text
        self.updateGeometry()
        self.update()

    @property
    def message(self) -> str:
        return self._message

    def sizeHint(self) -> QSize:
        return QSize(360, max(4, len(self.rows) or 4) * self.ROW + 12)

    def minimumSizeHint(self) -> QSize:
        return QSize(260, 5 * self.ROW + 12)

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        p.fillRect(self.rect(), QColor(theme.PANEL))
        if not self.rows:
            p.setPen(QColor(theme.DIM))
            p.drawText(self.rect().adjusted(16, 8, -16, -8), Qt.AlignCenter | Qt.TextWordWrap, self._message)
            return
        self.paint_rows(p, self.width())

    def paint_rows(self, p: QPainter, width: float) -> None:
        """Shared by the widget and the SVG/PNG export."""
        small = QFont(self.font())
        small.setPointSizeF(8)
        small.setBold(True)
        normal = QFont(self.font())
        bold = QFont(self.font())
        bold.setBold(True)
        fm = QFontMetrics(normal)
        chip_w, score_w = 58, 120
        bar_left = chip_w + 12
        bar_w = max(60.0, width - bar_left - score_w - 12)
        for i, row in enumerate(self.rows):
            y = 6 + i * self.ROW
            if i == self._hover:
                p.fillRect(QRectF(0, y - 2, width, self.ROW), QColor(theme.ALT))
            color = QColor(theme.KIND_COLORS.get(row.kind, theme.DIM))
            # chip
            chip = QRectF(6, y + 6, chip_w - 6, self.ROW - 16)
            p.setPen(Qt.NoPen)
            fill = QColor(color)
            fill.setAlpha(45)
            p.setBrush(fill)
            p.drawRoundedRect(chip, 4, 4)
            p.setPen(color)
            p.setFont(small)
            p.drawText(chip, Qt.AlignCenter, theme.KIND_LABELS.get(row.kind, row.kind))
            # bar track and bar
            track = QRectF(bar_left, y + 2, bar_w, self.ROW - 8)
            p.setPen(Qt.NoPen)
            p.setBrush(QColor(theme.BASE))
            p.drawRoundedRect(track, 5, 5)
            bar = QRectF(
                track.left(), track.top(), max(3.0, track.width() * max(0.0, min(1.0, row.probability))), track.height()
            )
            fill = QColor(color)
            fill.setAlpha(150 if i else 210)
            p.setBrush(fill)
            p.drawRoundedRect(bar, 5, 5)
            # name inside the track
            p.setFont(bold if i == 0 else normal)
            p.setPen(QColor(theme.TEXT))
            name = fm.elidedText(theme.display_name(row.name), Qt.ElideRight, int(track.width() - 16))
            if row.is_truth:
                name = "✓ " + name
            p.drawText(track.adjusted(8, 0, -8, 0), Qt.AlignVCenter | Qt.AlignLeft, name)
            # numbers
            p.setFont(normal)
            p.setPen(QColor(theme.TEXT))
            nums = QRectF(track.right() + 8, y, score_w, self.ROW - 4)
            p.drawText(nums, Qt.AlignVCenter | Qt.AlignLeft, f"{100 * row.probability:5.1f}%")
            p.setPen(QColor(theme.FAINT))
            p.drawText(nums.adjusted(54, 0, 0, 0), Qt.AlignVCenter | Qt.AlignLeft, f"{row.raw:+.3f}")

    def _row_at(self, y: float) -> int:
        i = int((y - 6) // self.ROW)
        return i if 0 <= i < len(self.rows) else -1

    def mouseMoveEvent(self, event) -> None:
        i = self._row_at(event.position().y())
        if i != self._hover:
            self._hover = i
            self.update()
        if i >= 0:
            r = self.rows[i]
            action = "edit it" if r.kind in ("user", "draft") else "show its images in the gallery"
            self.setToolTip(
                f"{r.name}\nprobability {100 * r.probability:.2f}%\nraw score {r.raw:+.4f}\n"
                f"calibrated {r.calibrated:+.4f} ({theme.KIND_LABELS.get(r.kind, r.kind)} class)\n"
                f"click to {action}"
            )

    def leaveEvent(self, event) -> None:
        self._hover = -1
        self.update()

    def mousePressEvent(self, event) -> None:
        i = self._row_at(event.position().y())
        if i >= 0:
            self.row_clicked.emit(self.rows[i].name)
