"""A frame-interval probe: a 16 ms timer on the GUI thread that records the gaps between its ticks.

Gaps well above 16 ms are frames the user would see stutter; UI.md 3.3 keeps one running in
tests and in the screenshot tour while a model trains.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QElapsedTimer, QObject, QTimer, Signal, Slot


class FrameProbe(QObject):
    ticked = Signal()  # after each tick: what a frame does (the scale bench scrolls the gallery)

    def __init__(self, interval_ms: int = 16, parent=None):
        super().__init__(parent)
        self._clock = QElapsedTimer()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.setTimerType(self._timer.timerType().PreciseTimer)
        self._timer.timeout.connect(self._tick)
        self._last = None
        self.gaps: list[float] = []

    def start(self) -> None:
        self.gaps = []
        self._last = None
        self._clock.start()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    @Slot()
    def _tick(self) -> None:
        now = self._clock.nsecsElapsed() / 1e6
        if self._last is not None:
            self.gaps.append(now - self._last)
        self._last = now
        self.ticked.emit()

    def stats(self) -> dict:
        g = np.asarray(self.gaps, float)
        if g.size == 0:
            return {"n": 0}
        return {
            "n": int(g.size),
            "p50_ms": float(np.median(g)),
            "p95_ms": float(np.percentile(g, 95)),
            "p99_ms": float(np.percentile(g, 99)),
            "max_ms": float(g.max()),
        }

    def summary(self) -> str:
        s = self.stats()
        if not s["n"]:
            return "no ticks"
        return (
            f"{s['n']} ticks, gap p50 {s['p50_ms']:.0f} ms, p95 {s['p95_ms']:.0f} ms, "
            f"p99 {s['p99_ms']:.0f} ms, max {s['max_ms']:.0f} ms"
        )
