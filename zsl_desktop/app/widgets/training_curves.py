"""The training panel's live curves: every loss term per step, and validation accuracy per epoch.

Events arrive far more often than a person can read a plot, so they only append to ``Series``
arrays; a 5 Hz timer redraws from the latest data. pyqtgraph downsamples ('peak') and clips to
the view, so a long run never slows the GUI down. The plot widgets themselves belong to the
panel (they sit in its sub-tabs and are built lazily): the curves reach them through ``plot``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer

from zsl_desktop.app import theme

if TYPE_CHECKING:
    import pyqtgraph as pg

LOSS_COLORS = ["#4cc2ff", "#ffb454", "#c792ea", "#7ee0c3", "#ff7eb6", "#f78c6c", "#a6accd", "#82aaff"]
# Curves redraw at most 5 times a second: each redraw re-lays out and repaints both axes. At 30 Hz
# the window's frame gaps while training had p95 23.5 ms (bench, 20 s of MSDN); at 5 Hz, 17.5 ms.
REDRAW_MS = 200
# The validation metrics drawn, (key in the event's metrics, curve name). H (the headline) is white:
# ACCENT is the same blue as SEEN, and the two curves could not be told apart.
VALIDATION_CURVES = (("h", "H"), ("u", "U"), ("s", "S"), ("zsl_t1", "ZSL T1"))
# New curves a timed redraw makes, at most (the rest: at the next ones, total and H first). Each one is a
# PlotDataItem and a legend entry, ~1.5-2 ms of the GUI thread: MSDN's six loss terms in one redraw took
# ~9 ms, its four validation curves ~8 ms, the largest frames while training (docs/history/performance.md, session 16).
NEW_CURVES_PER_REDRAW = 2


class Series:
    """A growing float array with amortised O(1) appends."""

    def __init__(self):
        self._x = np.zeros(256, np.float64)
        self._y = np.zeros(256, np.float64)
        self.n = 0

    def extend(self, x, y) -> None:
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        need = self.n + len(x)
        if need > len(self._x):
            size = max(need, 2 * len(self._x))
            self._x = np.resize(self._x, size)
            self._y = np.resize(self._y, size)
        self._x[self.n : need] = x
        self._y[self.n : need] = y
        self.n = need

    def data(self):
        return self._x[: self.n], self._y[: self.n]


class TrainingCurves(QObject):
    """The data and the drawn curves of one run; ``plot("loss")`` / ``plot("validation")`` give the widgets."""

    def __init__(self, plot: Callable[[str], pg.PlotWidget], parent: QObject | None = None):
        super().__init__(parent)
        self._plot = plot
        self.losses: dict[str, Series] = {}
        self.validation: dict[str, Series] = {}
        self._loss_items: dict[str, pg.PlotDataItem] = {}
        self._validation_items: dict[str, pg.PlotDataItem] = {}
        self.fold, self.folds = 0, 1  # validation selection trains one model per fold in turn
        self._offset = 0.0  # where the current phase's steps start on the loss plot's x axis
        self._phase = ""
        self._phase_lines: list = []
        self._dirty = False
        self._new_curves_left: int | None = None  # during a redraw: how many more curves it may make (None: all)
        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self.redraw)

    # -- a run's life ------------------------------------------------------------------------------------
    def start(self) -> None:
        """A new run: clear the last one's curves, let the axes follow the data, redraw from now on."""
        self.clear()
        self._plot("loss").enableAutoRange()
        self._plot("validation").enableAutoRange(axis="x")
        self._timer.start()

    def stop(self) -> None:
        """The run ended: draw what is left, then stop redrawing."""
        self._timer.stop()
        self.redraw(every_curve=True)

    def clear(self) -> None:
        self._plot("loss").getPlotItem().clear()
        validation = self._plot("validation")
        validation.getPlotItem().clear()
        validation.setTitle(None)
        self.losses, self._loss_items, self.validation, self._validation_items = {}, {}, {}, {}
        self.fold, self.folds = 0, 1
        self._phase_lines = []
        self._offset = 0.0
        self._phase = ""

    def add_empty_hints(self) -> None:
        """Say what each empty plot will show once a model trains."""
        self._add_empty_text(self._plot("loss"), "the loss appears here while a model trains", 0.5)
        self._add_empty_text(self._plot("validation"), "validation accuracy per epoch appears here", 50)

    # -- events --------------------------------------------------------------------------------------------
    def add_losses(self, steps, losses: dict) -> None:
        """Each loss term's values at these steps of the current phase."""
        for name, values in losses.items():
            self.losses.setdefault(name, Series()).extend(np.asarray(steps) + self._offset, values)
        self._dirty = True

    def start_phase(self, name: str) -> None:
        """A new phase (a fold's selection run, the final retraining) continues the loss plot after a
        labelled dashed line; the first phase needs none."""
        if self._phase:
            import pyqtgraph as pg

            self._offset = self._last_x()
            line = pg.InfiniteLine(
                self._offset,
                angle=90,
                pen=pg.mkPen(theme.FAINT, style=Qt.DashLine),
                label=name,
                labelOpts={"color": theme.DIM, "position": 0.92},
            )
            self._plot("loss").addItem(line)
            self._phase_lines.append(line)
        self._phase = name

    def add_validation(self, epoch: int, metrics: dict, fold: int = 0, folds: int = 1) -> None:
        """One epoch's validation metrics (fractions). Each fold of held-out classes gets its own curves,
        named in the plot's title: their epochs must not interleave."""
        if fold != self.fold:
            self.validation = {}
        self.fold, self.folds = fold, folds
        if folds > 1:
            self._plot("validation").setTitle(
                f"fold {fold + 1} of {folds} of held-out seen classes", color=theme.DIM, size="9pt"
            )
        for key, name in VALIDATION_CURVES:
            if key in metrics:
                self.validation.setdefault(name, Series()).extend([epoch], [100 * metrics[key]])
        self._dirty = True

    # -- drawing -------------------------------------------------------------------------------------------
    def loss_curve(self, name: str) -> pg.PlotDataItem | None:
        """The drawn curve of a loss term ("total", …), None until the first redraw after its first values."""
        return self._loss_items.get(name)

    def validation_curve(self, name: str) -> pg.PlotDataItem | None:
        """The drawn curve of a validation metric ("H", "U", "S", "ZSL T1"), None until drawn."""
        return self._validation_items.get(name)

    def validation_curves(self) -> list[pg.PlotDataItem]:
        return list(self._validation_items.values())

    def redraw(self, every_curve: bool = False) -> None:
        """Draw the latest data; a curve seen for the first time is made here, at most
        ``NEW_CURVES_PER_REDRAW`` in one call unless ``every_curve`` (the run's end): the rest wait for the next."""
        if not self._dirty:
            return
        self._dirty = False
        self._new_curves_left = None if every_curve else NEW_CURVES_PER_REDRAW
        losses = sorted(self.losses.items(), key=lambda kv: kv[0] != "total")
        for i, (name, series) in enumerate(losses):
            item = self._loss_items.get(name) or self._new_curve(self._new_loss_curve, name, i)
            if item is not None and item.isVisible():  # a hidden term gets its data when shown (its legend entry)
                item.setData(*series.data())
        for name, series in self.validation.items():
            item = self._validation_items.get(name) or self._new_curve(self._new_validation_curve, name)
            if item is not None:
                item.setData(*series.data())

    def _new_curve(self, make, *args):
        """``make(*args)``, unless this redraw has made its share of new curves: then None, and a redraw is still due."""
        if self._new_curves_left is not None:
            if self._new_curves_left <= 0:
                self._dirty = True
                return None
            self._new_curves_left -= 1
        return make(*args)

    def _new_loss_curve(self, name: str, index: int):
        import pyqtgraph as pg

        color = LOSS_COLORS[index % len(LOSS_COLORS)]
        item = self._plot("loss").plot([], [], pen=pg.mkPen(color, width=2 if name == "total" else 1), name=name)
        item.setDownsampling(auto=True, method="peak")
        item.setClipToView(True)
        if name != "total":
            item.setVisible(False)  # the legend toggles the loss terms; total first
        item.visibleChanged.connect(lambda: self._draw_if_shown(name))
        self._loss_items[name] = item
        return item

    def _draw_if_shown(self, name: str) -> None:
        """A loss term's curve shown again (its legend entry clicked): its latest data, which redraws skip while
        it is hidden (five of MSDN's six terms: ~1.5 of a redraw's ~2.5 ms of the GUI thread)."""
        item, series = self._loss_items.get(name), self.losses.get(name)
        if item is not None and series is not None and item.isVisible():
            item.setData(*series.data())

    def _new_validation_curve(self, name: str):
        import pyqtgraph as pg

        colors = {"H": theme.TEXT, "U": theme.UNSEEN, "S": theme.SEEN, "ZSL T1": theme.USER}
        color = colors.get(name, theme.DIM)
        item = self._plot("validation").plot(
            [],
            [],
            pen=pg.mkPen(color, width=2.5 if name == "H" else 1.5),
            name=name,
            symbol="o",
            symbolSize=5,
            symbolBrush=color,
        )
        self._validation_items[name] = item
        return item

    def _add_empty_text(self, plot, text: str, y: float) -> None:
        import pyqtgraph as pg

        item = pg.TextItem(text, color=theme.FAINT, anchor=(0.5, 0.5))
        item.setPos(0.5, y)
        plot.setXRange(0, 1)
        plot.setYRange(0, 2 * y)
        plot.addItem(item)

    def _last_x(self) -> float:
        xs = [s.data()[0][-1] for s in self.losses.values() if s.n]
        return float(max(xs)) if xs else 0.0
