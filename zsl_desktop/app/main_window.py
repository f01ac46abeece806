"""The main window: the panels in their docks, the long jobs' feedback, closing.

Everything it shows comes from the panels; everything it does goes through
the bridge (long jobs) or the controller (selection, classes, live scores).
It can be built around an injected dataset/model so tests never generate
the large built-in dataset.

Its parts, each a module: ``window_menus`` (menu bar and toolbar),
``window_layout`` (docks and the saved layout), ``status_bar`` (message,
job progress, model), ``window_actions`` (what the menus do: file dialogs,
opening, exports; a mixin, as it needs the whole window).
"""

from __future__ import annotations

import gc
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import QMainWindow, QMessageBox

from zsl_desktop.app import progress_text, window_menus
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
from zsl_desktop.app.plot_preload import PlotPreload
from zsl_desktop.app.refinement import Refiner
from zsl_desktop.engine.session.spec import DatasetSpec
from zsl_desktop.engine.session.results import JobFailed, Progress
from zsl_desktop.app.settings import Settings
from zsl_desktop.app.status_bar import JobStatusBar
from zsl_desktop.app.widgets.messages import show_warning
from zsl_desktop.app.window_actions import WindowActions
from zsl_desktop.app.window_layout import DockLayout

# The plots are built this long after the first predictions arrive, so that those are painted first; or when
# the opening ends without any; or when something needs them. pyqtgraph is imported meanwhile on a helper thread
# (``plot_preload``: 0.2 s of the GUI thread's CPU otherwise); building them (~0.1 s) waits for a pause of the
# user's scrolling and editing (``activity.when_quiet``): a frozen frame otherwise.
PLOTS_AFTER_PREDICTIONS_MS = 100
PLOT_IMPORT_POLL_MS = 50  # how often the window looks whether the plot modules are in
PLOT_IMPORT_JOIN_S = 10.0  # closing waits this long at most for that import's thread


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
        self.closing = False  # closeEvent has begun: no more dialogs, no queued opening
        self.pending_open: DatasetSpec | None = None  # a dataset to open once the running job ends

        self.gallery = GalleryPanel()
        self.image_view = ImageViewPanel()
        self.predictions = PredictionsPanel()
        self.editor = ClassEditorPanel(self.store)
        self.training = TrainingPanel(lazy_plots=True, lazy_methods=True)
        self.features = FeatureViewPanel(lazy_plot=True)
        self._plots_due = False
        self.plot_import = PlotPreload()
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
        self.dock_layout = DockLayout(self)
        self.docks = self.dock_layout.docks
        self.dock_layout.add("gallery", "Gallery", self.gallery, Qt.LeftDockWidgetArea)
        self.dock_layout.add("predictions", "Predictions", self.predictions, Qt.RightDockWidgetArea)
        self.dock_layout.add("editor", "Class editor", self.editor, Qt.RightDockWidgetArea)
        self.dock_layout.add("training", "Training", self.training, Qt.BottomDockWidgetArea)
        self.dock_layout.add("features", "Feature space", self.features, Qt.BottomDockWidgetArea)
        self.dock_layout.arrange()
        self.docks["features"].visibilityChanged.connect(self.features.shown)  # its tab chosen: the latest frame
        self.status_bar = JobStatusBar(self, self.bridge.cancel)
        self.message, self.model_label = self.status_bar.message, self.status_bar.model_label
        self.cancel_button = self.status_bar.cancel_button
        window_menus.build_menus(self)
        window_menus.build_toolbar(self)
        self.setAcceptDrops(True)
        self.resize(1600, 1000)
        self.dock_layout.default_sizes()
        self.dock_layout.remember_default()
        self.dock_layout.restore(self.settings, self.settings_panels())

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
            # Safe on a helper thread since the app makes PySide6's types eagerly (zsl_desktop.app): session 14's
            # SIGSEGV was shiboken's lazy type creation racing between the two threads (plot_preload.py)
            self.plot_import.start()
            QTimer.singleShot(PLOTS_AFTER_PREDICTIONS_MS, self._build_plots_when_quiet)

    @Slot()
    def _build_plots_when_quiet(self) -> None:
        if not self.plot_import.done:
            QTimer.singleShot(PLOT_IMPORT_POLL_MS, self, self._build_plots_when_quiet)
            return
        when_quiet(self, self.build_plots)

    @Slot()
    def build_plots(self) -> None:
        """The training and feature-space plots (built lazily: see ``PLOTS_AFTER_PREDICTIONS_MS``)."""
        self.training.build_plots()
        self.features.build_plot()

    @Slot(object)
    def _watch_feature_plot(self, plot) -> None:
        self.activity.watch(plot.getPlotItem().getViewBox().sigRangeChanged)

    # -- layout (window_layout) -------------------------------------------------------------------------
    def settings_panels(self) -> tuple:
        """The panels with settings of their own (restored and saved with the layout)."""
        return (self.image_view, self.predictions, self.features, self.training)

    def reset_layout(self) -> None:
        self.dock_layout.reset()

    def save_settings(self) -> None:
        self.dock_layout.save(self.settings, self.settings_panels())

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
        self.status_bar.job_started(title)
        self.training.set_available(False)
        if name == "train":
            self.training.on_started()

    @Slot(object)
    def show_job_progress(self, event) -> None:
        """The status bar's job progress: a Progress of any job, or a training run's TrainProgress."""
        self.status_bar.show_progress(event)
        if isinstance(event, Progress) and self.bridge.long_name == "open" and not self.image_view.has_image:
            self.image_view.show_message(progress_text.waiting_text(event))

    @Slot(str, str)
    def on_long_finished(self, name: str, status: str) -> None:
        self.status_bar.job_finished()
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
        if self.pending_open is not None and not self.closing:
            spec, self.pending_open = self.pending_open, None
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
        self.dataset_label.setText(window_menus.dataset_label_text(d, coming))

    @Slot(object)
    def on_model_state(self, summary) -> None:
        self.status_bar.show_model(summary)
        if summary is None:
            return
        dataset = self.controller.dataset
        preview = self.controller.preview  # a first chunk's fingerprint is never opened on its own
        if dataset is not None and not preview and summary.source and Path(summary.source).suffix == ".pt":
            self.settings.set_checkpoint_for(dataset.fingerprint, summary.source)

    # -- messages ------------------------------------------------------------------------------------------------
    @Slot(str)
    def show_status(self, text: str, seconds: float = 12.0) -> None:
        """A status line that fades after a while (the full text stays in its tooltip until replaced)."""
        self.status_bar.show_message(text, seconds)

    @Slot(str, str)
    def warn(self, title: str, text: str) -> None:
        if self.closing:
            return
        show_warning(self, title, text)  # window-modal, never blocks the event loop (or the tests)
        self.last_warning = (title, text)

    def about_text(self) -> str:
        return window_menus.about_text()

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
        if event.spontaneous() and not self.closing and not self.keep_unsaved_class():
            event.ignore()
            return
        self.closing = True
        self.save_settings()
        # an import under way (under a second; it cannot be cancelled) ends first: shutdown turns automatic
        # collection back on, which must not run on the import's thread and free Qt objects there (gui_gc)
        self.plot_import.join(PLOT_IMPORT_JOIN_S)
        self.bridge.shutdown()
        super().closeEvent(event)
