"""Live scoring first: a training run in the same process waits between batches while the user edits a class.

Why: the app lets a model train while the user moves attribute sliders, and both
compete for the same few cores. A slider move must answer within a frame or two
(the bench's target: re-score p95 <= 8 ms), a training batch can wait a moment.
So the live job says it is running (``urgent``), and the trainer's ``Control.check``
between batches waits (``wait_turn``) until no live job has run for ``linger``
seconds: during a slider drag the trainer stays paused, so every move of the
drag but the first finds the cores free. The pause is bounded by the drag; a
cancel still stops the trainer at once.

A batch can last a tenth of a second and more (MSDN on grid features), so a trainer
that waited only between batches still ran beside the first move of every drag: it
computed on the other core and took the GIL back after each of its operations. So the
trainer also waits mid-batch, at its next Python-level call (``Control.paused_mid_batch``,
a per-thread profile hook that reads ``maybe_busy``): only the operation in flight
finishes beside the live job. A mid-batch wait gives up after ``STUCK_S`` of one live
job (a live job that long may be waiting for something the paused trainer holds, a
lock: the trainer then goes on to its batch's end, where it waits again as before).
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

LINGER_S = 0.25  # a drag sends a move every ~30 ms: the trainer resumes once the user has stopped
STUCK_S = 0.5  # a live job running this long is stuck (they take milliseconds): a mid-batch wait gives up


class LiveFirst:
    """Shared by a session's live jobs (``urgent``) and its trainer (``wait_turn``); thread-safe."""

    def __init__(self, linger: float = LINGER_S):
        self.linger = linger
        self._cond = threading.Condition()
        self._running = 0
        self._last_end = float("-inf")
        self._started = float("-inf")  # when the live jobs now running began
        self.waits = 0  # how many times a trainer waited (tests and the bench read it)
        # Read without the lock by a trainer's per-call hook, so it must be cheap: True from a live job's
        # start until a trainer found the gate idle (``wait_turn``), False while no live job ran since.
        self.maybe_busy = False

    @contextmanager
    def urgent(self):
        """Around a live job: trainers sharing this gate wait at their next batch boundary, or mid-batch at
        their next Python-level call when driven through ``Control.paused_mid_batch``."""
        with self._cond:
            if self._running == 0:
                self._started = time.monotonic()
            self._running += 1
            self.maybe_busy = True
        try:
            yield
        finally:
            with self._cond:
                self._running -= 1
                self._last_end = time.monotonic()
                self._cond.notify_all()

    def busy(self) -> bool:
        """True while a live job runs or ran less than ``linger`` seconds ago."""
        with self._cond:
            return self._busy(time.monotonic())

    def _busy(self, now: float) -> bool:
        return self._running > 0 or now - self._last_end < self.linger

    def wait_mid_batch(self, cancelled=lambda: False) -> bool:
        """``wait_turn`` for a trainer paused mid-batch: False (go on) once one live job has run ``STUCK_S``."""
        return self.wait_turn(cancelled, stuck=STUCK_S)

    def wait_turn(self, cancelled=lambda: False, stuck: float | None = None) -> bool:
        """Called by a trainer: return once no live job is (or just was) running; True then.

        ``cancelled()`` is polled so a paused trainer still stops promptly. With ``stuck`` (seconds), a
        live job running longer than that ends the wait too, and False is returned (a mid-batch wait).
        """
        with self._cond:
            counted = False
            while not cancelled():
                now = time.monotonic()
                if not self._busy(now):
                    if self._running == 0:
                        self.maybe_busy = False
                    return True
                if stuck is not None and self._running > 0 and now - self._started > stuck:
                    return False
                if not counted:
                    self.waits += 1
                    counted = True
                left = self.linger - (now - self._last_end)
                timeout = left if self._running == 0 else 0.1
                if stuck is not None and self._running > 0:
                    timeout = min(timeout, self._started + stuck - now)
                self._cond.wait(timeout=max(0.005, min(0.1, timeout)))
            return True
