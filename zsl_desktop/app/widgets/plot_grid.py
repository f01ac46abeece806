"""A plot's faint grid in opaque colours, drawn behind the data: the same look, a fraction of the painting.

Why: pyqtgraph draws the grid as its axes' tick lines stretched over the view, in the axis colour at a low
alpha. Qt's raster engine (the app's, and the offscreen one) blends such lines far more slowly than it fills
opaque ones: 120 one-pixel lines replayed from a QPicture took 4.5 ms at alpha 30 against 0.8 ms opaque
(busy 2-core machine, thread CPU). The axes repaint whenever a training curve grows the view, five times a
second, so the grid was about half of each loss-plot repaint (~4 of ~8 ms of the GUI thread), in the frames
that set the frame gap max while training (issue #19; docs/history/performance.md, session 16).

So each grid line's translucent colour is mixed with the plot's background beforehand (``opaque_over``) and
drawn opaque; the axes go behind the data (under the ViewBox), so a line no longer covers the curves it
crosses (before, it lay over them at 12 %).
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QColor, QPen


def opaque_over(color: QColor, background: QColor) -> QColor:
    """``color`` (with its alpha) as it looks over an opaque ``background``, as an opaque colour."""
    a = color.alphaF()
    mix = [a * c + (1 - a) * b for c, b in zip(color.getRgbF()[:3], background.getRgbF()[:3])]
    return QColor.fromRgbF(*mix, 1.0)


OPAQUE_PENS_KEPT = 64


class OpaqueGridAxis(pg.AxisItem):
    """An AxisItem whose tick and grid lines are drawn in opaque colours mixed over ``background``."""

    def __init__(self, orientation: str, background: str | QColor = "#000000", **kwargs):
        super().__init__(orientation, **kwargs)
        self.background = QColor(background)
        # By the translucent pen's colour and width: one per tick level, but the levels' alphas follow the ticks'
        # density, so a growing view brings new ones (at most OPAQUE_PENS_KEPT kept).
        self._opaque_pens: dict[tuple[int, float], QPen] = {}

    def set_background(self, background: str | QColor) -> None:
        self.background = QColor(background)
        self._opaque_pens = {}
        self.picture = None  # redrawn with the new colours
        self.update()

    def generateDrawSpecs(self, p):
        specs = super().generateDrawSpecs(p)
        if specs is None:
            return None
        axis_spec, tick_specs, text_specs = specs
        opaque_ticks = []
        for pen, p1, p2 in tick_specs:
            color = pen.color()
            if color.alpha() < 255:
                key = (color.rgba(), pen.widthF())
                if key not in self._opaque_pens:
                    if len(self._opaque_pens) >= OPAQUE_PENS_KEPT:
                        self._opaque_pens.clear()
                    self._opaque_pens[key] = QPen(pen)
                    self._opaque_pens[key].setColor(opaque_over(color, self.background))
                pen = self._opaque_pens[key]
            opaque_ticks.append((pen, p1, p2))
        return axis_spec, opaque_ticks, text_specs


def opaque_grid(plot_item, alpha: float, background: str) -> None:
    """Show ``plot_item``'s grid at ``alpha``, opaque over ``background`` and behind the data: its left and bottom
    axes become ``OpaqueGridAxis`` (one built so, such as ``IntegerAxis``, is kept and given the background)."""
    replaced = {}
    for name in ("left", "bottom"):
        axis = plot_item.getAxis(name)
        if isinstance(axis, OpaqueGridAxis):
            axis.set_background(background)
        else:
            replaced[name] = OpaqueGridAxis(name, background)
    if replaced:
        plot_item.setAxisItems(replaced)
    plot_item.showGrid(x=True, y=True, alpha=alpha)
    behind_the_data = plot_item.getViewBox().zValue() - 1  # pyqtgraph: the ViewBox at -100, its axes over it at 0.5
    for name in ("left", "bottom"):
        plot_item.getAxis(name).setZValue(behind_the_data)
