"""What is drawn over the attention map: its peak, annotated part locations and SGMA part boxes.

Why: a blurred 7x7 map alone makes it hard to judge *where* the model
looked. The peak marker is the exact point the localisation score uses
(``engine.localisation.peak_location``), and the annotated location of the
part the shown attribute describes (crown colour -> crown) is drawn larger,
so the distance between the two can be read at a glance. Every label is a
small pill placed by ``label_placement`` so that no two overlap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSizeF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPen

from zsl_desktop.app import theme
from zsl_desktop.app.widgets.label_placement import LabelRequest, place_labels

PART_COLORS = (theme.LOOSE, "#ffb454", "#c792ea", "#ff7eb6", "#82aaff", "#f78c6c", "#e6e8ee", "#5fd38d")
DOT_RADIUS = 3.5
FOCUS_RADIUS = 6.0
PEAK_RADIUS = 9.0


def part_color(index: int) -> str:
    """The colour of SGMA part ``index`` (its box, its label and its crop's frame)."""
    return PART_COLORS[index % len(PART_COLORS)]


def short_part_name(name: str) -> str:
    """'left eye' -> 'L eye': CUB's part names, short enough to label 15 points on a small bird."""
    return name.replace("left ", "L ").replace("right ", "R ")


@dataclass(frozen=True)
class Mark:
    kind: str  # "peak", "focus" (the shown attribute's part), "part" or "box"
    text: str
    anchor: QPointF
    color: str
    label: QRectF | None = None  # where its text goes; None when there was no room
    box: QRectF | None = None  # SGMA: the part's box


def label_font(base: QFont, bold: bool = False) -> QFont:
    font = QFont(base)
    font.setPointSizeF(9.0)
    font.setBold(bold)
    return font


def _label_size(font: QFont, text: str) -> QSizeF:
    metrics = QFontMetricsF(font)
    return QSizeF(metrics.horizontalAdvance(text) + 10, metrics.height() + 4)


def layout_marks(target: QRectF, view: QRectF, font: QFont, peak=None, points=(), focus=(), boxes=None) -> list[Mark]:
    """Every mark with its label box, labels placed without overlap.

    ``target``: the image on screen; ``view``: the centre square the backbone saw (where maps and boxes
    live); ``peak``: (x, y) in [0, 1] of ``view``; ``points``: (x, y in [0, 1] of the image, part name);
    ``focus``: part names tied to the shown attribute; ``boxes``: [P, 4] in [0, 1] of ``view``.
    """
    marks: list[Mark] = []
    requests: list[LabelRequest] = []
    keep_out: list[QRectF] = []
    bold = label_font(font, True)
    plain = label_font(font)

    def dot_rect(c: QPointF, r: float) -> QRectF:
        return QRectF(c.x() - r, c.y() - r, 2 * r, 2 * r)

    if boxes is not None:
        for i, (x0, y0, x1, y1) in enumerate(np.asarray(boxes, dtype=float)):
            r = QRectF(
                view.left() + x0 * view.width(),
                view.top() + y0 * view.height(),
                (x1 - x0) * view.width(),
                (y1 - y0) * view.height(),
            )
            text = f"part {i + 1}"
            marks.append(Mark("box", text, r.topLeft(), part_color(i), box=r))
            requests.append(LabelRequest(r.topLeft(), _label_size(bold, text), 50 - i, 2.0))
    if peak is not None:
        c = QPointF(view.left() + peak[0] * view.width(), view.top() + peak[1] * view.height())
        marks.append(Mark("peak", "peak", c, theme.TEXT))
        requests.append(LabelRequest(c, _label_size(bold, "peak"), 100, PEAK_RADIUS + 4))
        keep_out.append(dot_rect(c, PEAK_RADIUS + 2))
    focus = set(focus)
    for x, y, name in points:
        c = QPointF(target.left() + x * target.width(), target.top() + y * target.height())
        tied = name in focus
        text = short_part_name(name)
        marks.append(Mark("focus" if tied else "part", text, c, theme.ACCENT if tied else theme.LOOSE))
        radius = FOCUS_RADIUS if tied else DOT_RADIUS
        requests.append(LabelRequest(c, _label_size(bold if tied else plain, text), 90 if tied else 0, radius + 3))
        keep_out.append(dot_rect(c, radius + 1))
    boxes_out = place_labels(requests, target, keep_out, rings=3)  # farther away a label names nothing
    return [Mark(m.kind, m.text, m.anchor, m.color, label, m.box) for m, label in zip(marks, boxes_out)]


def paint_marks(painter: QPainter, marks: list[Mark], font: QFont) -> None:
    """Boxes, then dots and the peak marker, then the label pills on top of everything."""
    painter.save()
    painter.setRenderHint(QPainter.Antialiasing)
    shadow = QColor(0, 0, 0, 170)
    for m in marks:
        if m.kind == "box":
            painter.setBrush(Qt.NoBrush)
            painter.setPen(QPen(shadow, 4))
            painter.drawRect(m.box)
            painter.setPen(QPen(QColor(m.color), 2))
            painter.drawRect(m.box)
    for m in marks:
        if m.kind in ("part", "focus"):
            radius = FOCUS_RADIUS if m.kind == "focus" else DOT_RADIUS
            painter.setPen(QPen(QColor("#0b1220"), 1.5))
            painter.setBrush(QColor(m.color))
            painter.drawEllipse(m.anchor, radius, radius)
            if m.kind == "focus":
                painter.setBrush(Qt.NoBrush)
                painter.setPen(QPen(QColor(theme.TEXT), 1.5))
                painter.drawEllipse(m.anchor, radius + 2.5, radius + 2.5)
        elif m.kind == "peak":
            painter.setBrush(Qt.NoBrush)
            for pen in (QPen(shadow, 4), QPen(QColor(theme.TEXT), 2)):
                painter.setPen(pen)
                painter.drawEllipse(m.anchor, PEAK_RADIUS, PEAK_RADIUS)
                for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                    painter.drawLine(
                        m.anchor + QPointF(dx * (PEAK_RADIUS - 4), dy * (PEAK_RADIUS - 4)),
                        m.anchor + QPointF(dx * (PEAK_RADIUS + 4), dy * (PEAK_RADIUS + 4)),
                    )
    for m in marks:  # a faint leader from a part's dot to a label placed away from it
        if m.kind in ("part", "focus") and m.label is not None:
            end = QPointF(
                min(max(m.anchor.x(), m.label.left()), m.label.right()),
                min(max(m.anchor.y(), m.label.top()), m.label.bottom()),
            )
            radius = FOCUS_RADIUS if m.kind == "focus" else DOT_RADIUS
            if np.hypot(end.x() - m.anchor.x(), end.y() - m.anchor.y()) > radius + 6:
                painter.setPen(QPen(QColor(230, 232, 238, 150), 1))
                painter.drawLine(m.anchor, end)
    for m in marks:
        if m.label is None:
            continue
        emphasised = m.kind in ("peak", "focus", "box")
        painter.setFont(label_font(font, emphasised))
        painter.setPen(QPen(QColor(m.color), 1))
        painter.setBrush(QColor(22, 24, 29, 215))
        painter.drawRoundedRect(m.label, 4, 4)
        painter.setPen(QColor(theme.TEXT if m.kind != "box" else m.color))
        painter.drawText(m.label, Qt.AlignCenter, m.text)
    painter.restore()


def mark_at(marks: list[Mark], point: QPointF, reach: float = 8.0) -> Mark | None:
    """The dot or peak marker under ``point`` (for a tooltip naming a part whose label had no room)."""
    near = [
        m
        for m in marks
        if m.kind in ("part", "focus", "peak") and np.hypot(m.anchor.x() - point.x(), m.anchor.y() - point.y()) <= reach
    ]
    return min(near, key=lambda m: np.hypot(m.anchor.x() - point.x(), m.anchor.y() - point.y()), default=None)


def peak_to_part(marks: list[Mark], view: QRectF) -> tuple[str, float] | None:
    """(part name, distance) from the peak to the nearest focus part, as a fraction of the view's side.

    The same units as the localisation score's hit radius (0.15 of the crop side).
    """
    peak = next((m for m in marks if m.kind == "peak"), None)
    parts = [m for m in marks if m.kind == "focus"]
    if peak is None or not parts or view.width() <= 0:
        return None

    def distance(m: Mark) -> float:
        d = m.anchor - peak.anchor
        return float(np.hypot(d.x(), d.y()))

    best = min(parts, key=distance)
    return best.text, distance(best) / view.width()
