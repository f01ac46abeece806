"""Coalescing training steps: many Step events in, at most ``rate`` TrainProgress a second out.

Why: the GUI redraws from the latest data only; forwarding every batch's loss
built a backlog that stalled the window (UI.md 3.3).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from zsl_desktop.engine.events import Step
from zsl_desktop.engine.session.results import TrainProgress


@dataclass
class StepCoalescer:
    """Collects every Step and hands them out at most ``rate`` times a second, as one TrainProgress."""

    rate: float = 15.0
    phase: str = ""
    _steps: list = field(default_factory=list)
    _last: float = 0.0
    _started: float = field(default_factory=time.perf_counter)
    _first_step: int = 0

    def reset(self, phase: str) -> None:
        self.phase = phase
        self._steps = []
        self._started = time.perf_counter()
        self._first_step = 0

    def add(self, step: Step, now: float | None = None) -> TrainProgress | None:
        if not self._steps and self._first_step == 0:
            self._first_step = step.step
            self._started = time.perf_counter()
        self._steps.append(step)
        now = time.perf_counter() if now is None else now
        if now - self._last >= 1.0 / self.rate:
            self._last = now
            return self.flush()
        return None

    def flush(self) -> TrainProgress | None:
        if not self._steps:
            return None
        steps, self._steps = self._steps, []
        last = steps[-1]
        names = sorted({k for s in steps for k in s.losses})
        losses = {k: np.array([s.losses.get(k, np.nan) for s in steps], np.float32) for k in names}
        elapsed = time.perf_counter() - self._started
        rate = (last.step - self._first_step + 1) / elapsed if elapsed > 0 else 0.0
        return TrainProgress(
            self.phase, last.step, last.total, last.epoch, rate, np.array([s.step for s in steps], np.int64), losses
        )
