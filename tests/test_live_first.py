"""A training run defers to live scoring (engine/live_first.py): it waits between batches while live jobs run."""

import threading
import time

import numpy as np
import pytest

from zsl_desktop.engine.events import Cancelled, Control
from zsl_desktop.engine.live_first import LiveFirst


class _Batches:
    """A stand-in trainer: ``control.check()`` then one "batch" (a counter), until cancelled."""

    def __init__(self, control):
        self.control, self.count, self.error = control, 0, None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            while True:
                self.control.check()
                self.count += 1
                time.sleep(0.001)
        except Cancelled as exc:
            self.error = exc

    def stop(self):
        self.control.cancel()
        self.thread.join(5)
        assert not self.thread.is_alive()


def _wait_for(condition, timeout=30.0):  # a wait for an event, not a time limit: generous for a loaded machine
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_the_trainer_waits_while_a_live_job_runs_and_resumes_after_the_linger():
    gate = LiveFirst(linger=0.05)
    control = Control()
    control.defer_to(gate)
    trainer = _Batches(control)
    try:
        _wait_for(lambda: trainer.count > 5)
        with gate.urgent():
            time.sleep(0.05)  # the batch under way finishes; the next check waits
            frozen = trainer.count
            time.sleep(0.1)
            assert trainer.count == frozen, "no batch may start while a live job runs"
        assert gate.waits >= 1
        _wait_for(lambda: trainer.count > frozen + 5)  # resumes once the linger has passed
        assert not gate.busy()
    finally:
        trainer.stop()


def test_a_waiting_trainer_still_cancels_promptly():
    gate = LiveFirst(linger=0.05)
    control = Control()
    control.defer_to(gate)
    with gate.urgent():
        trainer = _Batches(control)
        time.sleep(0.05)
        assert trainer.count == 0
        start = time.monotonic()
        trainer.stop()
        assert time.monotonic() - start < 2.0
    assert isinstance(trainer.error, Cancelled)


def test_without_a_gate_or_a_live_job_check_does_not_wait():
    gate = LiveFirst(linger=10.0)  # a linger that long would show as a hang
    control = Control()
    control.check()
    control.defer_to(gate)
    control.check()  # no live job has run yet
    assert gate.waits == 0


def test_the_session_holds_the_gate_while_it_scores_and_its_trainer_defers_to_it(monkeypatch):
    from pathlib import Path

    from zsl_desktop.engine.data.model import Attribute, Dataset
    from zsl_desktop.engine.session import Session
    from zsl_desktop.engine.session.results import ClassSet, LiveRequest

    rng = np.random.default_rng(0)
    labels = np.arange(40) % 6
    dataset = Dataset(
        name="tiny",
        format="test",
        root=Path("."),
        classes=tuple(f"c{i}" for i in range(6)),
        attributes=tuple(Attribute.from_name(f"a{i}") for i in range(8)),
        class_attributes=rng.random((6, 8)).astype(np.float32),
        labels=labels,
        splits={k: np.arange(40) for k in ("trainval", "test_seen", "test_unseen")},
        seen_classes=np.arange(4),
        unseen_classes=np.arange(4, 6),
        features=rng.random((40, 8)).astype(np.float32),
    )
    session = Session(dataset, device="cpu")
    seen_busy = []

    class Method:
        def score(self, codes, classes):
            seen_busy.append(session.live_first.busy())
            return np.asarray(codes, np.float32) @ np.asarray(classes, np.float32).T

    session.use_codes(Method(), {}, np.ones((40, 8), np.float32))
    matrix = dataset.class_attributes.astype(np.float32)
    names = tuple(dataset.classes)
    session.live_scores(LiveRequest(item=3, classes=ClassSet(names, ("dataset",) * len(names), matrix, 0)))
    assert seen_busy and all(seen_busy)

    deferred = []
    monkeypatch.setattr(Control, "defer_to", lambda self, gate: deferred.append(gate))
    monkeypatch.setattr("zsl_desktop.engine.session.facade.train", lambda *a, **k: iter(()))
    list(session.train(object(), Control()))
    assert deferred == [session.live_first]


@pytest.mark.parametrize("linger", [0.0, 0.02])
def test_urgent_counts_nested_jobs(linger):
    gate = LiveFirst(linger=linger)
    with gate.urgent():
        with gate.urgent():
            assert gate.busy()
        assert gate.busy()
    time.sleep(linger + 0.01)
    assert not gate.busy()


# -- mid-batch waits (Control.paused_mid_batch) ---------------------------------------------------------
class _LongBatches:
    """A stand-in training run driven through ``control.paused_mid_batch``, in a thread: ``control.check()``,
    then one long "batch" of ``calls`` Python-level calls (``done`` counts them), one event per batch."""

    def __init__(self, control, calls=200_000, batches=3):
        self.control, self.calls, self.batches = control, calls, batches
        self.done, self.checks, self.result, self.error = 0, 0, None, None
        self.hooked_between_events = []  # sys.getprofile() while the driving thread handles an event
        self.thread = threading.Thread(target=self._drive, daemon=True)
        self.thread.start()

    def _step(self):
        self.done += 1

    def _run(self):
        for batch in range(self.batches):
            self.control.check()
            self.checks += 1
            while self.done < (batch + 1) * self.calls:  # ``calls`` is read each time: a test may shorten the batch
                self._step()
            yield self.done
        return "finished"

    def _drive(self):
        import sys

        from zsl_desktop.engine.events import run_to_end

        try:
            self.result = run_to_end(
                self.control.paused_mid_batch(self._run()),
                lambda event: self.hooked_between_events.append(sys.getprofile()),
            )
        except Cancelled as exc:
            self.error = exc

    def join(self, timeout=20.0):
        self.thread.join(timeout)
        assert not self.thread.is_alive()


def test_a_training_run_waits_mid_batch_at_its_next_call_and_finishes_the_batch_after():
    gate = LiveFirst(linger=0.05)
    control = Control()
    control.defer_to(gate)
    trainer = _LongBatches(control, calls=10**9, batches=1)
    try:
        _wait_for(lambda: trainer.done > 1000)
        with gate.urgent():
            time.sleep(0.05)
            frozen = trainer.done
            time.sleep(0.15)
            assert trainer.done == frozen, "the run computed on while a live job ran"
            assert trainer.checks == 1, "it should wait mid-batch"
            trainer.calls = frozen + 1000  # the rest of the batch, once it resumes
        trainer.join()
        assert trainer.done == trainer.calls and trainer.result == "finished"
    finally:
        control.cancel()
        trainer.thread.join(20)


def test_a_stuck_live_job_lets_the_batch_finish_and_the_run_waits_at_the_next_batch(monkeypatch):
    monkeypatch.setattr("zsl_desktop.engine.live_first.STUCK_S", 1.0)
    gate = LiveFirst(linger=0.05)
    control = Control()
    control.defer_to(gate)
    trainer = _LongBatches(control, calls=10**9, batches=3)
    try:
        # Inside the first batch before the live job starts: a thread started late on a loaded machine would
        # otherwise meet the job at its first check and wait there (session 15's CI: 30 s, then "timed out").
        _wait_for(lambda: trainer.done > 1000)
        with gate.urgent():  # stuck: runs far past STUCK_S
            time.sleep(0.05)  # the run is now paused mid-batch, for STUCK_S
            assert trainer.checks == 1
            trainer.calls = trainer.done + 20_000  # the rest of the first batch, and the length of the next two
            _wait_for(lambda: trainer.done == trainer.calls)  # once STUCK_S has passed, it goes on to its end
            time.sleep(0.15)
            assert trainer.done == trainer.calls and trainer.checks == 1, "the next batch must wait for its turn"
        trainer.join()
        assert trainer.result == "finished" and trainer.done == 3 * trainer.calls
    finally:
        control.cancel()
        trainer.thread.join(20)


def test_a_run_waiting_mid_batch_still_cancels_promptly():
    gate = LiveFirst(linger=0.05)
    control = Control()
    control.defer_to(gate)
    trainer = _LongBatches(control, calls=300_000, batches=2)
    _wait_for(lambda: trainer.done > 1000)
    with gate.urgent():
        time.sleep(0.05)
        assert trainer.done < trainer.calls, "it should wait mid-batch"
        control.cancel()  # the batch goes on to its end without waiting again; the next check raises
        trainer.join(10)
    assert isinstance(trainer.error, Cancelled)
    assert trainer.checks == 1 and trainer.done == trainer.calls


def test_the_hook_is_on_only_while_the_run_computes():
    import sys

    gate = LiveFirst(linger=0.0)
    control = Control()
    control.defer_to(gate)
    inside = []

    def run():
        inside.append(sys.getprofile())
        yield 1
        inside.append(sys.getprofile())
        return "value"

    from zsl_desktop.engine.events import run_to_end

    between = []
    assert run_to_end(control.paused_mid_batch(run()), lambda e: between.append(sys.getprofile())) == "value"
    assert all(hook is not None for hook in inside) and len(inside) == 2
    assert between == [None] and sys.getprofile() is None

    without_gate = []

    def plain():
        without_gate.append(sys.getprofile())
        yield 1

    list(Control().paused_mid_batch(plain()))
    assert without_gate == [None], "no gate, no hook"


def test_closing_the_run_early_closes_the_training_generator():
    closed = []

    def run():
        try:
            yield 1
            yield 2
        finally:
            closed.append(True)

    control = Control()
    control.defer_to(LiveFirst())
    events = control.paused_mid_batch(run())
    assert next(events) == 1
    events.close()
    assert closed == [True]


def test_live_jobs_mark_the_gate_maybe_busy_until_a_trainer_finds_it_idle():
    gate = LiveFirst(linger=0.0)
    assert not gate.maybe_busy
    with gate.urgent():
        assert gate.maybe_busy
    assert gate.maybe_busy  # nobody looked yet: the hook's cheap read still says "look"
    assert gate.wait_turn() is True
    assert not gate.maybe_busy


def test_train_drives_its_events_through_the_mid_batch_pauses(monkeypatch):
    import sys

    from zsl_desktop.engine import training

    seen = []

    def events(*args):
        seen.append(sys.getprofile())
        yield "event"
        return "finished"

    monkeypatch.setattr(training, "_train_events", events)
    control = Control()
    control.defer_to(LiveFirst())
    run = training.train(None, None, None, control)
    assert list(run) == ["event"] and seen[0] is not None
    monkeypatch.setattr(training, "_train_events", events)
    from zsl_desktop.engine.events import run_to_end

    assert run_to_end(training.train(None, None, None, control)) == "finished"
