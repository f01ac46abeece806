"""The training panel's tabs: the loss, validation and evaluation plots (built late), the Parameters table, and
the Export button that names the plot on show.

Why apart from ``panels.training``: the panel is the run (form, buttons, progress, a run's events); this is
where its results are drawn, read when a plot or an export changes. The plots (pyqtgraph) can be built after
the window's first predictions (``build_plots``): importing pyqtgraph and building them took ~0.4 s of CPU on
the way there; anything that needs a plot builds them first. The curves themselves are ``training_curves``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QPushButton, QTabWidget, QVBoxLayout, QWidget

from zsl_desktop.app import theme
from zsl_desktop.app.widgets.training_curves import TrainingCurves

if TYPE_CHECKING:
    import pyqtgraph as pg

# The plots of the sub-tabs, in tab order: (name used by exports, title). The last tab has none.
PLOTS = (("loss", "Loss"), ("validation", "Validation"), ("evaluation", "Evaluation curve"))


class TrainingPlots(QWidget):
    """The tabs (``tabs``), the curves drawn on them (``curves``) and the Export button (``export_button``)."""

    export_requested = Signal(str)  # which plot to export (a name of PLOTS)

    def __init__(self, parameters: QWidget, parent=None):
        super().__init__(parent)
        # each sub-tab's page holds its plot once ``build_plots`` has made them
        self._plots: dict | None = None
        self._report_waiting: tuple | None = None  # (report, title) that came before the plots: ``show_report``
        self._plot_pages: dict[str, QWidget] = {}
        self.curves = TrainingCurves(self.plot, self)
        self.tabs = QTabWidget(self)
        for name, title in (("loss", "Loss"), ("validation", "Validation"), ("evaluation", "Evaluation")):
            page = QWidget(self)
            QVBoxLayout(page).setContentsMargins(0, 0, 0, 0)
            self._plot_pages[name] = page
            self.tabs.addTab(page, title)
        self.tabs.addTab(parameters, "Parameters")
        self.export_button = QPushButton("Export…", self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)
        self.export_button.clicked.connect(self._on_export)
        self.tabs.currentChanged.connect(self._on_tab)
        self._on_tab(self.tabs.currentIndex())

    def build_plots(self) -> None:
        """The loss, validation and evaluation plots, in their sub-tabs (once; pyqtgraph is imported here)."""
        if self._plots is not None:
            return
        import pyqtgraph as pg

        from zsl_desktop.app.widgets.evaluation_view import EvaluationView
        from zsl_desktop.app.widgets.plot_figure import IntegerAxis, legend_below

        theme.configure_pyqtgraph()
        loss = pg.PlotWidget()
        loss.setObjectName("lossPlot")
        theme.style_plot(loss.getPlotItem(), "step", "loss")
        legend_below(loss.getPlotItem(), columns=4)
        loss.setDownsampling(auto=True, mode="peak")
        loss.setClipToView(True)
        val = pg.PlotWidget(axisItems={"bottom": IntegerAxis("bottom")})
        theme.style_plot(val.getPlotItem(), "epoch", "accuracy (%)")
        legend_below(val.getPlotItem(), columns=4)
        val.setYRange(0, 100)
        self._plots = {"loss": loss, "validation": val, "evaluation": EvaluationView(self)}
        for name, widget in self._plots.items():
            layout = self._plot_pages[name].layout()
            assert layout is not None
            layout.addWidget(widget)
        self.curves.add_empty_hints()
        if self._report_waiting is not None:
            report, title = self._report_waiting
            self._report_waiting = None
            self._plots["evaluation"].show_report(report, title)

    @property
    def plots_built(self) -> bool:
        return self._plots is not None

    def plot(self, name: str):
        """One of PLOTS' widgets (the evaluation's is an ``EvaluationView``), built first when need be."""
        self.build_plots()
        assert self._plots is not None
        return self._plots[name]

    @property
    def loss_plot(self) -> pg.PlotWidget:
        return self.plot("loss")

    @property
    def val_plot(self) -> pg.PlotWidget:
        return self.plot("validation")

    @property
    def evaluation(self):
        return self.plot("evaluation")

    @property
    def curve_plot(self) -> pg.PlotWidget:
        return self.evaluation.curve_plot

    @property
    def cards(self):
        return self.evaluation.cards

    def clear(self) -> None:
        """A new dataset: no curves, no report (waiting or shown); plots not built yet have nothing to clear."""
        self._report_waiting = None
        if self.plots_built:
            self.curves.clear()
            self.curves.add_empty_hints()
            self.evaluation.clear()

    def show_report(self, report, title: str) -> None:
        """The evaluation's figures and curve. One that comes before the plots are built waits for them: building
        them here imported pyqtgraph on the GUI thread, or waited for its import on the helper thread
        (``plot_preload``): 0.7 s of frozen window as CUB's first evaluation arrived (opening14)."""
        if not self.plots_built:
            self._report_waiting = (report, title)
            return
        self.evaluation.show_report(report, title)

    def plot_item(self, which: str):
        """The PlotItem of one of PLOTS ("loss", "validation", "evaluation")."""
        widgets = {"loss": self.loss_plot, "validation": self.val_plot, "evaluation": self.curve_plot}
        return widgets[which].getPlotItem()

    @staticmethod
    def plot_title(which: str) -> str:
        return dict(PLOTS)[which]

    def visible_plot(self) -> str | None:
        """The plot of the sub-tab on show, or None on a tab without one (Parameters)."""
        index = self.tabs.currentIndex()
        return PLOTS[index][0] if 0 <= index < len(PLOTS) else None

    def _on_tab(self, index: int) -> None:
        """The Export button names the plot it will save, and is off where there is none."""
        which = self.visible_plot()
        self.export_button.setEnabled(which is not None)
        self.export_button.setText(f"Export {self.plot_title(which)}…" if which else "Export…")
        self.export_button.setMinimumWidth(self.export_button.sizeHint().width())  # never cut the name
        self.export_button.setToolTip(
            f"Save the {self.plot_title(which)} plot as PNG or SVG" if which else "This tab has no plot to export"
        )

    def _on_export(self) -> None:
        which = self.visible_plot()
        if which is not None:
            self.export_requested.emit(which)
