"""How the gallery draws a thumbnail cell: a kind-coloured frame, a correct/wrong badge, marks and the rank chip.

Cells are drawn once into cached pixmaps (``ThumbDelegate.paint`` says why); the model
hands everything a cell shows in one ``PaintRole`` call.
"""

from __future__ import annotations

import math
from collections import OrderedDict

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPixmap
from PySide6.QtWidgets import QStyle, QStyledItemDelegate

from zsl_desktop.app import theme
from zsl_desktop.app.widgets.thumbnails import THUMB, PaintRole

CELL_CACHE = 600  # drawn cells kept (~60 KB each): several screens of a scroll back and forth


MARK_COLORS = {True: theme.CORRECT, False: theme.WRONG}  # "is this" / "is not this"


def paint_mark(painter: QPainter, box: QRect, positive: bool, font: QFont) -> None:
    """A thick frame and a chip ("✓ this" / "✗ not this") on a thumbnail marked for the edited class."""
    color = QColor(MARK_COLORS[positive])
    pen = painter.pen()
    pen.setColor(color)
    pen.setWidth(3)
    painter.setPen(pen)
    painter.setBrush(Qt.NoBrush)
    painter.drawRoundedRect(box.adjusted(1, 1, -2, -2), 3, 3)
    chip = QRect(box.left() + 3, box.bottom() - 22, 64 if positive else 80, 17)
    painter.setPen(Qt.NoPen)
    painter.setBrush(color)
    painter.drawRoundedRect(chip, 3, 3)
    painter.setPen(QColor("#0b1220"))
    f = QFont(font)
    f.setBold(True)
    f.setPointSizeF(8)
    painter.setFont(f)
    painter.drawText(chip, Qt.AlignCenter, "✓ this" if positive else "✗ not this")


def probability_text(log_probability: float) -> str:
    """The ranking chip: the edited class's calibrated probability for this image (from its log)."""
    p = math.exp(min(log_probability, 0.0))
    return "<1%" if p < 0.005 else f"{p:.0%}"


class ThumbDelegate(QStyledItemDelegate):
    """Thumbnail with a kind-coloured frame, a correct/wrong badge and, when ranking, the score."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.show_rank = False
        self.cell = QSize(THUMB + 14, THUMB + 30)
        self._fonts: tuple = (None, None)  # (the view's font key, (badge, chip, name) fonts): made once, not per paint
        self._cells: OrderedDict[tuple, QPixmap] = OrderedDict()  # drawn cells, most recently painted last

    def fonts(self, base: QFont) -> tuple[QFont, QFont, QFont]:
        """The badge's, the rank chip's and the name's fonts, derived from the view's font once."""
        key, fonts = self._fonts
        if key != base.key():
            chip = QFont(base)
            chip.setPointSizeF(8)
            badge = QFont(chip)
            badge.setBold(True)
            name = QFont(base)
            name.setPointSizeF(8.5)
            fonts = (badge, chip, name)
            self._fonts = (base.key(), fonts)
        return fonts

    def sizeHint(self, option, index) -> QSize:
        return self.cell

    def paint(self, painter: QPainter, option, index) -> None:
        """The cell's picture from the cache (drawn once per thumbnail, prediction, mark, name and state),
        then the rank chip, which changes with every slider move.

        Why cached: drawing a cell is ~25 Qt calls from Python, and with 100,000 images the gallery
        repaints ~20 new cells a frame while it scrolls (9-11 ms of GUI CPU a frame before)."""
        r = option.rect.adjusted(3, 3, -3, -3)
        selected = bool(option.state & QStyle.State_Selected)
        hover = bool(option.state & QStyle.State_MouseOver)
        pm, kind, correct, mark, score, name = index.data(PaintRole)
        painter.save()
        painter.setRenderHint(QPainter.Antialiasing)
        if selected or hover:
            painter.setPen(Qt.NoPen)
            painter.setBrush(QColor("#1f3a4d" if selected else theme.ALT))
            painter.drawRoundedRect(r, 7, 7)
        ratio = painter.device().devicePixelRatioF() if painter.device() is not None else 1.0
        picture = pm.cacheKey() if pm is not None else 0
        key = (picture, kind, correct, mark, name, selected, r.width(), r.height(), ratio, option.font.key())
        cell = self._cells.get(key)
        if cell is None:
            cell = QPixmap(round(r.width() * ratio), round(r.height() * ratio))
            cell.setDevicePixelRatio(ratio)
            cell.fill(Qt.transparent)
            cell_painter = QPainter(cell)
            cell_painter.setRenderHint(QPainter.Antialiasing)
            self._paint_cell(
                cell_painter, QRect(0, 0, r.width(), r.height()), option.font, pm, kind, correct, mark, name, selected
            )
            cell_painter.end()
            self._cells[key] = cell
            while len(self._cells) > CELL_CACHE:
                self._cells.popitem(last=False)
        else:
            self._cells.move_to_end(key)
        painter.drawPixmap(r.topLeft(), cell)
        if self.show_rank and score is not None:
            box = thumbnail_box(r)
            chip = QRect(box.left() + 3, box.top() + 3, 46, 16)
            painter.setPen(Qt.NoPen)
            painter.setBrush(QColor(0, 0, 0, 170))
            painter.drawRoundedRect(chip, 3, 3)
            painter.setPen(QColor(theme.DRAFT))
            painter.setFont(self.fonts(option.font)[1])
            painter.drawText(chip, Qt.AlignCenter, probability_text(score))
        painter.restore()

    def _paint_cell(self, painter: QPainter, r: QRect, font, pm, kind, correct, mark, name, selected) -> None:
        """Everything of a cell but its background and the rank chip, in ``r``."""
        badge_font, _, name_font = self.fonts(font)
        box = thumbnail_box(r)
        if pm is not None:
            scaled = pm.size().scaled(box.size(), Qt.KeepAspectRatio)
            target = QRect(0, 0, scaled.width(), scaled.height())
            target.moveCenter(box.center())
            painter.drawPixmap(target, pm)
        color = QColor(theme.KIND_COLORS.get(kind, theme.DIM))
        painter.setBrush(Qt.NoBrush)
        painter.setPen(color if not selected else QColor(theme.TEXT))
        painter.drawRoundedRect(box.adjusted(0, 0, -1, -1), 3, 3)
        # kind stripe
        painter.fillRect(QRect(box.left(), box.bottom() - 3, box.width(), 4), color)
        if correct is not None:
            badge = QRect(box.right() - 19, box.top() + 3, 16, 16)
            painter.setPen(Qt.NoPen)
            painter.setBrush(QColor(theme.CORRECT if correct else theme.WRONG))
            painter.drawEllipse(badge)
            painter.setPen(QColor("#0b1220"))
            painter.setFont(badge_font)
            painter.drawText(badge, Qt.AlignCenter, "✓" if correct else "✗")
        if mark:
            paint_mark(painter, box, mark > 0, font)
        painter.setPen(QColor(theme.TEXT if selected else theme.DIM))
        painter.setFont(name_font)
        text_rect = QRect(r.left() + 2, box.bottom() + 4, r.width() - 4, 18)
        text = painter.fontMetrics().elidedText(str(name).replace("_", " "), Qt.ElideRight, text_rect.width())
        painter.drawText(text_rect, Qt.AlignHCenter | Qt.AlignTop, text)


def thumbnail_box(cell: QRect) -> QRect:
    """Where a cell's thumbnail goes: centred, at the top."""
    return QRect(cell.left() + (cell.width() - THUMB) // 2, cell.top() + 4, THUMB, THUMB)
