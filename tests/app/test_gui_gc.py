"""While the bridge's workers run, only the GUI thread collects reference cycles (app/gui_gc.py).

A cycle holding Qt widgets collected by a worker destroys them off the GUI thread, which crashes
or deadlocks Qt (the app tests' rare hang and abort).
"""

import gc
import threading

from zsl_desktop.app import gui_gc
from zsl_desktop.app.bridge import EngineBridge


class Cycle:
    """Unreachable garbage that only the cyclic collector frees; says which thread freed it."""

    def __init__(self, freed_in: list):
        self.me = self
        self.freed_in = freed_in

    def __del__(self):
        self.freed_in.append(threading.current_thread() is threading.main_thread())


def _allocate_in_a_worker(n: int = 200_000) -> list:
    """What a job does between torch calls: many small Python objects, some kept (enough to set off collections)."""
    kept = []

    def work():
        batch = []
        for i in range(n):
            batch.append({"step": i})
            if len(batch) >= 1000:
                kept.append(batch)  # the events a job hands over stay alive a while
                batch = []

    t = threading.Thread(target=work)
    t.start()
    t.join()
    return kept


def test_while_a_bridge_runs_only_the_gui_thread_collects_cycles(qtbot):
    assert gc.isenabled()
    bridge = EngineBridge()
    try:
        assert not gc.isenabled()  # no automatic collection, in any thread
        freed_in = []
        Cycle(freed_in)
        kept = _allocate_in_a_worker()
        assert freed_in == []  # the worker's allocations collected nothing
        qtbot.waitUntil(lambda: bool(freed_in), timeout=10_000)  # the GUI thread's timer did
        assert freed_in == [True]
        del kept
    finally:
        assert bridge.shutdown()
    assert gc.isenabled()  # the last bridge gone: automatic collection is back


def test_shutdown_frees_the_cycles_made_meanwhile_on_the_gui_thread(qtbot):
    bridge = EngineBridge()
    gui_gc.collector().timer.stop()  # as if the timer had not come round yet
    freed_in = []
    Cycle(freed_in)
    assert bridge.shutdown()
    assert freed_in == [True]


def test_two_bridges_hand_over(qtbot):
    first, second = EngineBridge(), EngineBridge()
    assert first.shutdown() and not gc.isenabled()  # the second one's workers still run
    assert second.shutdown() and gc.isenabled()
    assert second.shutdown() and gc.isenabled()  # twice is harmless


def test_the_timer_keeps_pythons_thresholds():
    collector = gui_gc.GuiThreadCollector()
    collector.thresholds = (10**9, 10, 10)  # the young generation never due: nothing is collected
    freed_in = []
    was = gc.isenabled()
    gc.disable()
    try:
        Cycle(freed_in)
        collector.collect_due()
        assert freed_in == []
        collector.thresholds = (0, 10**9, 10**9)  # due: generation 0 only, where the new cycle is
        collector.collect_due()
        assert freed_in == [True]
    finally:
        if was:
            gc.enable()


def test_a_full_collection_at_most_once_a_minute():
    collector = gui_gc.GuiThreadCollector()
    collector.thresholds = (0, -1, -1)  # every generation due (once anything was allocated)
    generations = []

    def record(phase, info):
        if phase == "start":
            generations.append(info["generation"])

    gc.callbacks.append(record)
    try:
        collector.last_full = 0.0  # long ago: the full one runs
        collector.collect_due()
        allocated = [[] for _ in range(10)]
        collector.collect_due()  # just ran: the next oldest instead
    finally:
        gc.callbacks.remove(record)
    assert generations == [2, 1] and allocated


def test_the_start_up_imports_run_without_collections_then_the_bridge_takes_over(qtbot):
    """The app's start-up (``configure_torch``, first) pauses automatic collection; its first bridge freezes
    what was made meanwhile, so no collection walks the imports' objects, and collects as before."""
    collections = []

    def record(phase, info):
        if phase == "start":
            collections.append(info["generation"])

    frozen_before = gc.get_freeze_count()
    gc.callbacks.append(record)
    try:
        gui_gc.pause_for_start_up()
        assert not gc.isenabled()
        freed_in = []
        Cycle(freed_in)
        made = [[i] for i in range(50_000)]  # what imports make (tracked objects): far past the thresholds
        assert collections == [], "no collection while the start-up imports"
        bridge = EngineBridge()
        try:
            assert gc.get_freeze_count() >= frozen_before + len(made), "the start-up's objects are frozen"
            assert gc.get_count()[0] < 1000, "the young generation starts again: no first sweep of them all"
            assert not gc.isenabled(), "the GUI thread's collector has taken over"
            kept = _allocate_in_a_worker()
            qtbot.waitUntil(lambda: bool(collections), timeout=10_000)  # the GUI thread's timer collects again
            del kept
        finally:
            assert bridge.shutdown()
        assert gc.isenabled()
        assert freed_in == [], "the start-up's cycles stay frozen: a few thousand objects, never scanned again"
    finally:
        gc.callbacks.remove(record)
        gc.unfreeze()  # the rest of the test session collects as it did
        gc.enable()


def test_the_start_up_pause_ends_once():
    gui_gc.end_start_up_pause()  # without a pause: nothing to do
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    gui_gc.end_start_up_pause()
    assert gc.get_freeze_count() == frozen
