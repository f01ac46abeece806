"""The main window: docks, menus, the status bar with job progress, drag and drop, saved layout.

Everything it shows comes from the panels; everything it does goes through
the bridge (long jobs) or the controller (selection, classes, live scores).
It can be built around an injected dataset/model so tests never generate
the large built-in dataset.

Why over 400 lines: the menus, docks, drag and drop and the long-job status
bar are each short and all belong to the one window; the actions themselves
live in ``window_actions`` and the panels.
"""

from __future__ import annotations

import gc
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QWidget,
)

from zsl_desktop.app import progress_text, theme
from zsl_desktop.app.activity import ActivityWatch, when_quiet
from zsl_desktop.app.bridge import EngineBridge
from zsl_desktop.app.controller import Controller
from zsl_desktop.app.library import LibraryStore
from zsl_desktop.app.panels.class_editor import ClassEditorPanel
from zsl_desktop.app.panels.feature_view import FeatureViewPanel
from zsl_desktop.app.panels.gallery import GalleryPanel
from zsl_desktop.app.panels.image_view import ImageViewPanel
from zsl_desktop.app.panels.predictions import PredictionsPanel
from zsl_desktop.app.panels.training import TrainingPanel
from zsl_desktop.app.refinement import Refiner
from zsl_desktop.engine.session.spec import DatasetSpec
from zsl_desktop.engine.session.results import JobFailed, Progress
from zsl_desktop.app.settings import Settings
from zsl_desktop.app.widgets.messages import show_warning
from zsl_desktop.app.window_actions import WindowActions

STATE_VERSION = 3
# The plots (pyqtgraph: ~0.4 s of CPU to import and build) are built this long after the first predictions
# arrive, so that those are painted first; or when the opening ends without any; or when something needs them.
# Either way in a pause of the user's scrolling and editing (``activity.when_quiet``): a frozen frame otherwise.
PLOTS_AFTER_PREDICTIONS_MS = 100
DATASET_FORMATS = (
    ("Dataset folder (detect the format)…", None),
    ("CUB-200-2011…", "cub"),
    ("AwA2…", "awa2"),
    ("SUN attributes…", "sun"),
    ("xlsa17 (res101.mat folder)…", "xlsa17"),
    ("Folder format (classes.csv)…", "folder"),
)


class MainWindow(WindowActions, QMainWindow):
    def __init__(
        self,
        settings: Settings | None = None,
        bridge: EngineBridge | None = None,
        store: LibraryStore | None = None,
        freeze_gc: bool = False,
    ):
        super().__init__()
        self.setObjectName("ZslDesktopMain")
        self.setWindowTitle("ZSL Desktop")
        self.settings = settings or Settings()
        self.bridge = bridge or EngineBridge(self)
        try:
            self._build(store, freeze_gc)
        except BaseException:
            self.bridge.shutdown()  # a running QThread must never outlive a failed constructor
            raise

    def _build(self, store, freeze_gc) -> None:
        self.store = store or LibraryStore(parent=self)
        self.freeze_gc = freeze_gc
        self._frozen = False
        self._closing = False
        self._pending_open: DatasetSpec | None = None

        self.gallery = GalleryPanel()
        self.image_view = ImageViewPanel()
        self.predictions = PredictionsPanel()
        self.editor = ClassEditorPanel(self.store)
        self.training = TrainingPanel(lazy_plots=True, lazy_methods=True)
        self.features = FeatureViewPanel(lazy_plot=True)
        self._plots_due = False
        self.controller = Controller(
            self.bridge,
            self.store,
            self.gallery,
            self.image_view,
            self.predictions,
            self.editor,
            self.training,
            self.features,
            self,
        )
        self.refiner = Refiner(self.bridge, self.controller, self.gallery, self.editor, self)
        self.activity = ActivityWatch(self)  # heavy background imports wait while the user scrolls or edits
        self.activity.watch(self.gallery.view.verticalScrollBar().valueChanged, self.editor.draft_changed)
        self.features.plot_built.connect(self._watch_feature_plot)  # its pans, once it exists
        self.setCentralWidget(self.image_view)
        self.docks: dict[str, QDockWidget] = {}
        self._add_dock("gallery", "Gallery", self.gallery, Qt.LeftDockWidgetArea)
        self._add_dock("predictions", "Predictions", self.predictions, Qt.RightDockWidgetArea)
        self._add_dock("editor", "Class editor", self.editor, Qt.RightDockWidgetArea)
        self._add_dock("training", "Training", self.training, Qt.BottomDockWidgetArea)
        self._add_dock("features", "Feature space", self.features, Qt.BottomDockWidgetArea)
        self.setCorner(Qt.BottomLeftCorner, Qt.LeftDockWidgetArea)
        self.setCorner(Qt.BottomRightCorner, Qt.RightDockWidgetArea)
        self.splitDockWidget(self.docks["predictions"], self.docks["editor"], Qt.Vertical)
        self.tabifyDockWidget(self.docks["training"], self.docks["features"])
        self.docks["training"].raise_()
        self.setDockOptions(QMainWindow.AnimatedDocks | QMainWindow.AllowTabbedDocks | QMainWindow.AllowNestedDocks)
        self._build_status_bar()
        self._build_menus()
        self._build_toolbar()
        self.setAcceptDrops(True)
        self.resize(1600, 1000)
        self._default_sizes()
        self._default_state = self.saveState(STATE_VERSION)
        self._restore()

        b = self.bridge
        b.long_started.connect(self.on_long_started)
        b.progress.connect(self.show_job_progress)
        b.notice.connect(self.show_status)
        b.train_event.connect(self.training.on_event)
        b.long_finished.connect(self.on_long_finished)
        b.long_failed.connect(self.on_long_failed)
        b.dataset_loaded.connect(self.on_dataset_loaded)  # after the controller's own (connected in its __init__)
        b.dataset_ready.connect(self.on_dataset_ready)
        b.live_scores.connect(self._schedule_plots)
        c = self.controller
        c.status.connect(self.show_status)
        c.warn.connect(self.warn)
        c.model_state.connect(self.on_model_state)
        self.refiner.status.connect(self.show_status)
        self.training.start_requested.connect(self.start_training)
        self.training.pause_requested.connect(self.pause_training)
        self.training.resume_requested.connect(self.resume_training)
        self.training.stop_requested.connect(self.bridge.cancel)
        self.training.save_requested.connect(self.save_checkpoint_dialog)
        self.training.load_requested.connect(self.load_checkpoint_dialog)
        self.training.export_plot_requested.connect(self.export_training_plot)
        self.features.export_plot_requested.connect(self.export_feature_plot)
        self.predictions.open_training.connect(self.show_training)
        self.predictions.export_requested.connect(self.export_predictions_dialog)
        self.image_view.export_requested.connect(self.export_overlay_dialog)
        self.editor.message.connect(self.show_status)
        for warning in self.store.warnings:
            QTimer.singleShot(0, lambda w=warning: self.warn("Class library", w))
            self.show_status(warning)

    # -- the plots, after the first predictions ---------------------------------------------------------
    @Slot()
    @Slot(object)
    def _schedule_plots(self, *_) -> None:
        if not self._plots_due:
            self._plots_due = True
            QTimer.singleShot(PLOTS_AFTER_PREDICTIONS_MS, self._build_plots_when_quiet)

    @Slot()
    def _build_plots_when_quiet(self) -> None:
        when_quiet(self, self.build_plots)

    @Slot()
    def build_plots(self) -> None:
        """The training and feature-space plots (built lazily: see ``PLOTS_AFTER_PREDICTIONS_MS``)."""
        self.training.build_plots()
        self.features.build_plot()

    @Slot(object)
    def _watch_feature_plot(self, plot) -> None:
        self.activity.watch(plot.getPlotItem().getViewBox().sigRangeChanged)

    # -- layout ------------------------------------------------------------------------------------
    def _add_dock(self, key: str, title: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{key}")
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable | QDockWidget.DockWidgetClosable
        )
        self.addDockWidget(area, dock)
        self.docks[key] = dock
        return dock

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.message = QLabel("", self)
        self.message.setObjectName("subtitle")
        self._status_clear = QTimer(self)
        self._status_clear.setSingleShot(True)
        self._status_clear.timeout.connect(self._clear_status)
        self.job_label = QLabel("", self)
        self.job_label.setObjectName("subtitle")
        self.job_progress = QProgressBar(self)
        self.job_progress.setRange(0, 1000)
        self.job_progress.setFixedWidth(220)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(self.bridge.cancel)
        self.model_label = QLabel("no model", self)
        self.model_label.setObjectName("hint")
        job = QWidget(self)
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

    def _build_menus(self) -> None:
        m = self.menuBar().addMenu("&File")
        a = m.addAction("Open the built-in birds")
        a.triggered.connect(self.open_builtin_action)
        sub = m.addMenu("Open dataset")
        for title, fmt in DATASET_FORMATS:
            action = sub.addAction(title)
            action.setData(fmt)
            action.triggered.connect(lambda checked=False, f=fmt: self.open_dataset_dialog(f))
        self.open_action = sub.actions()[0]
        self.open_action.setShortcut(QKeySequence.Open)
        m.addSeparator()
        a = m.addAction("Add your photos…")
        a.setShortcut(QKeySequence("Ctrl+I"))
        a.triggered.connect(self.add_photos_dialog)
        a = m.addAction("Add a folder of photos…")
        a.triggered.connect(self.add_photo_folder_dialog)
        m.addSeparator()
        a = m.addAction("Load model…")  # the same words as the toolbar and the Training panel
        a.triggered.connect(self.load_checkpoint_dialog)
        self.shipped_menu = m.addMenu("Shipped models")
        self.shipped_menu.aboutToShow.connect(self._fill_shipped_menu)
        a = m.addAction("Save model…")
        a.triggered.connect(self.save_checkpoint_dialog)
        m.addSeparator()
        e = m.addMenu("Export")
        e.addAction("Overlay view as PNG…").triggered.connect(self.export_overlay_dialog)
        e.addAction("Predictions for this image (CSV)…").triggered.connect(self.export_predictions_dialog)
        e.addAction("Predictions for every image (CSV)…").triggered.connect(self.export_all_predictions_dialog)
        e.addAction("Predictions chart (PNG/SVG)…").triggered.connect(self.export_bars_dialog)
        t = e.addMenu("Training plot (PNG/SVG)")
        t.addAction("Loss…").triggered.connect(self.export_loss_plot)
        t.addAction("Validation…").triggered.connect(self.export_validation_plot)
        t.addAction("Evaluation curve…").triggered.connect(self.export_evaluation_plot)
        e.addAction("Feature space plot (PNG/SVG)…").triggered.connect(self.export_feature_plot)
        m.addSeparator()
        q = m.addAction("Quit")
        q.setShortcut(QKeySequence.Quit)
        q.triggered.connect(self.quit_action)
        edit = self.menuBar().addMenu("&Edit")
        edit.addAction(self.editor.undo_action)
        edit.addAction(self.editor.redo_action)
        view = self.menuBar().addMenu("&View")
        for dock in self.docks.values():
            view.addAction(dock.toggleViewAction())
        view.addSeparator()
        view.addAction("Reset layout").triggered.connect(self.reset_layout)
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction("Open log file").triggered.connect(self.open_log_file)
        help_menu.addAction("About ZSL Desktop").triggered.connect(self.about)

    def _default_sizes(self) -> None:
        d = self.docks
        self.resizeDocks([d["gallery"], d["predictions"]], [400, 430], Qt.Horizontal)
        self.resizeDocks([d["predictions"], d["editor"]], [392, 528], Qt.Vertical)
        self.resizeDocks([d["training"]], [330], Qt.Vertical)

    def _build_toolbar(self) -> None:
        """Brand, what is open, and the four things people do most."""
        from PySide6.QtWidgets import QSizePolicy, QToolBar

        tb = QToolBar("Main", self)
        tb.setObjectName("toolbar_main")
        tb.setMovable(False)
        tb.setFloatable(False)
        brand = QLabel(
            f"<span style='color:{theme.ACCENT}; font-weight:700; font-size:13pt'>ZSL</span>"
            f"<span style='color:{theme.TEXT}; font-size:13pt'> Desktop</span>",
            self,
        )
        brand.setContentsMargins(8, 0, 16, 0)
        tb.addWidget(brand)
        self.dataset_label = QLabel("no dataset", self)
        self.dataset_label.setObjectName("subtitle")
        tb.addWidget(self.dataset_label)
        spacer = QWidget(self)
        spacer.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)
        tb.addWidget(spacer)
        for text, slot, tip in (
            ("Open dataset…", self.open_dataset_dialog, "Open a CUB, AwA2, SUN, xlsa17 or folder dataset"),
            ("Add photos…", self.add_photos_dialog, "Predict your own photos (or drop them on the window)"),
            ("Load model…", self.load_checkpoint_dialog, "Load a model (.pt checkpoint) trained on this dataset"),
            ("Export view…", self.export_overlay_dialog, "Save the image with its attention overlay"),
        ):
            action = tb.addAction(text)
            action.setToolTip(tip)
            action.triggered.connect(lambda checked=False, s=slot: s())
        self.addToolBar(Qt.TopToolBarArea, tb)
        self.toolbar = tb

    def reset_layout(self) -> None:
        self.restoreState(self._default_state, STATE_VERSION)
        for dock in self.docks.values():
            dock.show()

    def _restore(self) -> None:
        geometry = self.settings.bytes("window/geometry")
        state = self.settings.bytes("window/state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state, STATE_VERSION)
        for panel in (self.image_view, self.predictions, self.features, self.training):
            panel.restore_settings(self.settings)

    def save_settings(self) -> None:
        s = self.settings
        s.set("window/geometry", self.saveGeometry())
        s.set("window/state", self.saveState(STATE_VERSION))
        for panel in (self.image_view, self.predictions, self.features, self.training):
            panel.save_settings(s)
        s.sync()

    # -- training ---------------------------------------------------------------------------------------
    @Slot(object)
    def start_training(self, config) -> bool:
        session = self.bridge.session
        if session is None or self.bridge.busy:
            return False
        config.backbone, config.input_size = session.backbone, session.input_size
        return self.bridge.start_training(config)

    @Slot()
    def pause_training(self) -> None:
        self.bridge.pause()
        self.training.set_paused(True)

    @Slot()
    def resume_training(self) -> None:
        self.bridge.resume()
        self.training.set_paused(False)

    @Slot()
    def show_training(self) -> None:
        self.docks["training"].show()
        self.docks["training"].raise_()

    # -- long-job feedback --------------------------------------------------------------------------------
    @Slot(str, str)
    def on_long_started(self, name: str, title: str) -> None:
        self.job_label.setText(title)
        self.job_progress.setValue(0)
        self.job_progress.setRange(0, 0)  # busy until the first progress event
        self.job_widget.show()
        self.cancel_button.setEnabled(True)
        self.training.set_available(False)
        if name == "train":
            self.training.on_started()

    @Slot(object)
    def show_job_progress(self, event) -> None:
        """The status bar's job progress: a Progress of any job, or a training run's TrainProgress."""
        self.job_progress.setRange(0, 1000)
        if isinstance(event, Progress):
            self.job_progress.setValue(int(1000 * event.fraction))
            self.job_label.setText(progress_text.status_line(event))
            self.job_label.setToolTip(event.message)
            if self.bridge.long_name == "open" and not self.image_view.has_image:
                self.image_view.show_message(progress_text.waiting_text(event))
        else:
            self.job_progress.setValue(int(1000 * event.step / max(event.total, 1)))
            self.job_label.setText(f"Training · epoch {event.epoch} · {event.step:,}/{event.total:,}")

    @Slot(str, str)
    def on_long_finished(self, name: str, status: str) -> None:
        self.job_widget.hide()
        if name == "open":
            self._schedule_plots()  # a dataset without a model shows no predictions to wait for
        if name == "open" and status == "ok" and self.freeze_gc and not self._frozen:
            # After start-up and warm-up: move everything alive out of the collector's way (UI.md 3.3).
            # No gc.collect() first: a full collection of the freshly imported torch held the GIL,
            # and so the window, for ~250 ms (py-spy); what garbage it would free is a one-off.
            gc.freeze()
            self._frozen = True
        if name == "train":
            self.training.on_finished(status)
        if name == "open" and status == "ok" and not self.image_view.has_image:
            self.image_view.show_message("Select an image in the gallery\n(or drop your own photos here)")
        if self.controller.preview:  # stopped among the first birds: no training on a partial dataset
            self.training.set_available(False, "Open the built-in birds again to draw the others (it resumes).")
        else:
            self.training.set_available(self.controller.features_ready)
        if status == "cancelled" and self.controller.preview:
            self.show_status("Cancelled: the next launch, or File ▸ Open the built-in birds, continues the drawing.")
        elif status == "cancelled":
            self.show_status("Cancelled.")
            if name == "open" and self.controller.dataset is None:
                self.image_view.show_message("Opening was cancelled. Use File ▸ Open to start again.")
        if self._pending_open is not None and not self._closing:
            spec, self._pending_open = self._pending_open, None
            QTimer.singleShot(0, lambda: self.open_spec(spec))

    @Slot(object)
    def on_long_failed(self, failed: JobFailed) -> None:
        titles = {
            "open": "Could not open the dataset",
            "checkpoint": "Could not load the checkpoint",
            "train": "Training failed",
        }
        self.show_status(f"{titles.get(failed.name, failed.name)}: {failed.message}")
        if failed.name == "open" and self.controller.dataset is None:
            self.image_view.show_message(f"{titles['open']}:\n{failed.message}")
        self.warn(titles.get(failed.name, "Error"), failed.message)

    @Slot(object)
    def on_dataset_loaded(self, loaded) -> None:
        """Before torch: the dataset's name as soon as the controller shows it with kept predictions."""
        if self.controller.dataset is loaded.dataset:
            self.show_dataset(loaded.dataset)

    @Slot(object)
    def on_dataset_ready(self, ready) -> None:
        self.show_dataset(ready.dataset, ready.coming)
        for w in ready.warnings:
            self.show_status(w)

    def show_dataset(self, d, coming: int = 0) -> None:
        self.setWindowTitle(f"ZSL Desktop — {d.name}")
        images = (
            f"{d.num_samples:,} images" if coming <= d.num_samples else f"first {d.num_samples:,} of {coming:,} images"
        )
        self.dataset_label.setText(
            f"<b style='color:{theme.TEXT}'>{d.name}</b> &nbsp;·&nbsp; {images} &nbsp;·&nbsp; "
            f"<span style='color:{theme.SEEN}'>{len(d.seen_classes)} seen</span> / "
            f"<span style='color:{theme.UNSEEN}'>{len(d.unseen_classes)} unseen</span> classes &nbsp;·&nbsp; "
            f"{d.num_attributes} attributes"
        )

    @Slot(object)
    def on_model_state(self, summary) -> None:
        if summary is None:
            self.model_label.setText("no model")
            return
        self.model_label.setText(f"model: {summary.title.split(' (')[0]} · γ {summary.gamma:+.2f}")
        self.model_label.setToolTip(summary.source)
        dataset = self.controller.dataset
        preview = self.controller.preview  # a first chunk's fingerprint is never opened on its own
        if dataset is not None and not preview and summary.source and Path(summary.source).suffix == ".pt":
            self.settings.set_checkpoint_for(dataset.fingerprint, summary.source)

    # -- messages ------------------------------------------------------------------------------------------------
    @Slot(str)
    def show_status(self, text: str, seconds: float = 12.0) -> None:
        """A status line that fades after a while (the full text stays in its tooltip until replaced)."""
        self.message.setText(text)
        self.message.setToolTip(text)
        self._status_clear.start(int(seconds * 1000))

    @Slot()
    def _clear_status(self) -> None:
        self.message.setText("")

    @Slot(str, str)
    def warn(self, title: str, text: str) -> None:
        if self._closing:
            return
        show_warning(self, title, text)  # window-modal, never blocks the event loop (or the tests)
        self._last_warning = (title, text)

    def about_text(self) -> str:
        import platform

        import PySide6

        from zsl_desktop import __version__

        return (
            f"<b>ZSL Desktop</b> version {__version__}<br>Annotation-free zero-shot learning: "
            "define classes by their attributes and recognise them in images.<br><br>"
            f"<span style='color:{theme.DIM}'>Python {platform.python_version()} · "
            f"PySide6 {PySide6.__version__}</span>"
        )

    def about(self) -> None:
        QMessageBox.about(self, "About ZSL Desktop", self.about_text())

    # -- closing ------------------------------------------------------------------------------------------------
    @Slot()
    def quit_action(self) -> None:
        """File ▸ Quit: as closing the window, asking first about a class edited but not saved."""
        if self.keep_unsaved_class():
            self.close()

    def keep_unsaved_class(self) -> bool:
        """True when the window may close: no unsaved class, or the user saved or discarded it."""
        draft = self.editor.draft()
        if draft is None or not (draft.active and draft.dirty):
            return True
        answer = self.ask_unsaved_class(draft.name)
        if answer == "save":
            return self.editor.save()  # a name it refuses keeps the window open, with the reason shown
        return answer == "discard"

    def ask_unsaved_class(self, name: str) -> str:
        """ "save", "discard" or "cancel" (a modal question, as every document app asks; tests replace it)."""
        box = QMessageBox(
            QMessageBox.Question,
            "Unsaved class",
            f"Your class “{name}” has changes that are not saved. Save them before quitting?",
            QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel,
            self,
        )
        box.setDefaultButton(QMessageBox.Save)
        box.exec()
        answer = box.standardButton(box.clickedButton()) if box.clickedButton() is not None else None
        return {QMessageBox.Save: "save", QMessageBox.Discard: "discard"}.get(answer, "cancel")

    def closeEvent(self, event) -> None:
        """Save the layout, cancel work, join every thread, then close.

        A close the user asked for (the window's close button: a spontaneous event) first asks about
        an unsaved class; closes from code (tests, the screenshot tour) do not ask.
        """
        if event.spontaneous() and not self._closing and not self.keep_unsaved_class():
            event.ignore()
            return
        self._closing = True
        self.save_settings()
        self.bridge.shutdown()
        super().closeEvent(event)
