"""Tells the engine's quiet gate (``engine/quiet.py``) when the user scrolls or edits, and waits for it on the GUI side.

Heavy lazy imports on the workers (the warm-up's optimizer, openTSNE) hold the GIL for seconds; they wait
for a pause in what is connected here, so scrolling the gallery and moving a slider never wait on them.
The GUI thread's own one-off work of that size (building the plots imports pyqtgraph: ~0.4 s of CPU, a
frozen frame) waits for the same pause (``when_quiet``).
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, QTimer, Slot

from zsl_desktop.engine.quiet import GATE, WAIT_LIMIT_S

QUIET_POLL_MS = 100  # how often a call waiting for the user's pause looks again


class ActivityWatch(QObject):
    """Connect the signals that mean "the user is doing something now" with ``watch``."""

    def watch(self, *signals) -> None:
        for signal in signals:
            signal.connect(self.touched)

    @Slot()
    def touched(self) -> None:
        GATE.touch()


def when_quiet(context: QObject, call, limit: float = WAIT_LIMIT_S) -> None:
    """``call()`` on the GUI thread: now when the user is not scrolling or editing, else at their first pause
    (at most ``limit`` seconds later). Dropped if ``context`` is deleted meanwhile (a closed window)."""
    since = time.monotonic()

    def check() -> None:
        if GATE.quiet_or_waited(since, limit):
            call()
        else:
            QTimer.singleShot(QUIET_POLL_MS, context, check)

    check()
