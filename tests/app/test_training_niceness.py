"""Training runs at a lower CPU priority than other long jobs (app/workers.py): live scores and the GUI go first."""

import os
import threading

from zsl_desktop.app.workers import LONG_JOB_NICENESS, TRAINING_NICENESS, LongJobThread
from zsl_desktop.engine.events import Control


def _niceness_of_the_job(qtbot, niceness=None):
    seen = []

    def job(control, emit):
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))  # this worker thread's own
        yield from ()

    thread = (
        LongJobThread("job", job, Control())
        if niceness is None
        else LongJobThread("job", job, Control(), None, niceness)
    )
    with qtbot.waitSignal(thread.done, timeout=10000):
        thread.start()
    thread.wait()
    return seen[0] - os.getpriority(os.PRIO_PROCESS, 0)  # relative to this (the GUI) thread


def test_a_training_thread_is_nicer_than_other_long_jobs(qtbot):
    assert TRAINING_NICENESS > LONG_JOB_NICENESS
    base = os.getpriority(os.PRIO_PROCESS, 0)  # (nice 19 is the floor: under nice -n 15 both read 4)
    assert _niceness_of_the_job(qtbot) == min(LONG_JOB_NICENESS, 19 - base)
    assert _niceness_of_the_job(qtbot, TRAINING_NICENESS) == min(TRAINING_NICENESS, 19 - base)
