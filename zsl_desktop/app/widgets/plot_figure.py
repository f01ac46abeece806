"""Pieces that make a pyqtgraph plot a complete figure: integer axes, a legend and a footer below the data.

Why: a legend anchored inside the ViewBox covers the curves it explains, and
text kept in Qt widgets beside the plot is lost when the plot is exported.
The legend and the footer go into the PlotItem's own grid layout, under the
bottom axis (rows 4 and 5; pyqtgraph uses rows 0-3), so they never overlap
the data and every PNG/SVG export of the PlotItem includes them.
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from pyqtgraph.graphicsItems.LegendItem import ItemSample
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSizePolicy

from zsl_desktop.app import theme
from zsl_desktop.app.widgets.plot_grid import OpaqueGridAxis

LEGEND_ROW = 4
FOOTER_ROW = 5


class IntegerAxis(OpaqueGridAxis):
    """An axis whose ticks fall on whole numbers only (epochs): never "1.5"."""

    def tickValues(self, minVal, maxVal, size):
        levels = []
        for spacing, values in super().tickValues(minVal, maxVal, size):
            if spacing < 1:
                continue
            levels.append((spacing, [v for v in values if abs(v - round(v)) < 1e-9]))
        if not levels:  # zoomed in to less than a few units: every whole number in view
            low, high = math.ceil(min(minVal, maxVal)), math.floor(max(minVal, maxVal))
            levels = [(1.0, [float(v) for v in range(low, high + 1)])]
        return levels


def legend_below(plot_item, columns: int) -> pg.LegendItem:
    """A legend in a row under the bottom axis; curves plotted with ``name=`` are added to it."""
    legend = pg.LegendItem(offset=None, colCount=columns, labelTextColor=theme.DIM)
    # Scale with the figure on export (a legend that ignores transformations stays 1x in a 2x PNG).
    legend.setFlag(legend.GraphicsItemFlag.ItemIgnoresTransformations, False)
    legend.setSizePolicy(QSizePolicy.Fixed, QSizePolicy.Fixed)
    plot_item.layout.addItem(legend, LEGEND_ROW, 1, alignment=Qt.AlignHCenter)
    plot_item.legend = legend  # PlotItem.addItem(name=...) files curves here
    return legend


def footer(plot_item) -> pg.LabelItem:
    """A line of small text under the plot (and its legend), part of every export."""
    label = pg.LabelItem("", color=theme.DIM, size="9pt")
    plot_item.layout.addItem(label, FOOTER_ROW, 1)
    return label


class StaticSample(ItemSample):
    """A legend swatch for a marker kind, not one plotted item: clicking it hides nothing."""

    def mouseClickEvent(self, event):
        event.ignore()
