"""Greedy placement of text labels next to points so that no two labels overlap.

Why: the 15 annotated parts of a bird sit within a few pixels of each other
around the head, and SGMA's part boxes often share a corner; labels drawn at
a fixed offset pile up and none can be read. Each label tries a ring of
positions around its anchor, nearest first, and takes the first one that
stays inside the bounds and clear of every label (and keep-out rectangle)
already placed. Labels are placed in priority order; one that finds no room
is left out (its point is still drawn), never drawn over another.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSizeF


@dataclass(frozen=True)
class LabelRequest:
    anchor: QPointF  # the point the label names
    size: QSizeF  # the label's box (text plus padding)
    priority: int = 0  # higher is placed first, so it always gets the best spot
    gap: float = 5.0  # distance from the anchor (clear of the marker drawn there)


def _candidates(anchor: QPointF, size: QSizeF, gap: float, rings: int):
    """Label boxes around ``anchor``: right, left, above, below, the diagonals, then further out."""
    w, h = size.width(), size.height()
    x, y = anchor.x(), anchor.y()
    for ring in range(rings):
        d = gap + ring * (h + gap)
        yield QRectF(x + d, y - h / 2, w, h)  # right
        yield QRectF(x - d - w, y - h / 2, w, h)  # left
        yield QRectF(x - w / 2, y - d - h, w, h)  # above
        yield QRectF(x - w / 2, y + d, w, h)  # below
        yield QRectF(x + d, y - d - h, w, h)  # above right
        yield QRectF(x - d - w, y - d - h, w, h)  # above left
        yield QRectF(x + d, y + d, w, h)  # below right
        yield QRectF(x - d - w, y + d, w, h)  # below left


def place_labels(requests, bounds: QRectF, keep_out=(), rings: int = 4) -> list:
    """One QRectF (or None where there is no room) per request, in the requests' order.

    The returned rectangles never intersect each other nor ``keep_out`` and lie inside ``bounds``.
    """
    placed: list[QRectF] = []
    blocked = [QRectF(r) for r in keep_out]
    out: list[QRectF | None] = [None] * len(requests)
    order = sorted(range(len(requests)), key=lambda i: -requests[i].priority)
    for i in order:
        request = requests[i]
        for box in _candidates(request.anchor, request.size, request.gap, rings):
            if not bounds.contains(box):
                continue
            if any(box.intersects(other) for other in placed) or any(box.intersects(b) for b in blocked):
                continue
            placed.append(box)
            out[i] = box
            break
    return out
