"""EngineBridge: the one QObject on the GUI thread that owns the worker threads and the session.

Why it is shaped like this (UI.md 3.2-3.3, measured on this machine):
- Every command is a call of the engine's ``Session`` (the facade the CLI
  uses too), run on a worker thread; the bridge adds only threads and signals.
- Long jobs (dataset preparation, extraction, training) run on a dedicated
  QThread as a Qt-free generator. The worker throttles at the source: steps
  are coalesced and progress is forwarded at most ~15 times a second.
- Short jobs (scoring, explanations, projections, loose photos) go through a
  latest-request-wins runner: one pending request per kind, request ids, and
  results whose id or dataset generation is stale are dropped here. The
  requests themselves, one engine call each, are ``bridge_requests``.
- Each result kind has its own signal carrying its frozen dataclass.
- Worker signals connect only to bound slots of this object. In PySide6 a
  lambda connected to a worker's signal runs in the worker thread.
- ``shutdown`` cancels, quits and waits for every thread; a QThread that is
  still running when Python collects it aborts the process.
- While its threads live, Python's cyclic garbage collector runs on the GUI
  thread only (``gui_gc``): a worker that collects a cycle holding Qt widgets
  destroys them off the GUI thread, which crashes or deadlocks Qt.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import replace
from functools import partial

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from zsl_desktop.app import gui_gc
from zsl_desktop.app.bridge_requests import ShortRequests
from zsl_desktop.app.workers import (
    LONG_JOB_NICENESS,
    TRAINING_NICENESS,
    LongJobThread,
    ShortJobRunner,
    ThumbnailLoader,
)
from zsl_desktop.engine.events import Control
from zsl_desktop.engine.session.before_torch import open_in_two_stages
from zsl_desktop.engine.session.spec import DatasetSpec
from zsl_desktop.engine.session.results import (
    DatasetLoaded,
    DatasetReady,
    FeaturesReady,
    JobFailed,
    LooseAdded,
    ModelSummary,
    Notice,
    Progress,
    TrainDone,
    TrainProgress,
)

LIVE_BRIDGES: "weakref.WeakSet[EngineBridge]" = weakref.WeakSet()  # tests check that all their threads stopped


class EngineBridge(ShortRequests, QObject):
    """Commands in (plain method calls), results out (one signal per kind, carrying plain data)."""

    long_started = Signal(str, str)  # name, title
    progress = Signal(object)  # Progress or TrainProgress of the running long job (at most ~15 a second)
    notice = Signal(str)  # something the user should know that is not an error
    train_event = Signal(object)  # TrainProgress, Phase, Validation, EpochEnd, Message, TrainDone of a training run
    long_finished = Signal(str, str)  # name, "ok" | "cancelled" | "failed"
    long_failed = Signal(object)  # JobFailed
    dataset_loaded = Signal(object)  # DatasetLoaded: before torch, for the model's kept predictions
    dataset_ready = Signal(object)  # DatasetReady
    features_ready = Signal()
    model_changed = Signal(object)  # ModelSummary
    # Short results: only the latest request of each kind arrives.
    live_scores = Signal(object)  # LiveScores
    draft_cluster = Signal(object)  # DraftCluster
    all_scores = Signal(object)  # AllScores
    explained = Signal(object)  # Explained
    image_loaded = Signal(object)  # ImageData
    projection = Signal(object)  # Projection (the finished one)
    projection_partial = Signal(object)  # Projection (a t-SNE on its way)
    evaluated = Signal(object)  # Evaluated
    refined = Signal(object)  # RefinedClass: the edited class refined from marked images
    photos_added = Signal(object)  # LooseAdded
    folder_batch = Signal(object)  # LooseAdded: one batch of the folder being added (a long job)
    saved = Signal(object)  # Saved
    species = Signal(object)  # SpeciesOffer: the CUB species "Start from" offers (request_species)
    short_failed = Signal(str, str)  # kind, message
    thumbnails = Signal(object)  # list of (key, rgb)
    busy_changed = Signal(bool)

    def __init__(self, parent=None, thumbnail_size: int = 112):
        super().__init__(parent)
        self.session = None  # the engine Session of the open dataset (handed over by its opening job)
        self.generation = 0
        self._rid = 0
        self._latest: dict[str, int] = {}
        self._long: LongJobThread | None = None
        self._first_live: threading.Event | None = None  # the opening's warm-up waits for it (open_dataset)
        self._before_torch: threading.Event | None = None  # the opening's torch import waits for it
        self._shown_early = None  # the dataset of a DatasetLoaded at start-up, until its DatasetReady
        self._results = {
            "live": self.live_scores,
            "draft": self.draft_cluster,
            "all": self.all_scores,
            "explain": self.explained,
            "image": self.image_loaded,
            "projection": self.projection,
            "evaluate": self.evaluated,
            "refine": self.refined,
            "loose": self.photos_added,
            "save": self.saved,
            "species": self.species,
        }
        # Two runners: interactive requests (scores, explanations, images) never queue behind slow ones (a t-SNE,
        # an evaluation, the user's photos); every image's scores and the evaluation wait for a pause in scrolling.
        self._short = ShortJobRunner(self, niceness=1, when_quiet=frozenset({"all"}))
        self._slow = ShortJobRunner(self, niceness=4, when_quiet=frozenset({"evaluate"}))
        for runner in (self._short, self._slow):
            runner.finished_job.connect(self._on_short_result)
            runner.failed_job.connect(self._on_short_failed)
            runner.partial.connect(self._on_short_partial)
        self._thumbs = ThumbnailLoader(thumbnail_size, self)
        self._thumbs.loaded.connect(self._on_thumbnails)
        self._shut = False
        gui_gc.acquire()  # before any worker runs: from now on only the GUI thread collects cycles
        self._short.start()
        self._slow.start()
        self._thumbs.start()
        LIVE_BRIDGES.add(self)

    # -- long jobs -------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._long is not None

    @property
    def long_name(self) -> str:
        return self._long.name if self._long is not None else ""

    def _start_long(self, name: str, title: str, job, niceness: int = LONG_JOB_NICENESS) -> bool:
        if self._long is not None or self._shut:
            return False
        control = Control()
        thread = LongJobThread(name, job, control, self, niceness)
        thread.event.connect(self._on_long_event)
        thread.done.connect(self._on_long_done)
        thread.failed.connect(self._on_long_failed)
        self._long = thread
        thread.start()
        self.long_started.emit(name, title)
        self.busy_changed.emit(True)
        return True

    def open_dataset(self, spec: DatasetSpec, warm_up_after_predictions: bool = False) -> bool:
        """Generate/load a dataset, extract its features, load a model. Returns False when busy.

        ``warm_up_after_predictions``: the opening's warm-up waits for the first live scores to arrive
        here (the window's controller asks for them as soon as a model is in), so it does not slow them.
        """
        gate = threading.Event() if warm_up_after_predictions else None
        self._first_live = gate
        self._before_torch = threading.Event()
        # A first launch uses two generations.
        spec = replace(spec, generation=self.generation + 1, warm_up_after=gate, before_torch=self._before_torch)
        return self._start_long("open", f"Opening {spec.title}", partial(open_in_two_stages, spec))

    @Slot()
    def release_opening(self) -> None:
        """The window has painted the model's kept predictions (or found none): the opening may import torch."""
        if self._before_torch is not None:
            self._before_torch.set()

    def load_checkpoint(self, path) -> bool:
        if self.session is None:
            return False
        return self._start_long("checkpoint", f"Loading {path}", partial(self.session.load_model_job, str(path)))

    def start_training(self, config, autosave: bool = True) -> bool:
        if self.session is None:
            return False
        job = partial(self.session.train_and_use, config, autosave=autosave)
        return self._start_long("train", f"Training {config.method}", job, TRAINING_NICENESS)

    def add_folder(self, paths) -> bool:
        """Folders of photos as a long job (progress, ETA, Cancel); each batch arrives as ``folder_batch``."""
        if self.session is None:
            return False
        job = partial(self.session.add_photos_job, [str(p) for p in paths], generation=self.generation)
        return self._start_long("photos", "Adding your photos", job)

    def pause(self) -> None:
        if self._long is not None:
            self._long.control.pause()

    def resume(self) -> None:
        if self._long is not None:
            self._long.control.resume()

    @property
    def paused(self) -> bool:
        return self._long is not None and self._long.control.paused

    def cancel(self) -> None:
        if self._long is not None:
            self._long.control.cancel()

    @Slot(object)
    def _on_long_event(self, event) -> None:
        if isinstance(event, DatasetLoaded):
            if self.session is None:  # at start-up the window may show it at once: its images' requests count
                self.generation, self._shown_early = event.generation, event.dataset
            try:
                self.dataset_loaded.emit(event)
            finally:  # once this paint is done (a zero timer runs after the posted paint events)
                QTimer.singleShot(0, self.release_opening)
        elif isinstance(event, DatasetReady):
            self.session, event = event.session, replace(event, session=None)  # the session stays here
            self.generation = event.generation
            if event.dataset is not self._shown_early:  # else the images asked for meanwhile are this dataset's
                self._short.clear()
                self._slow.clear()
                self._thumbs.clear()
            self._shown_early = None
            self.dataset_ready.emit(event)
        elif isinstance(event, FeaturesReady):
            if event.generation == self.generation:
                self.features_ready.emit()
        elif isinstance(event, ModelSummary):
            self.model_changed.emit(event)
        elif isinstance(event, LooseAdded):  # one batch of a folder being added
            if event.generation == self.generation:
                self.folder_batch.emit(event)
        elif isinstance(event, Notice):
            self.notice.emit(event.text)
        else:  # how far the job is, and the events of a training run
            if isinstance(event, (Progress, TrainProgress)):
                self.progress.emit(event)
            if self.long_name == "train":
                self.train_event.emit(event)
            if isinstance(event, TrainDone) and event.model is not None:
                self.model_changed.emit(event.model)

    def _end_long(self) -> LongJobThread | None:
        thread, self._long = self._long, None
        if thread is not None:
            thread.wait()
            thread.deleteLater()
        self.busy_changed.emit(False)
        return thread

    @Slot(str, str)
    def _on_long_done(self, name: str, status: str) -> None:
        self._end_long()
        self.long_finished.emit(name, status)

    @Slot(str, str, str)
    def _on_long_failed(self, name: str, message: str, details: str) -> None:
        self._end_long()
        self.long_failed.emit(JobFailed(name, message, details))
        self.long_finished.emit(name, "failed")

    # -- short jobs ------------------------------------------------------------------------------
    def _submit(self, kind: str, fn, priority: int = 0, slow: bool = False) -> int:
        if self._shut:
            return -1
        self._rid += 1
        rid = self._rid
        self._latest[kind] = rid
        (self._slow if slow else self._short).submit(kind, rid, fn, priority)
        return rid

    def _submit_to_session(self, kind: str, command, priority: int = 0, slow: bool = False) -> int:
        """Run ``command(session, ticket)`` on a runner, with the session of the dataset open now."""
        session = self.session

        def run(ticket):
            if session is None:
                from zsl_desktop.engine.session import NoModel

                raise NoModel("open a dataset first")
            return command(session, ticket)

        return self._submit(kind, run, priority, slow)

    def request_thumbnail(self, key, path) -> None:
        self._thumbs.request(key, path)

    def _current(self, kind: str, rid: int, value=None) -> bool:
        if self._latest.get(kind) != rid:
            return False
        generation = getattr(value, "generation", None)
        return generation is None or generation == 0 or generation == self.generation

    @Slot(str, int, object)
    def _on_short_result(self, kind: str, rid: int, value) -> None:
        if kind == "live":
            self._predictions_shown()
        if not self._current(kind, rid, value):
            return
        if kind.startswith("loose-"):
            self._latest.pop(kind, None)
            kind = "loose"
        self._results[kind].emit(value)

    @Slot(str, int, object)
    def _on_short_partial(self, kind: str, rid: int, value) -> None:
        if kind == "projection" and self._current(kind, rid, value):
            self.projection_partial.emit(value)
        elif kind == "live" and self._current(kind, rid, value):
            self.live_scores.emit(value)  # its page first (final=False); the final one follows

    @Slot(str, int, str)
    def _on_short_failed(self, kind: str, rid: int, message: str) -> None:
        if kind == "live":
            self._predictions_shown()
        if self._latest.get(kind) != rid:
            return
        if kind.startswith("loose-"):
            self._latest.pop(kind, None)
            kind = "loose"
        self.short_failed.emit(kind, message)

    def _predictions_shown(self) -> None:
        """A live job finished: the opening's warm-up may start (see ``open_dataset``)."""
        if self._first_live is not None:
            self._first_live.set()
            self._first_live = None

    @Slot(object)
    def _on_thumbnails(self, batch) -> None:
        self.thumbnails.emit(batch)

    def idle(self) -> bool:
        """True when no long job runs and no short request is pending (tests wait on this)."""
        return self._long is None and not self._short.busy() and not self._slow.busy()

    # -- lifetime ----------------------------------------------------------------------------------
    def threads(self) -> list[QThread]:
        return [t for t in (self._long, self._short, self._slow, self._thumbs) if t is not None]

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Cancel everything, stop and join every thread. Safe to call twice."""
        if self._shut:
            return True
        self._shut = True
        ok = True
        if self._long is not None:
            self._long.control.cancel()
            self.release_opening()
            ok &= self._long.wait(timeout_ms)
            self._long = None
        for runner in (self._short, self._slow, self._thumbs):
            runner.stop()
        for runner in (self._short, self._slow, self._thumbs):
            ok &= runner.wait(timeout_ms)
        if ok:  # with a worker still running, the GUI thread keeps collecting
            gui_gc.release()
        return bool(ok)
