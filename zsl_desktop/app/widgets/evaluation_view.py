"""An evaluation at a glance: the standard figures as big numbers, and the seen-unseen curve."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from zsl_desktop.app import theme
from zsl_desktop.app.widgets.stat_cards import StatCards

TIPS = {
    "h": "GZSL harmonic mean of U and S",
    "zsl": "conventional ZSL: unseen images, unseen classes only",
    "u": "GZSL per-class accuracy on unseen classes",
    "s": "GZSL per-class accuracy on seen classes",
    "ausuc": "area under the seen–unseen accuracy curve",
    "gamma": "calibration used for U/S/H",
}
NO_EVALUATION = "No evaluation yet: train or load a model."


class EvaluationView(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.curve_plot = pg.PlotWidget()
        theme.style_plot(self.curve_plot.getPlotItem(), "seen %", "unseen %")
        self.curve_plot.setXRange(0, 100)
        self.curve_plot.setYRange(0, 100)
        self.cards = StatCards(
            [
                ("h", "harmonic H", theme.ACCENT),
                ("zsl", "ZSL top-1", theme.USER),
                ("u", "unseen U", theme.UNSEEN),
                ("s", "seen S", theme.SEEN),
                ("ausuc", "AUSUC", theme.TEXT),
                ("gamma", "γ", theme.TEXT),
            ],
            columns=2,
            parent=self,
        )
        for key, tip in TIPS.items():
            self.cards.cards[key].setToolTip(tip)
        self.title = QLabel(NO_EVALUATION, self)
        self.title.setObjectName("hint")
        self.title.setWordWrap(True)
        self.title.setMaximumHeight(34)
        left = QVBoxLayout()
        left.addWidget(self.cards)
        left.addWidget(self.title)
        left.addStretch(1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(left, 2)
        layout.addWidget(self.curve_plot, 3)

    def clear(self) -> None:
        """No figures (another dataset is open, or no model has been evaluated on it yet)."""
        for key, card in self.cards.cards.items():
            card.set("–", TIPS.get(key, ""))
        self.cards.cards["gamma"].caption.setText("γ")
        self.title.setText(NO_EVALUATION)
        self.title.setToolTip("")
        self.curve_plot.getPlotItem().clear()
        self.curve_plot.getPlotItem().setTitle(None)

    def show_report(self, report, title: str) -> None:
        """An ``evaluation.EvaluationReport``: U/S/H at its γ, ZSL top-1, AUSUC and the full curve."""
        g = report.gzsl
        self.cards.set("h", f"{100 * g.h:.1f}%")
        self.cards.set("u", f"{100 * g.u:.1f}%")
        self.cards.set("s", f"{100 * g.s:.1f}%")
        self.cards.set("zsl", f"{100 * report.zsl:.1f}%")
        self.cards.set("ausuc", f"{100 * report.ausuc:.1f}%", TIPS["ausuc"])
        self.cards.set("gamma", f"{g.gamma:+.2f}", f"calibration γ, chosen on {report.gamma_source}")
        self.cards.cards["gamma"].caption.setText(f"γ ({report.gamma_source})")
        self.title.setText(title.split(" (")[0])
        self.title.setToolTip(title)
        plot = self.curve_plot.getPlotItem()
        plot.clear()
        curve = report.curve
        plot.plot(
            100 * curve.seen,
            100 * curve.unseen,
            pen=pg.mkPen(theme.ACCENT, width=2),
            fillLevel=0,
            brush=pg.mkBrush(76, 194, 255, 40),
        )
        plot.plot(
            [100 * g.s],
            [100 * g.u],
            pen=None,
            symbol="o",
            symbolSize=10,
            symbolBrush=theme.UNSEEN,
            symbolPen=pg.mkPen(theme.TEXT),
        )
        text = pg.TextItem(f"H {100 * g.h:.1f}", color=theme.TEXT, anchor=(1, 1) if g.s > 0.6 else (0, 1))
        text.setPos(100 * g.s, 100 * g.u + 2)
        plot.addItem(text)
        plot.setTitle("seen–unseen curve", color=theme.DIM, size="9pt")
