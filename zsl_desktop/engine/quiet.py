"""A quiet moment for background work that holds the GIL for seconds: it waits while the user scrolls.

Why: every gallery cell the GUI thread paints enters Python and must take the GIL back, and a worker
importing a big library holds it almost without pause, so each entry waited up to Python's switch interval
(5 ms) and a frame of ~20 cells up to 100 ms. Measured with ``py-spy --gil`` while the scale bench scrolled
100,000 images (busy 2-core machine): the warm-up's first optimizer (``torch._dynamo``, ~1.3 s of GIL) and
the first t-SNE's ``openTSNE`` import (scikit-learn and scipy with it, ~2.3 s of GIL) ran during the scroll,
and the frame gap p95 was 131 ms on a quiet machine (target 20).

So those imports wait here until the user has left the app alone for ``QUIET_AFTER_S``, and pause again
before each further module they import if the user comes back meanwhile (``paced_imports``: an import cannot
be stopped, but it can wait between modules). Long loops of Python that the opening runs after the first
predictions (the images' check stats 100,000 files: ~0.4 s of GIL) pause the same way at their
``pause_for_user`` points, when the work is paced. The app calls ``touch()`` on each scroll or edit (one float
stored: cheap on the GUI thread); nothing is touched without an app (the CLI, the engine's tests), so there it
never waits. A waiting job polls, so a gate that is never touched again cannot hang it, and
``WAIT_LIMIT_S`` bounds the waits of one import for a user who never stops.
"""

from __future__ import annotations

import importlib.abc
import sys
import threading
import time
from contextlib import contextmanager

QUIET_AFTER_S = 1.0  # a pause this long in scrolling or editing counts as quiet
WAIT_LIMIT_S = 60.0  # the longest a heavy import waits (a user scrolling without a pause for a minute)
POLL_S = 0.05


class QuietGate:
    """When the user last did something the GIL-heavy background work should not disturb."""

    def __init__(self, quiet_after: float = QUIET_AFTER_S):
        self.quiet_after = quiet_after
        self.last_touch = float("-inf")  # never touched: quiet

    def touch(self) -> None:
        """The user scrolled or edited just now (called on the GUI thread)."""
        self.last_touch = time.monotonic()

    def quiet(self) -> bool:
        return time.monotonic() - self.last_touch >= self.quiet_after

    def quiet_or_waited(self, since: float, limit: float = WAIT_LIMIT_S) -> bool:
        """The rule every wait for quiet follows: go when quiet, or once waited ``limit`` seconds from ``since``
        (``time.monotonic()``), so a user who never pauses delays the work but never stops it.

        Its three waiters differ only in how they wait: ``wait`` blocks a worker, the app's
        ``activity.when_quiet`` polls with a GUI timer, ``workers.ShortJobRunner`` picks from its queue.
        """
        return self.quiet() or time.monotonic() - since >= limit

    def wait(self, cancelled=None, limit: float = WAIT_LIMIT_S) -> bool:
        """Block until quiet (or ``limit`` seconds); False if ``cancelled()`` said so meanwhile."""
        since = time.monotonic()
        while not self.quiet_or_waited(since, limit):
            if cancelled is not None and cancelled():
                return False
            time.sleep(POLL_S)
        return not (cancelled is not None and cancelled())


GATE = QuietGate()  # the process's one gate: the app touches it, the engine's heavy imports wait on it


class ImportPacer(importlib.abc.MetaPathFinder):
    """First on ``sys.meta_path`` during ``paced_imports``: before each module the pacing thread imports, it waits
    for a quiet moment, then lets the usual finders find the module (it finds nothing itself)."""

    def __init__(self, thread: int, cancelled=None, limit: float = WAIT_LIMIT_S):
        self.thread, self.cancelled = thread, cancelled
        self.deadline = time.monotonic() + limit  # for the whole paced work: past it, no more waiting

    def pause(self) -> None:
        """Wait for quiet (until the deadline or a cancel)."""
        if not GATE.quiet():
            GATE.wait(self.cancelled, max(0.0, self.deadline - time.monotonic()))

    def find_spec(self, name, path=None, target=None):
        if threading.get_ident() == self.thread:
            self.pause()
        return None


class _ThreadPacer(threading.local):
    """The pacer of the paced work running on this thread (``paced_imports``), or None."""

    pacer: ImportPacer | None = None


_THIS_THREAD = _ThreadPacer()


@contextmanager
def paced_imports(cancelled=None):
    """Imports on this thread wait for quiet before each module, and so do its ``pause_for_user`` points (other
    threads import and loop as usual).

    Cancelling stops the waiting, never an import half done: a module half imported would stay broken.
    """
    pacer = ImportPacer(threading.get_ident(), cancelled)
    outer, _THIS_THREAD.pacer = _THIS_THREAD.pacer, pacer
    sys.meta_path.insert(0, pacer)
    try:
        yield
    finally:
        sys.meta_path.remove(pacer)
        _THIS_THREAD.pacer = outer


def is_paced() -> bool:
    """Whether the work running on this thread is paced (inside ``paced_imports``)."""
    return _THIS_THREAD.pacer is not None


def pause_for_user() -> None:
    """A point in a long loop of Python where paced work (``paced_imports`` on this thread) waits for quiet.

    Free elsewhere (one thread-local read): the CLI, the tests and unpaced work never wait here.
    """
    pacer = _THIS_THREAD.pacer
    if pacer is not None:
        pacer.pause()


def import_when_quiet(*modules: str, cancelled=None) -> bool:
    """Import ``modules`` in quiet moments (free when they are imported already).

    False (and nothing imported) when ``cancelled()`` said so before the import began.
    """
    missing = [m for m in modules if m not in sys.modules]
    if not missing:
        return True
    if not GATE.wait(cancelled):
        return False
    with paced_imports(cancelled):
        for module in missing:
            __import__(module)
    return True
