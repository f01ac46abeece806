"""The main window's status bar: a fading message, the running job's progress with Cancel, the model.

Why apart from the window: these are the window's only widgets of its own; the window decides what to
say (from the bridge's and the controller's signals), this module how it looks and when it fades.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from zsl_desktop.app import progress_text
from zsl_desktop.engine.session.results import Progress

PROGRESS_STEPS = 1000


class JobStatusBar(QObject):
    """Fills ``window.statusBar()``; ``cancel`` is called by the Cancel button."""

    def __init__(self, window, cancel):
        super().__init__(window)
        bar = window.statusBar()
        self.message = QLabel("", window)
        self.message.setObjectName("subtitle")
        self.clear_timer = QTimer(self)
        self.clear_timer.setSingleShot(True)
        self.clear_timer.timeout.connect(self.clear_message)
        self.job_label = QLabel("", window)
        self.job_label.setObjectName("subtitle")
        self.job_progress = QProgressBar(window)
        self.job_progress.setRange(0, PROGRESS_STEPS)
        self.job_progress.setFixedWidth(220)
        self.cancel_button = QPushButton("Cancel", window)
        self.cancel_button.clicked.connect(cancel)
        self.model_label = QLabel("no model", window)
        self.model_label.setObjectName("hint")
        job = QWidget(window)
        row = QHBoxLayout(job)
        row.setContentsMargins(0, 0, 6, 0)
        row.addWidget(self.job_label)
        row.addWidget(self.job_progress)
        row.addWidget(self.cancel_button)
        self.job_widget = job
        job.hide()
        bar.addWidget(self.message, 1)
        bar.addPermanentWidget(job)
        bar.addPermanentWidget(self.model_label)

    def show_message(self, text: str, seconds: float) -> None:
        """A status line that fades after a while (the full text stays in its tooltip until replaced)."""
        self.message.setText(text)
        self.message.setToolTip(text)
        self.clear_timer.start(int(seconds * 1000))

    @Slot()
    def clear_message(self) -> None:
        self.message.setText("")

    def job_started(self, title: str) -> None:
        self.job_label.setText(title)
        self.job_progress.setValue(0)
        self.job_progress.setRange(0, 0)  # busy until the first progress event
        self.job_widget.show()
        self.cancel_button.setEnabled(True)

    def show_progress(self, event) -> None:
        """A Progress of any job, or a training run's TrainProgress."""
        self.job_progress.setRange(0, PROGRESS_STEPS)
        if isinstance(event, Progress):
            self.job_progress.setValue(int(PROGRESS_STEPS * event.fraction))
            self.job_label.setText(progress_text.status_line(event))
            self.job_label.setToolTip(event.message)
        else:
            self.job_progress.setValue(int(PROGRESS_STEPS * event.step / max(event.total, 1)))
            self.job_label.setText(f"Training · epoch {event.epoch} · {event.step:,}/{event.total:,}")

    def job_finished(self) -> None:
        self.job_widget.hide()

    def show_model(self, summary) -> None:
        """The active model's name and γ (its file in the tooltip), or "no model"."""
        if summary is None:
            self.model_label.setText("no model")
            return
        self.model_label.setText(f"model: {summary.title.split(' (')[0]} · γ {summary.gamma:+.2f}")
        self.model_label.setToolTip(summary.source)
