"""The plots' grid: opaque colours mixed over the background, drawn behind the data, on every styled plot."""

import pyqtgraph as pg
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QApplication

from zsl_desktop.app import theme
from zsl_desktop.app.panels.training import TrainingPanel
from zsl_desktop.app.widgets.plot_figure import IntegerAxis
from zsl_desktop.app.widgets.plot_grid import OpaqueGridAxis, opaque_over


def test_a_translucent_colour_becomes_the_opaque_colour_it_shows_over_the_background():
    mixed = opaque_over(QColor(200, 100, 0, 51), QColor(0, 0, 100))  # alpha 0.2
    assert mixed.alpha() == 255
    assert (mixed.red(), mixed.green(), mixed.blue()) == (40, 20, 80)


def test_every_grid_and_tick_line_is_drawn_opaque(qtbot):
    widget = pg.PlotWidget()
    qtbot.addWidget(widget)
    theme.style_plot(widget.getPlotItem(), "step", "loss")
    widget.resize(600, 400)
    widget.show()
    widget.setXRange(0, 100)
    QApplication.processEvents()
    for name in ("left", "bottom"):
        axis = widget.getPlotItem().getAxis(name)
        assert isinstance(axis, OpaqueGridAxis) and axis.grid
        image = QImage(10, 10, QImage.Format.Format_ARGB32)
        painter = QPainter(image)  # generateDrawSpecs measures the tick labels with it
        _, ticks, texts = axis.generateDrawSpecs(painter)
        painter.end()
        assert ticks and texts
        assert all(pen.color().alpha() == 255 for pen, _, _ in ticks)
        assert axis.zValue() < widget.getPlotItem().getViewBox().zValue()  # under the curves


def test_the_validation_plots_integer_axis_keeps_its_ticks_and_gets_the_grid(qtbot):
    panel = TrainingPanel()
    qtbot.addWidget(panel)
    axis = panel.val_plot.getPlotItem().getAxis("bottom")
    assert isinstance(axis, IntegerAxis)
    assert axis.background == QColor(theme.PANEL)
