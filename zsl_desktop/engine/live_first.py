"""Live scoring first: a training run in the same process waits between batches while the user edits a class.

Why: the app lets a model train while the user moves attribute sliders, and both
compete for the same few cores. A slider move must answer within a frame or two
(the bench's target: re-score p95 <= 8 ms), a training batch can wait a moment.
So the live job says it is running (``urgent``), and the trainer's ``Control.check``
between batches waits (``wait_turn``) until no live job has run for ``linger``
seconds: during a slider drag the trainer stays paused, so every move of the
drag but the first finds the cores free. The pause is bounded by the drag; a
cancel still stops the trainer at once.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

LINGER_S = 0.25  # a drag sends a move every ~30 ms: the trainer resumes once the user has stopped


class LiveFirst:
    """Shared by a session's live jobs (``urgent``) and its trainer (``wait_turn``); thread-safe."""

    def __init__(self, linger: float = LINGER_S):
        self.linger = linger
        self._cond = threading.Condition()
        self._running = 0
        self._last_end = float("-inf")
        self.waits = 0  # how many times a trainer waited (tests and the bench read it)

    @contextmanager
    def urgent(self):
        """Around a live job: trainers sharing this gate wait at their next batch boundary."""
        with self._cond:
            self._running += 1
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

    def wait_turn(self, cancelled=lambda: False) -> None:
        """Called by a trainer between batches: return once no live job is (or just was) running.

        ``cancelled()`` is polled so a paused trainer still stops promptly.
        """
        with self._cond:
            counted = False
            while not cancelled():
                now = time.monotonic()
                if not self._busy(now):
                    return
                if not counted:
                    self.waits += 1
                    counted = True
                left = self.linger - (now - self._last_end)
                self._cond.wait(timeout=max(0.005, min(0.1, left if self._running == 0 else 0.1)))
