"""An image with an attention map blended on top, plus the slot for part boxes and crops.

The map arrives on the feature grid (7x7 for EfficientNet at 224 px); it is
upsampled bilinearly in numpy (align_corners=False, matching
``engine.attention.upsample_attention``) to the displayed image, normalised
to 0-1, coloured with a lookup table and drawn with the chosen opacity.
Over it go the marks of ``overlay_marks``: the map's peak, the annotated
part locations (the shown attribute's part emphasised) and SGMA's part
boxes, each with a label that never covers another.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from zsl_desktop.app import theme
from zsl_desktop.app.widgets.overlay_marks import layout_marks, mark_at, paint_marks, peak_to_part
from zsl_desktop.engine.localisation import RADIUS, peak_location

EXPORT_MIN_SIDE = 720  # exports are scaled up to at least this (labels stay small beside a 256 px image)
CAPTION_HEIGHT = 40  # two lines under the image
COLORMAPS = ("inferno", "viridis", "magma", "turbo", "plasma", "cividis")
_LUTS: dict[str, np.ndarray] = {}


def lut(name: str) -> np.ndarray:
    """[256, 3] uint8 lookup table of a pyqtgraph colour map."""
    if name not in _LUTS:
        import pyqtgraph as pg

        table = pg.colormap.get(name).getLookupTable(nPts=256, alpha=False)
        _LUTS[name] = np.ascontiguousarray(np.asarray(table, dtype=np.uint8)[:, :3])
    return _LUTS[name]


def upsample(grid_map: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear [h, w] -> [height, width] with cell-centred sampling (align_corners=False)."""
    m = np.asarray(grid_map, dtype=np.float32)
    h, w = m.shape

    def coords(n_out, n_in):
        x = (np.arange(n_out, dtype=np.float32) + 0.5) * (n_in / n_out) - 0.5
        x = np.clip(x, 0, n_in - 1)
        lo = np.floor(x).astype(np.int64)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, (x - lo).astype(np.float32)

    y0, y1, fy = coords(height, h)
    x0, x1, fx = coords(width, w)
    top = m[y0][:, x0] * (1 - fx) + m[y0][:, x1] * fx
    bottom = m[y1][:, x0] * (1 - fx) + m[y1][:, x1] * fx
    return top * (1 - fy)[:, None] + bottom * fy[:, None]


def normalise(m: np.ndarray) -> np.ndarray:
    lo, hi = float(np.min(m)), float(np.max(m))
    return (m - lo) / (hi - lo) if hi - lo > 1e-12 else np.zeros_like(m)


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """A deep-copied QImage from a uint8 [H, W, 3] array (the array may be freed afterwards)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format_RGB888).copy()


def heatmap_rgba(grid_map: np.ndarray, height: int, width: int, cmap: str) -> QImage:
    """The coloured map as an RGBA image; alpha grows with the value so low attention stays clear."""
    values = normalise(upsample(grid_map, height, width))
    colors = lut(cmap)[np.clip((values * 255).astype(np.int32), 0, 255)]
    alpha = np.clip(40 + values * 215, 0, 255).astype(np.uint8)
    rgba = np.ascontiguousarray(np.dstack([colors, alpha]))
    return QImage(rgba.data, width, height, 4 * width, QImage.Format_RGBA8888).copy()


def view_square(rect: QRectF) -> QRectF:
    """The part of an image the backbone saw: its centre square (``backbones.preprocess`` crops it).

    Attention maps and part boxes live in this square, not in the whole (possibly oblong) image.
    """
    side = min(rect.width(), rect.height())
    return QRectF(rect.center().x() - side / 2, rect.center().y() - side / 2, side, side)


class OverlayCanvas(QWidget):
    """Paints the image aspect-fit with the current attention map; empty-state text when there is none."""

    clicked = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setMinimumSize(240, 200)
        self.setMouseTracking(True)  # tooltips name the dot under the pointer
        self._rgb: np.ndarray | None = None
        self._image: QImage | None = None
        self._map: np.ndarray | None = None
        self._heat: QImage | None = None
        self._opacity = 0.55
        self._cmap = "inferno"
        self._caption = ""
        self._empty = "Select an image in the gallery"
        self._boxes: np.ndarray | None = None
        self._points: list[tuple[float, float, str]] = []  # ground-truth part dots (x, y in [0,1], name)
        self._focus: tuple[str, ...] = ()  # part names the shown attribute describes (crown colour -> crown)
        self._peak: tuple[float, float] | None = None  # the map's maximum, in [0, 1] of the view square

    # -- state ----------------------------------------------------------------------------------
    def set_image(self, rgb: np.ndarray | None) -> None:
        self._rgb = rgb
        self._image = rgb_to_qimage(rgb) if rgb is not None else None
        self._heat = None
        self.update()

    def set_map(self, grid_map: np.ndarray | None, caption: str = "") -> None:
        self._map = None if grid_map is None else np.asarray(grid_map, dtype=np.float32)
        self._peak = None if self._map is None or np.ptp(self._map) <= 1e-12 else peak_location(self._map)
        self._caption = caption
        self._heat = None
        self.update()

    def set_opacity(self, opacity: float) -> None:
        self._opacity = float(opacity)
        self.update()

    def set_colormap(self, name: str) -> None:
        self._cmap = name
        self._heat = None
        self.update()

    def set_empty_text(self, text: str) -> None:
        self._empty = text
        self.update()

    def set_part_boxes(self, boxes: np.ndarray | None) -> None:
        """SGMA slot: part boxes [P, 4] (x0, y0, x1, y1 in 0-1 of the model's view square)."""
        self._boxes = boxes
        self.update()

    def set_part_points(self, points, focus=()) -> None:
        """Annotated part locations (x, y in [0, 1] of the image, name); ``focus`` names are emphasised."""
        self._points = list(points or [])
        self._focus = tuple(focus)
        self.update()

    @property
    def peak(self) -> tuple[float, float] | None:
        """Where the shown map peaks, (x, y) in [0, 1] of the model's view square."""
        return self._peak

    def marks(self, target: QRectF | None = None) -> list:
        """What is drawn over the image (peak, parts, boxes) with its label boxes, for ``target``."""
        if self._image is None:
            return []
        target = self._target() if target is None else target
        peak = self._peak if self._map is not None and self._opacity > 0 else None
        return layout_marks(target, view_square(target), self.font(), peak, self._points, self._focus, self._boxes)

    def caption_text(self, marks=None) -> str:
        """The caption, plus how far the peak is from the named part when that part is annotated."""
        distance = peak_to_part(self.marks() if marks is None else marks, view_square(self._target()))
        if distance is None or not self._caption:
            return self._caption
        name, d = distance
        return f"{self._caption}  ·  peak {d:.2f} of the view from the {name} (≤ {RADIUS:.2f}: on it)"

    @property
    def has_image(self) -> bool:
        return self._image is not None

    def export_scale(self) -> int:
        """Whole-number factor for exports: small images are scaled up so the marks' labels fit beside them."""
        if self._image is None:
            return 1
        side = min(self._image.width(), self._image.height())
        return max(1, -(-EXPORT_MIN_SIDE // max(side, 1)))

    def composed(self) -> QImage | None:
        """The image with the map and every mark, as on screen, at its own resolution times export_scale()."""
        if self._image is None:
            return None
        k = self.export_scale()
        base = QImage(self._image.width() * k, self._image.height() * k, QImage.Format_ARGB32)
        painter = QPainter(base)
        painter.setRenderHint(QPainter.SmoothPixmapTransform)
        painter.setRenderHint(QPainter.Antialiasing)
        self._paint_image(painter, QRectF(0, 0, base.width(), base.height()), outline_view=False)
        painter.end()
        return base

    # -- painting ---------------------------------------------------------------------------------
    def sizeHint(self) -> QSize:
        return QSize(560, 520)

    def _target(self) -> QRectF:
        w, h = self._image.width(), self._image.height()
        area = QRectF(self.rect()).adjusted(12, 12, -12, -(CAPTION_HEIGHT + 12))
        scale = min(area.width() / w, area.height() / h)
        tw, th = w * scale, h * scale
        return QRectF(area.center().x() - tw / 2, area.top() + (area.height() - th) / 2, tw, th)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.SmoothPixmapTransform)
        painter.setRenderHint(QPainter.Antialiasing)
        painter.fillRect(self.rect(), QColor(theme.PANEL))
        if self._image is None:
            painter.setPen(QColor(theme.DIM))
            f = QFont(self.font())
            f.setPointSizeF(12)
            painter.setFont(f)
            painter.drawText(self.rect(), Qt.AlignCenter | Qt.TextWordWrap, self._empty)
            return
        target = self._target()
        marks = self._paint_image(painter, target)
        painter.setPen(QColor(theme.DIM))
        painter.drawText(
            QRectF(8, self.height() - CAPTION_HEIGHT - 6, self.width() - 16, CAPTION_HEIGHT),
            Qt.AlignCenter | Qt.TextWordWrap,
            self.caption_text(marks),
        )

    def _paint_image(self, painter: QPainter, target: QRectF, outline_view: bool = True) -> list:
        """The image in ``target``, the map on the view square, then the marks; returns the marks."""
        painter.drawImage(target, self._image)
        view = view_square(target)
        if self._map is not None and self._opacity > 0:
            if self._heat is None:
                side = min(self._image.width(), self._image.height())
                self._heat = heatmap_rgba(self._map, side, side, self._cmap)
            painter.setOpacity(self._opacity)
            painter.drawImage(view, self._heat)
            painter.setOpacity(1.0)
            if outline_view and abs(target.width() - target.height()) > 2:  # where the model's view ends
                painter.setPen(QPen(QColor(255, 255, 255, 70), 1, Qt.DashLine))
                painter.setBrush(Qt.NoBrush)
                painter.drawRect(view)
        marks = self.marks(target)
        paint_marks(painter, marks, self.font())
        return marks

    def mouseMoveEvent(self, event) -> None:
        mark = mark_at(self.marks(), event.position())
        if mark is None:
            QToolTip.hideText()
        else:
            tip = "attention peak" if mark.kind == "peak" else f"{mark.text} (annotated)"
            QToolTip.showText(event.globalPosition().toPoint(), tip, self)
        super().mouseMoveEvent(event)

    def mousePressEvent(self, event) -> None:
        self.clicked.emit()
        super().mousePressEvent(event)
