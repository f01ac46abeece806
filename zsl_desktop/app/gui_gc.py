"""While worker threads run, Python's cyclic garbage collector runs on the GUI thread only, from a timer.

Why: automatic collection runs in whichever thread allocates when a threshold is crossed, and the
workers allocate the most (a job's events, numpy arrays, torch's Python objects). A collection frees
every unreachable reference cycle, and cycles hold Qt objects: pyqtgraph items, closed windows with
their panels, pixmaps and timers. A Qt widget destroyed off the GUI thread corrupts Qt's state: a
window's widgets in cycles, collected by a worker, segfaulted a small stress script in 2 of 3 runs
(none in runs where only the GUI thread collected), and the app tests hung once in a futex wait and
aborted once with a fatal-error dump in about seven runs on a busy machine.

So while any bridge's threads may run, automatic collection is off and a GUI-thread timer collects
once the young generation's count passes the threshold Python itself uses (as pyqtgraph's
``GarbageCollector`` does), always at least generation 1 so that no collection walks a pile of a job's
long-lived objects at once (``collect_due``). When the last bridge shuts down, the cycles made meanwhile are collected
here, on the GUI thread, and automatic collection is restored.

Before that, the start-up's imports (torch, Qt, pyqtgraph: ~350k objects) set off ~490 automatic
collections that find almost nothing (7k objects in cycles) and cost ~0.27 s of CPU on the way to the
first predictions (measured, busy 2-core machine). So the app pauses collection for them
(``pause_for_start_up``); the first ``acquire`` freezes what they made (``gc.freeze``: never scanned
again, as the window freezes its heap once the dataset is open) and the collector takes over.
"""

from __future__ import annotations

import gc
import time

from PySide6.QtCore import QCoreApplication, QObject, QTimer, Slot

CHECK_MS = 200  # a young generation this old is what Python collects every few hundred allocations
# A full collection walks every object (with torch loaded, 235k: ~1.1 s on a busy 2-core machine) and holds
# the GIL. Python itself runs one only when a quarter more objects have reached the oldest generation,
# which it does not tell us: here, at most once a minute (the app freezes its start-up heap, gc.freeze).
FULL_EVERY_S = 60.0


class GuiThreadCollector(QObject):
    """Counts the users (bridges) that need it; gc is the GUI thread's job while there is one."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.users = 0
        self.thresholds = gc.get_threshold()
        self.was_enabled = True
        self.last_full = time.monotonic()
        self.timer = QTimer(self)
        self.timer.setInterval(CHECK_MS)
        self.timer.timeout.connect(self.collect_due)

    def acquire(self) -> None:
        if self.users == 0:
            end_start_up_pause()
            self.thresholds = gc.get_threshold()
            self.was_enabled = gc.isenabled()
            gc.disable()
            self.timer.start()
        self.users += 1

    def release(self) -> None:
        if self.users == 0:
            return
        self.users -= 1
        if self.users == 0:
            self.timer.stop()
            gc.collect()  # the cycles made while the workers ran, freed here on the GUI thread
            if self.was_enabled:
                gc.enable()

    @Slot()
    def collect_due(self) -> None:
        """Python's own rule, on this thread: once the young generation is due, collect the oldest one that is
        (the oldest, a full collection, at most every ``FULL_EVERY_S``), but never generation 0 alone.

        Generation 1 collects the new objects and moves the survivors straight to the oldest generation, so the
        middle one never piles up a training job's long-lived objects: Python's rule (generation 1 every 10th
        time) made one collection walk the ~71,000 objects a starting MSDN job made, 39-62 ms on the GUI thread
        (the frame gap max while training), where each timer tick now walks only what the last 200 ms made.
        """
        counts = gc.get_count()
        if counts[0] <= self.thresholds[0]:
            return
        for generation in (2, 1):
            if counts[generation] > self.thresholds[generation]:
                if generation == 2:
                    if time.monotonic() - self.last_full < FULL_EVERY_S:
                        continue
                    self.last_full = time.monotonic()
                gc.collect(generation)
                return
        gc.collect(1)


_COLLECTOR: GuiThreadCollector | None = None
_START_UP: list[bool] = []  # [True] while the start-up's pause is on


def pause_for_start_up() -> None:
    """Automatic collection off for the start-up's imports, until the first ``acquire`` (see the module)."""
    if gc.isenabled() and not _START_UP:
        gc.disable()
        _START_UP.append(True)


def end_start_up_pause() -> None:
    """Freeze the objects the start-up made and turn automatic collection back on (once; later calls
    do nothing). Called by the first ``acquire``, which then takes collection over for the GUI thread."""
    if _START_UP:
        _START_UP.clear()
        gc.freeze()  # resets the generations' counts too: no first collection walking every import's objects
        gc.enable()


def collector() -> GuiThreadCollector | None:
    """The one collector of this application (None without a QCoreApplication: nothing to protect)."""
    global _COLLECTOR
    app = QCoreApplication.instance()
    if app is None:
        return None
    if _COLLECTOR is None:
        _COLLECTOR = GuiThreadCollector(app)  # a child of the application: it lives as long
    return _COLLECTOR


def acquire() -> None:
    """Call on the GUI thread before starting worker threads."""
    c = collector()
    if c is not None:
        c.acquire()


def release() -> None:
    """Call on the GUI thread once those workers have stopped."""
    c = collector()
    if c is not None:
        c.release()
