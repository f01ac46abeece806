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


def _wait_for(condition, timeout=5.0):
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
