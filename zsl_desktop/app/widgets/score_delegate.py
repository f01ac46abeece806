"""How the image view's attribute list draws a row: the attribute's label over a faint bar as long as its score.

Why apart from the panel: it is paint code only; the panel fills each row's text ("label<TAB>score") and its
score as a fraction of the list's range under ``ScoreRole``.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QStyle, QStyledItemDelegate

from zsl_desktop.app import theme

ScoreRole = Qt.UserRole + 10  # a row's score, 0..1 of the list's range: the bar's length


class ScoreBarDelegate(QStyledItemDelegate):
    """Attribute label over a faint bar proportional to its score."""

    def sizeHint(self, option, index) -> QSize:
        return QSize(200, 26)

    def paint(self, painter: QPainter, option, index) -> None:
        painter.save()
        r = option.rect.adjusted(2, 2, -2, -2)
        selected = bool(option.state & QStyle.State_Selected)
        painter.setRenderHint(QPainter.Antialiasing)
        painter.setPen(Qt.NoPen)
        painter.setBrush(QColor("#1f3a4d" if selected else theme.BASE))
        painter.drawRoundedRect(r, 4, 4)
        fraction = float(index.data(ScoreRole) or 0.0)
        bar = QRect(r.left(), r.top(), int(r.width() * max(0.0, min(1.0, fraction))), r.height())
        color = QColor(theme.ACCENT)
        color.setAlpha(60 if not selected else 110)
        painter.setBrush(color)
        painter.drawRoundedRect(bar, 4, 4)
        painter.setPen(QColor(theme.TEXT))
        text = index.data(Qt.DisplayRole) or ""
        label, _, score = text.rpartition("\t")
        painter.drawText(
            r.adjusted(8, 0, -60, 0),
            Qt.AlignVCenter | Qt.AlignLeft,
            painter.fontMetrics().elidedText(label, Qt.ElideRight, r.width() - 70),
        )
        painter.setPen(QColor(theme.DIM))
        painter.drawText(r.adjusted(0, 0, -8, 0), Qt.AlignVCenter | Qt.AlignRight, score)
        painter.restore()
