"""The bridge's threading contracts: latest request wins, throttled long jobs, clean shutdown."""

import threading
import time

import numpy as np
from PySide6.QtCore import QObject, Slot

from zsl_desktop.app.bridge import EngineBridge
from zsl_desktop.app.workers import LongJobThread, ShortJobRunner
from zsl_desktop.engine.session.results import Progress, TrainProgress
from zsl_desktop.engine.session.throttle import StepCoalescer
from zsl_desktop.engine.methods.base import Control, Step


class Sink:
    def __init__(self):
        self.items = []

    def __call__(self, *args):
        self.items.append(args)


def test_short_runner_latest_request_wins(qtbot):
    bridge = EngineBridge()
    got = []
    bridge.live_scores.connect(lambda value: got.append(("live", value)))  # GUI-thread signal: fine
    gate = threading.Event()

    def slow(ticket):
        gate.wait(5)
        return "first"

    bridge._submit("live", slow)  # occupies the worker
    time.sleep(0.05)
    for i in range(20):  # these pile up while the first runs; only the last may survive
        bridge._submit("live", lambda t, i=i: f"request {i}")
    gate.set()
    qtbot.waitUntil(lambda: bool(got) and got[-1] == ("live", "request 19"), timeout=5000)
    qtbot.wait(100)
    assert got == [("live", "request 19")]  # "first" was stale when it finished: dropped
    assert bridge.shutdown()


def test_short_runner_reports_failures_and_keeps_running(qtbot):
    bridge = EngineBridge()
    failures, results = [], []
    bridge.short_failed.connect(lambda kind, msg: failures.append((kind, msg)))
    bridge.explained.connect(results.append)

    def boom(ticket):
        raise ValueError("no model loaded")

    bridge._submit("explain", boom)
    qtbot.waitUntil(lambda: bool(failures), timeout=5000)
    assert failures == [("explain", "no model loaded")]
    bridge._submit("explain", lambda t: 42)
    qtbot.waitUntil(lambda: results == [42], timeout=5000)
    assert bridge.shutdown()


def test_stale_ticket_lets_long_short_jobs_stop_early(qtbot):
    runner = ShortJobRunner()
    runner.start()
    seen = []

    def long_job(ticket):
        while not ticket.stale():
            time.sleep(0.01)
        seen.append("stopped")

    runner.submit("projection", 1, long_job)
    time.sleep(0.05)
    runner.submit("projection", 2, lambda t: None)
    qtbot.waitUntil(lambda: seen == ["stopped"], timeout=5000)
    runner.stop()
    assert runner.wait(5000)


class FinishedKinds(QObject):
    def __init__(self):
        super().__init__()
        self.kinds = []

    @Slot(str, int, object)
    def add(self, kind, rid, value):
        self.kinds.append(kind)


def test_a_when_quiet_kind_waits_for_the_users_pause_while_the_others_run(qtbot, monkeypatch):
    from zsl_desktop.engine.quiet import GATE

    monkeypatch.setattr(GATE, "quiet_after", 0.3)
    runner = ShortJobRunner(when_quiet=frozenset({"all"}))
    sink = FinishedKinds()
    done = sink.kinds
    runner.finished_job.connect(sink.add)  # a bound slot of a GUI-thread object: queued to the GUI thread
    runner.start()
    scrolling = threading.Event()

    def scroll():
        while not scrolling.is_set():
            GATE.touch()
            time.sleep(0.05)

    user = threading.Thread(target=scroll)
    user.start()
    runner.submit("all", 1, lambda t: "every image", priority=5)  # first and highest: still not while scrolling
    runner.submit("live", 2, lambda t: "this image", priority=3)
    qtbot.waitUntil(lambda: done == ["live"], timeout=5000)
    qtbot.wait(500)
    assert done == ["live"] and runner.busy()  # "all" waits, and says so
    scrolling.set()
    user.join()
    qtbot.waitUntil(lambda: done == ["live", "all"], timeout=5000)
    monkeypatch.setattr("zsl_desktop.app.workers.WAIT_LIMIT_S", 0.2)  # a user who never pauses: it runs after that
    GATE.touch()
    runner.submit("all", 3, lambda t: "every image")
    qtbot.waitUntil(lambda: done == ["live", "all", "all"], timeout=5000)
    runner.stop()
    assert runner.wait(5000)


def test_step_coalescer_keeps_every_step():
    c = StepCoalescer(rate=15.0)
    c.reset("select")
    batches = []
    for i in range(1, 1001):
        b = c.add(Step(i, 1000, 1, {"total": float(i)}), now=i * 0.001)  # 1000 steps in one second
        if b is not None:
            batches.append(b)
    tail = c.flush()
    if tail is not None:
        batches.append(tail)
    assert 10 <= len(batches) <= 20  # ~15 per second
    steps = np.concatenate([b.steps for b in batches])
    np.testing.assert_array_equal(steps, np.arange(1, 1001))
    np.testing.assert_array_equal(np.concatenate([b.losses["total"] for b in batches]), np.arange(1, 1001))
    assert all(isinstance(b, TrainProgress) and b.phase == "select" for b in batches)


def test_long_job_throttles_progress_and_can_be_cancelled(qtbot):
    bridge = EngineBridge()
    events = []
    bridge.progress.connect(events.append)
    finished = []
    bridge.long_finished.connect(lambda name, status: finished.append(status))

    def job(control, emit):
        # runs until cancelled (at most 60 s): 200,000 steps ended before the cancel on a fast machine
        end, i, total = time.monotonic() + 60, 0, 10**9
        while time.monotonic() < end:
            i += 1
            if control.cancelled:
                return
            if i % 10 == 0:
                emit(Progress("extract", i, total))
            yield Step(i, total, 1, {"total": 1.0})

    assert bridge._start_long("demo", "Demo", job)
    assert not bridge._start_long("demo2", "Demo", job)  # one long job at a time
    qtbot.waitUntil(lambda: len(events) > 5, timeout=10000)
    qtbot.wait(300)
    bridge.cancel()
    qtbot.waitUntil(lambda: bool(finished), timeout=10000)
    assert finished == ["cancelled"]
    progress = [e for e in events if isinstance(e, Progress)]
    steps = [e for e in events if isinstance(e, TrainProgress)]
    elapsed_bound = 60 * 15 + 10  # far fewer events than the tens of thousands emitted
    assert len(progress) < elapsed_bound and len(steps) < elapsed_bound
    assert sum(len(s.steps) for s in steps) > 100  # but every step's loss arrived
    assert not bridge.busy
    assert bridge.shutdown()


def test_long_job_failure_is_reported(qtbot):
    bridge = EngineBridge()
    failed = []
    bridge.long_failed.connect(failed.append)

    def job(control, emit):
        yield Progress("load", 0, 1)
        raise RuntimeError("images.txt, line 3: not a number")

    bridge._start_long("open", "Open", job)
    qtbot.waitUntil(lambda: bool(failed), timeout=5000)
    assert failed[0].name == "open" and "images.txt, line 3" in failed[0].message
    assert bridge.shutdown()


def test_shutdown_cancels_a_paused_job(qtbot):
    control = Control()
    thread = LongJobThread("train", lambda c, emit: _paused_job(c), control)
    thread.start()
    qtbot.wait(100)
    control.pause()
    qtbot.wait(100)
    control.cancel()
    assert thread.wait(5000)


def _paused_job(control):
    for i in range(10**6):
        control.check()
        yield Step(i, 10**6, 1, {})


def test_a_live_request_sends_its_page_first_then_the_whole_ranking(qtbot):
    """request_live: the session's early answer (the gallery's page) arrives, then the final one; a newer
    request makes the older one's stale() true, so its whole ranking stops and never arrives."""
    bridge = EngineBridge()
    got = []
    bridge.live_scores.connect(got.append)
    gate = threading.Event()
    stopped = []

    class FakeSession:
        def live_scores(self, request, on_page=None, stale=None):
            on_page(f"page {request}")
            if request == 1:
                gate.wait(5)  # the second request arrives meanwhile
                stopped.append(stale())
                return None if stale() else "whole 1"
            return f"whole {request}"

    bridge.session = FakeSession()
    bridge.request_live(1)
    qtbot.waitUntil(lambda: got == ["page 1"], timeout=5000)
    bridge.request_live(2)
    gate.set()
    qtbot.waitUntil(lambda: got[-1:] == ["whole 2"], timeout=5000)
    qtbot.wait(100)
    assert got == ["page 1", "page 2", "whole 2"] and stopped == [True]
    assert bridge.shutdown()


def test_a_training_phase_is_recognised_without_importing_training_for_other_events():
    """The opening's first event comes before torch: telling a Phase apart must not import training (torch)."""
    from zsl_desktop.app.workers import is_training_phase
    from zsl_desktop.engine.training import Phase

    assert is_training_phase(Phase("final", "training on every seen class", 3))
    assert not is_training_phase(Progress("load", 1, 1, "birds"))
    assert not is_training_phase(object())
