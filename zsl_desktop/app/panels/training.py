"""Training panel: choose a method and its hyper-parameters, train, watch, evaluate, save.

Its parts: the settings are ``widgets.training_form`` (one ``TrainConfig``), the
tabs with the plots (built late: ``lazy_plots``) and the Export button ``widgets.training_plots``,
the curves on them (data, drawing, the redraw timer) ``widgets.training_curves``, the words
for a run's progress ``training_words``. This module is the run: the form, the buttons, the
progress and a run's events.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from zsl_desktop.app.training_words import fmt_seconds, progress_text
from zsl_desktop.app.widgets.training_form import TrainingForm
from zsl_desktop.app.widgets.training_plots import TrainingPlots
from zsl_desktop.engine.session.results import Progress, TrainDone, TrainProgress

if TYPE_CHECKING:
    import pyqtgraph as pg


class TrainingPanel(QWidget):
    start_requested = Signal(object)  # TrainConfig
    pause_requested = Signal()
    resume_requested = Signal()
    stop_requested = Signal()
    save_requested = Signal()
    load_requested = Signal()
    export_plot_requested = Signal(str)  # which plot to export (a name of training_plots.PLOTS)

    def __init__(self, parent=None, lazy_plots: bool = False, lazy_methods: bool = False):
        super().__init__(parent)
        self.form = TrainingForm(self)  # the settings; its hyper-parameter table is the Parameters tab
        self.method_box, self.epochs, self.seed = self.form.method_box, self.form.epochs, self.form.seed
        self.selection, self.flips, self.hparams = self.form.selection, self.form.flips, self.form.hparams
        self._make_buttons()
        left, files = self._make_left()
        right = self._make_right(files)
        self._lay_out(left, right)
        self._connect_signals()

        if not lazy_plots:
            self.build_plots()
        self._paused = False
        self.running = False
        self.has_model = False
        self.started_at = 0.0
        self.last_progress: TrainProgress | None = None
        if not lazy_methods:
            self.load_methods()
        self.set_available(False, "Open a dataset first.")

    def _make_buttons(self) -> None:
        """Train, pause, stop, the progress and state lines, save and load."""
        self.start_button = QPushButton("Train", self)
        self.start_button.setToolTip("Start training with these settings; the new model becomes active at the end")
        self.start_button.setObjectName("primary")
        self.pause_button = QPushButton("Pause", self)
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setObjectName("danger")
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1000)
        self.state = QLabel("Ready.", self)
        self.state.setObjectName("subtitle")
        self.state.setWordWrap(True)
        self.save_button = QPushButton("Save model…", self)
        self.save_button.setToolTip("Save the active model as a checkpoint file")
        self.load_button = QPushButton("Load model…", self)
        self.load_button.setToolTip("Load a checkpoint trained on this dataset (others are refused, with the reason)")

    def _make_left(self) -> tuple[QWidget, QHBoxLayout]:
        """The settings over the buttons and progress; the file buttons' row (export joins it on the right)."""
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button, 2)
        buttons.addWidget(self.pause_button, 1)
        buttons.addWidget(self.stop_button, 1)
        files = QHBoxLayout()
        files.addWidget(self.save_button)
        files.addWidget(self.load_button)
        left = QWidget(self)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        self.info = QLabel("", self)
        self.info.setObjectName("hint")
        self.info.setWordWrap(True)
        self.info.setMaximumHeight(40)
        left_layout.addWidget(self.form)
        left_layout.addWidget(self.info)
        left_layout.addStretch(1)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.progress)
        left_layout.addWidget(self.state)
        return left, files

    def _make_right(self, files: QHBoxLayout) -> QWidget:
        """The tabs (loss, validation, evaluation: plots from ``build_plots``; parameters) over the file buttons."""
        self.plots = TrainingPlots(self.hparams, self)
        self.tabs, self.curves, self.export_button = self.plots.tabs, self.plots.curves, self.plots.export_button
        right = QWidget(self)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.plots, 1)
        files.addStretch(1)
        files.addWidget(self.export_button)
        right_layout.addLayout(files)
        return right

    def _lay_out(self, left: QWidget, right: QWidget) -> None:
        splitter = QSplitter(Qt.Horizontal, self)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 5)
        splitter.setSizes([270, 900])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.addWidget(splitter)

    def _connect_signals(self) -> None:
        self.start_button.clicked.connect(self._on_start)
        self.pause_button.clicked.connect(self._on_pause)
        self.stop_button.clicked.connect(self.stop_requested)
        self.save_button.clicked.connect(self.save_requested)
        self.load_button.clicked.connect(self.load_requested)
        self.plots.export_requested.connect(self.export_plot_requested)

    def load_methods(self) -> None:
        """Fill the method list (once). The methods import torch (~2 s of CPU): the window builds this
        panel with ``lazy_methods`` and a dataset's arrival fills it (``set_dataset``), once the opening
        job has imported torch off the GUI thread (issue #19: no torch before the first predictions)."""
        self.form.load_methods()

    # -- form ----------------------------------------------------------------------------------------
    def config(self):
        """The TrainConfig of the form; ValueError naming a hyper-parameter that does not parse."""
        return self.form.config()

    def _on_start(self) -> None:
        try:
            config = self.config()
        except ValueError as exc:
            self.state.setText(str(exc))
            return
        self.start_requested.emit(config)

    def _on_pause(self) -> None:
        if self._paused:
            self.resume_requested.emit()
        else:
            self.pause_requested.emit()

    def set_paused(self, paused: bool) -> None:
        self._paused = paused
        self.pause_button.setText("Resume" if paused else "Pause")
        if paused:
            self.state.setText("Paused. " + self.state.text())

    def set_available(self, available: bool, why: str = "") -> None:
        """Whether training can start (a dataset with features is open and no other job runs)."""
        self.start_button.setEnabled(available and not self.running)
        self.pause_button.setEnabled(self.running)
        self.stop_button.setEnabled(self.running)
        stale = self.state.text() in (
            "",
            "Open a dataset first.",
            "Waiting for the image features…",
            "Training opens once every bird is drawn and extracted.",
        )
        if not self.running and (why or (available and stale)):
            self.state.setText(why or "Ready.")

    def set_has_model(self, has: bool) -> None:
        self.has_model = has
        self.save_button.setEnabled(has)

    def _stopped_text(self) -> str:
        """What a stopped run leaves behind: the model that was active before, or none."""
        return "Stopped. The previous model stays active." if self.has_model else "Stopped. No model is active yet."

    # -- the plots (widgets.training_plots; these names are the window's and the tests') ----------------
    def build_plots(self) -> None:
        self.plots.build_plots()

    @property
    def plots_built(self) -> bool:
        return self.plots.plots_built

    @property
    def loss_plot(self) -> pg.PlotWidget:
        return self.plots.loss_plot

    @property
    def val_plot(self) -> pg.PlotWidget:
        return self.plots.val_plot

    @property
    def evaluation(self):
        return self.plots.evaluation

    @property
    def curve_plot(self) -> pg.PlotWidget:
        return self.plots.curve_plot

    @property
    def cards(self):
        return self.plots.cards

    def plot_item(self, which: str):
        return self.plots.plot_item(which)

    @staticmethod
    def plot_title(which: str) -> str:
        return TrainingPlots.plot_title(which)

    def set_dataset(self, dataset) -> None:
        """Say what a run will learn from, and pick a method the dataset's features allow.

        A new dataset starts clean: the last run's curves, report and "Done in …" were about another one
        (plots not built yet have nothing to clear).
        """
        self.load_methods()
        if not self.running:
            self.plots.clear()
            self.progress.setValue(0)
            self.state.setText("")
        if dataset is None:
            self.info.setText("")
            return
        self.form.set_dataset(dataset)
        n = len(dataset.splits["trainval"])
        from zsl_desktop.engine.training import SELECTION_FOLDS

        held = max(1, int(round(len(dataset.seen_classes) * 0.2)))
        self.info.setText(
            f"{n:,} images of {len(dataset.seen_classes)} seen classes; epoch and γ chosen on "
            f"{SELECTION_FOLDS} folds of {held} held-out seen classes."
        )
        self.info.setToolTip(
            f"Learns from the {n:,} trainval images of the {len(dataset.seen_classes)} seen "
            f"classes. With validation selection, the epoch and the calibration γ are chosen "
            f"on {SELECTION_FOLDS} groups of {held} seen classes, each held out in turn as if "
            f"unseen (datasets with their own train/val split use that one); the test split is "
            f"used only for the final report."
        )

    # -- a run -----------------------------------------------------------------------------------------
    def on_started(self) -> None:
        self.running = True
        self._paused = False
        self.pause_button.setText("Pause")
        self.form.set_editable(False)
        self.load_button.setEnabled(False)
        self.start_button.setEnabled(False)
        self.pause_button.setEnabled(True)
        self.stop_button.setEnabled(True)
        self.curves.start()
        self.started_at = time.perf_counter()
        self.state.setText("Starting…")
        self.progress.setValue(0)
        self.tabs.setCurrentIndex(0)

    def on_finished(self, status: str) -> None:
        self.running = False
        self.curves.stop()
        self.form.set_editable(True)
        self.load_button.setEnabled(True)
        self.start_button.setEnabled(True)
        self.pause_button.setEnabled(False)
        self.stop_button.setEnabled(False)
        self.pause_button.setText("Pause")
        if status == "cancelled":
            self.state.setText(self._stopped_text())
        elif status == "failed":
            self.state.setText("Training failed (see the message).")

    def on_event(self, event) -> None:
        from zsl_desktop.engine.methods.base import EpochEnd, Message
        from zsl_desktop.engine.training import Phase, Validation

        if isinstance(event, TrainProgress):
            self.last_progress = event
            self.curves.add_losses(event.steps, event.losses)
            self.progress.setValue(int(1000 * event.step / max(event.total, 1)))
            self.state.setText(progress_text(event, self.curves.fold, self.curves.folds))
        elif isinstance(event, Phase):
            self.curves.start_phase(event.name)
            self.state.setText(event.description)
        elif isinstance(event, Validation):
            self.curves.add_validation(event.epoch, event.metrics, event.fold, event.folds)
        elif isinstance(event, Message):
            self.state.setText(event.text)
        elif isinstance(event, TrainDone):
            if event.report is not None:
                self.show_report(event.report, "Test-split evaluation of the model just trained")
            self.state.setText(
                event.message
                or (
                    "Done in " + fmt_seconds(time.perf_counter() - self.started_at) + ". The new model is active."
                    if not event.cancelled
                    else self._stopped_text()
                )
            )
            self.progress.setValue(1000 if not event.cancelled else self.progress.value())
        elif isinstance(event, Progress) and event.stage == "model":
            self.state.setText(event.message)
        elif isinstance(event, EpochEnd):
            pass

    # -- evaluation ------------------------------------------------------------------------------------
    def show_report(self, report, title: str) -> None:
        """The evaluation's figures and curve (one that comes before the plots are built waits for them)."""
        self.plots.show_report(report, title)

    def restore_settings(self, s) -> None:
        self.form.restore_settings(s)

    def save_settings(self, s) -> None:
        self.form.save_settings(s)
