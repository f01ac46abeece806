"""Tells the engine's quiet gate (``engine/quiet.py``) when the user scrolls or edits.

Heavy lazy imports on the workers (the warm-up's optimizer, openTSNE) hold the GIL for seconds; they wait
for a pause in what is connected here, so scrolling the gallery and moving a slider never wait on them.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Slot

from zsl_desktop.engine.quiet import GATE


class ActivityWatch(QObject):
    """Connect the signals that mean "the user is doing something now" with ``watch``."""

    def watch(self, *signals) -> None:
        for signal in signals:
            signal.connect(self.touched)

    @Slot()
    def touched(self) -> None:
        GATE.touch()
