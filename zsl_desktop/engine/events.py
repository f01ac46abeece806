"""The vocabulary of long jobs (training, extraction, crop encoding), below everything that runs one.

Why a module of its own: the trainer, the feature store, the crop cache, the
methods and the app's workers all speak it; when it lived in ``methods/base.py``,
``features.py`` and ``training.py`` the modules that run jobs imported each
other in a circle. It imports nothing of the project.

- ``Control``: cancel and pause tokens a worker checks every batch; ``Cancelled`` is what it raises.
  ``Control.paused_mid_batch`` drives a training run so that it also waits mid-batch for live jobs.
- ``Step``/``EpochEnd``/``Message``: the events a method's ``fit`` yields.
- ``run_to_end`` drives a generator of events; ``prefetch`` keeps a thread pool a few items ahead.
- ``is_out_of_memory`` tells the out-of-memory errors that a job may recover from (smaller batches, the CPU).
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass

from zsl_desktop.engine.errors import JobCancelled


class Cancelled(JobCancelled):
    """Raised inside ``fit`` when the user cancels; the trainer keeps the best state so far."""


class Control:
    """Cancel and pause tokens shared between a worker and whoever drives it (thread-safe)."""

    def __init__(self):
        self._cancel = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._gate = None  # a LiveFirst (engine/live_first.py): wait between batches while live jobs run
        self._armed = True  # mid-batch waits allowed (off from a stuck live job to the next batch, and in check)

    def defer_to(self, gate) -> None:
        """Between batches, wait for ``gate.wait_turn`` too: the app's live scoring goes first."""
        self._gate = gate

    def cancel(self) -> None:
        self._cancel.set()
        self._running.set()  # wake a paused worker so it can stop

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def is_set(self) -> bool:  # lets a Control stand in for a threading.Event cancel token
        return self._cancel.is_set()

    def check(self) -> None:
        """Call between batches: wait while paused, raise Cancelled when cancelled."""
        while not self._running.wait(0.1):
            pass
        if self._gate is not None:
            self._armed = False  # the profile hook must not wait again inside this wait
            self._gate.wait_turn(self._cancel.is_set)
        self._armed = True
        if self._cancel.is_set():
            raise Cancelled()

    def paused_mid_batch(self, events):
        """Yield ``events`` (a training run's generator; its return value too), and while it computes, wait at
        its next Python-level call whenever the gate's live jobs run (engine/live_first.py says why).

        How: a profile hook (``sys.setprofile``, which is per thread) is on while ``events`` runs, in the
        thread that drives it, and off while that thread handles an event. Nothing changes without a
        gate, or when a profiler or debugger already hooks the thread.
        """
        try:
            while True:
                hooked = self._gate is not None and sys.getprofile() is None
                if hooked:
                    sys.setprofile(self._between_calls)
                try:
                    event = next(events)
                except StopIteration as stop:
                    return stop.value
                finally:
                    if hooked:
                        sys.setprofile(None)
                yield event
        finally:
            events.close()  # a run stopped early (the caller closed this generator) cleans up now

    def _between_calls(self, frame, event, arg) -> None:
        """The profile hook: called at every Python-level call and return, so the fast path is two reads."""
        gate = self._gate
        if gate is not None and gate.maybe_busy and self._armed:
            if not gate.wait_mid_batch(self._cancel.is_set) or self._cancel.is_set():
                self._armed = False  # a stuck live job, or cancelled: on to the batch's end (check re-arms)


# -- events -------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    """One optimisation step: ``step`` of ``total`` in the whole run, and its loss terms."""

    step: int
    total: int
    epoch: int
    losses: dict


@dataclass(frozen=True)
class EpochEnd:
    epoch: int  # 1-based
    epochs: int


@dataclass(frozen=True)
class Message:
    text: str


# -- driving long jobs ----------------------------------------------------------
def run_to_end(gen, on_event=None):
    """Drive a generator of events; return its return value."""
    while True:
        try:
            event = next(gen)
        except StopIteration as stop:
            return stop.value
        if on_event is not None:
            on_event(event)


def prefetch(pool, fn, items, ahead: int = 2):
    """Like ``pool.map`` but at most ``ahead`` results in flight, so memory stays bounded."""
    futures = [pool.submit(fn, item) for item in items[:ahead]]
    for i in range(len(items)):
        result = futures[i].result()
        futures[i] = None
        if i + ahead < len(items):
            futures.append(pool.submit(fn, items[i + ahead]))
        yield result


def is_out_of_memory(exc: BaseException) -> bool:
    """True for the out-of-memory errors of CUDA, MPS and the CPU allocator.

    torch is looked up, not imported: an error raised before torch was imported is not torch's, and the
    app's workers import this module at start-up, before torch (issue #19)."""
    torch = sys.modules.get("torch")
    if isinstance(exc, MemoryError) or (torch is not None and isinstance(exc, torch.OutOfMemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and (
        "out of memory" in text or "not enough memory" in text or "can't allocate memory" in text
    )
