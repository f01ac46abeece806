"""The worker threads the bridge owns: one long job at a time, two latest-wins runners, a thumbnail loader.

Each is a QThread subclass created on the GUI thread; its signals are emitted
from ``run`` (the worker thread) and reach bound slots of the bridge through
queued connections. Nothing here touches a widget.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field

from PySide6.QtCore import QThread, Signal

from zsl_desktop.engine.errors import JobCancelled
from zsl_desktop.engine.events import Control, Step
from zsl_desktop.engine.quiet import GATE, POLL_S, WAIT_LIMIT_S
from zsl_desktop.engine.session.previews import load_thumbnail
from zsl_desktop.engine.session.results import Progress
from zsl_desktop.engine.session.throttle import StepCoalescer

log = logging.getLogger(__name__)

PROGRESS_RATE = 15.0  # events per second forwarded from a long job
LONG_JOB_NICENESS = 4  # extraction, opening, loading: never make the window stutter
# Training: lower still. Its batches cannot be interrupted, so a slider move that lands mid-batch shares
# the cores with it (engine/live_first.py pauses it only between batches); at +10 the scheduler gives the
# live job (+1) and the GUI (0) nearly all of a contended core, and on an idle machine training loses nothing.
TRAINING_NICENESS = 10


def lower_priority(niceness: int) -> None:
    """Make the calling worker thread yield the CPU to the GUI thread when cores are busy.

    QThread priorities are ignored on Linux (SCHED_OTHER), but each thread has its own nice value.
    Best effort: other systems and failures are ignored.
    """
    import os

    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, 0) + niceness)
    except (AttributeError, OSError):
        pass


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 600 else text[:600] + "…"


def is_training_phase(event) -> bool:
    """Whether ``event`` is a training run's ``Phase``, without importing training (and torch, ~2 s of CPU) for
    the events of an opening, whose first ones come before torch (issue #19): a Phase comes only from training,
    so until that module is imported no event is one."""
    training = sys.modules.get("zsl_desktop.engine.training")
    return training is not None and isinstance(event, training.Phase)


class LongJobThread(QThread):
    """Runs one generator job; forwards its events throttled (coalesced Steps, latest Progress)."""

    event = Signal(object)
    done = Signal(str, str)  # name, "ok" | "cancelled"
    failed = Signal(str, str, str)  # name, message, traceback

    def __init__(self, name: str, job, control: Control, parent=None, niceness: int = LONG_JOB_NICENESS):
        super().__init__(parent)
        self.name = name
        self.niceness = niceness
        self._job = job
        self.control = control
        self._steps = StepCoalescer(rate=PROGRESS_RATE)
        self._pending_progress = None
        self._last_progress = 0.0
        self._stage = None

    def run(self) -> None:  # worker thread
        lower_priority(self.niceness)  # training and extraction must never make the window stutter
        try:
            for event in self._job(self.control, self._emit):
                self._emit(event)
            self._flush()
            self.done.emit(self.name, "cancelled" if self.control.cancelled else "ok")
        except JobCancelled:  # training, extraction or generation stopped by the user
            self._flush()
            self.done.emit(self.name, "cancelled")
        except Exception as exc:  # reported to the user; the app stays up
            log.exception("job %s failed", self.name)
            self._flush()
            self.failed.emit(self.name, _describe(exc), traceback.format_exc())

    def _emit(self, event) -> None:
        if isinstance(event, Step):
            batch = self._steps.add(event)
            if batch is not None:
                self.event.emit(batch)
            return
        if isinstance(event, Progress):
            now = time.perf_counter()
            new_stage = event.stage != self._stage
            self._stage = event.stage
            if not new_stage and now - self._last_progress < 1.0 / PROGRESS_RATE and event.done < event.total:
                self._pending_progress = event
                return
            if new_stage and self._pending_progress is not None:
                self.event.emit(self._pending_progress)  # the last word of the previous stage
            self._last_progress = now
            self._pending_progress = None
            self.event.emit(event)
            return
        self._flush()
        if is_training_phase(event):
            self._steps.reset(event.name)
        self.event.emit(event)

    def _flush(self) -> None:
        batch = self._steps.flush()
        if batch is not None:
            self.event.emit(batch)
        if self._pending_progress is not None:
            self.event.emit(self._pending_progress)
            self._pending_progress = None


@dataclass
class _Request:
    kind: str
    rid: int
    fn: object
    priority: int
    since: float = field(default_factory=time.monotonic)


class Ticket:
    """Handed to a short job: ``stale()`` says a newer request of its kind is waiting; ``partial`` emits early."""

    def __init__(self, runner: "ShortJobRunner", kind: str, rid: int):
        self._runner, self.kind, self.rid = runner, kind, rid

    def stale(self) -> bool:
        return self._runner.is_stale(self.kind, self.rid)

    def partial(self, value) -> None:
        if not self.stale():
            self._runner.partial.emit(self.kind, self.rid, value)


class ShortJobRunner(QThread):
    """One worker thread, one pending request per kind (a newer one replaces it), highest priority first.

    Requests of the kinds in ``when_quiet`` start only in a pause of the user's scrolling and editing
    (``engine/quiet.py``), or once they have waited ``WAIT_LIMIT_S``; the other kinds run meanwhile. Why: at
    100,000 images every image's scores and the test-split evaluation are ~0.3 and ~0.2 s of CPU, partly
    holding the GIL, which the gallery's painting needs every frame (both arrived while the scale bench
    scrolled), and nothing on screen waits for them while the user scrolls.
    """

    finished_job = Signal(str, int, object)
    failed_job = Signal(str, int, str)
    partial = Signal(str, int, object)

    def __init__(self, parent=None, niceness: int = 1, when_quiet: frozenset[str] = frozenset()):
        super().__init__(parent)
        self.niceness = niceness
        self.when_quiet = frozenset(when_quiet)
        self._cond = threading.Condition()
        self._pending: dict[str, _Request] = {}
        self._latest: dict[str, int] = {}
        self._stopping = False
        self._running = False

    def submit(self, kind: str, rid: int, fn, priority: int = 0) -> None:
        with self._cond:
            self._latest[kind] = rid
            self._pending[kind] = _Request(kind, rid, fn, priority)
            self._cond.notify()

    def is_stale(self, kind: str, rid: int) -> bool:
        with self._cond:
            return self._stopping or self._latest.get(kind) != rid

    def clear(self) -> None:
        with self._cond:
            self._pending.clear()

    def busy(self) -> bool:
        with self._cond:
            return bool(self._pending) or self._running

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._pending.clear()
            self._cond.notify_all()

    def next_request(self) -> _Request | None:
        """The pending request to run now (highest priority, then oldest), leaving out the ``when_quiet`` kinds
        while the user is busy; None when there is none. Called with ``_cond`` held."""
        ready = [
            r
            for r in self._pending.values()
            if r.kind not in self.when_quiet or GATE.quiet_or_waited(r.since, WAIT_LIMIT_S)
        ]
        return max(ready, key=lambda r: (r.priority, -r.rid)) if ready else None

    def run(self) -> None:  # worker thread
        lower_priority(self.niceness)
        while True:
            with self._cond:
                self._running = False
                request = None
                while not self._stopping:
                    request = self.next_request()
                    if request is not None:
                        break
                    self._cond.wait(POLL_S if self._pending else None)  # a waiting request: look again soon
                if self._stopping or request is None:
                    return
                del self._pending[request.kind]
                self._running = True
            ticket = Ticket(self, request.kind, request.rid)
            try:
                result = request.fn(ticket)
            except Exception as exc:  # reported per kind; never kills the runner
                log.info("request %s failed", request.kind, exc_info=True)
                if not ticket.stale():
                    self.failed_job.emit(request.kind, request.rid, _describe(exc))
                continue
            if not ticket.stale():
                self.finished_job.emit(request.kind, request.rid, result)


class ThumbnailLoader(QThread):
    """Decodes thumbnails newest-request-first and hands them over in batches (~30 per second)."""

    loaded = Signal(object)  # list of (key, rgb array or None)

    def __init__(self, size: int = 112, parent=None):
        super().__init__(parent)
        self.size = size
        self._cond = threading.Condition()
        self._stack: list[tuple] = []
        self._queued: set = set()
        self._stopping = False

    def request(self, key, path) -> None:
        with self._cond:
            if key in self._queued:
                return
            self._queued.add(key)
            self._stack.append((key, str(path)))
            self._cond.notify()

    def clear(self) -> None:
        with self._cond:
            self._stack.clear()
            self._queued.clear()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._stack.clear()
            self._cond.notify_all()

    def run(self) -> None:  # worker thread
        lower_priority(2)
        batch, last = [], time.perf_counter()
        while True:
            with self._cond:
                while not self._stack and not self._stopping:
                    if batch:
                        break
                    self._cond.wait()
                if self._stopping:
                    return
                item = self._stack.pop() if self._stack else None
                if item is not None:
                    self._queued.discard(item[0])
            if item is not None:
                key, path = item
                try:
                    rgb = load_thumbnail(path, self.size)
                except Exception:  # a broken image gets a placeholder, not a crash
                    rgb = None
                batch.append((key, rgb))
            now = time.perf_counter()
            if batch and (item is None or now - last > 0.033 or len(batch) >= 64):
                self.loaded.emit(batch)
                batch, last = [], now
