"""``bench --only livetrain``: live re-scoring while a model trains in the same process (issue #19, item 3).

The app lets the user move attribute sliders while a model trains: the trainer
runs on the long-job thread, the live job on the short-job runner, both in one
process on the same cores. This section runs exactly that: an MSDN training run
(the app's default method, whose batches on grid features are the longest) on the
real CUB subset's features (else the bench dataset's, extracted if need be), on a
thread, and slider drags on this thread. A drag is
``DRAG_MOVES`` moves ``DRAG_GAP_S`` apart, then a pause (the trainer resumes).

Three figures per method, over the same drags: the trainer as the app runs it now
(deferring between batches to the live session's jobs, ``engine/live_first.py``,
at the training niceness), as it ran before (no deferring, the long-job niceness),
and no trainer at all. ``--quick`` measures the first only (the target; ``Sizes.livetrain_baselines``).
Every session is set up first (the trainer of the first condition meanwhile runs its own set-up and then waits
before its first batch, as at the app's pause: ``Trainer.set_up``); then each session's first move (no reference
yet: a whole column and the codes' caches) is timed apart, with no batch being trained: a drag's moves are what
the target is about.
"""

from __future__ import annotations

import threading
import time

from zsl_desktop.app.workers import LONG_JOB_NICENESS, TRAINING_NICENESS, lower_priority
from zsl_desktop.bench.live_edits import PAGE_ROWS, LiveEdits, live_subject
from zsl_desktop.bench.rows import Row, percentile_ms
from zsl_desktop.bench.sizes import Sizes
from zsl_desktop.engine.events import Control

DRAG_MOVES = 10
DRAG_GAP_S = 0.033  # a slider sends a move per frame or two
PAUSE_S = 0.5  # between drags: longer than live_first.LINGER_S, so each drag starts with the trainer running


class BatchAwareControl(Control):
    """The app's Control, which also says when its run first reaches a batch (``at_batch``): the run's set-up
    is then done. Paused before it starts (``Trainer.set_up``), the run waits there, as at the app's pause."""

    def __init__(self):
        super().__init__()
        self.at_batch = threading.Event()

    def check(self) -> None:
        self.at_batch.set()
        super().check()


class Trainer:
    """MSDN training for many epochs on a thread, until ``stop``; ``steps`` counts its batches.

    With a ``gate`` (a session's LiveFirst) it waits between batches while that session's live jobs run.
    ``set_up`` runs the run's set-up (~2.5 s: its data, network and the first batches' one-off work) ahead,
    while the bench sets up its sessions, and holds it before its first batch; ``start`` lets it train.
    """

    def __init__(self, dataset, features, gate=None, niceness: int = TRAINING_NICENESS):
        self.dataset, self.features, self.niceness = dataset, features, niceness
        self.control = BatchAwareControl()
        if gate is not None:
            self.control.defer_to(gate)
        self.steps = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="bench-trainer", daemon=True)

    def _run(self) -> None:
        from zsl_desktop.engine.events import Step
        from zsl_desktop.engine.training import TrainConfig, train

        lower_priority(self.niceness)  # as the app's training thread does
        config = TrainConfig(method="msdn", epochs=1000, device="cpu")
        try:
            for event in train(self.dataset, self.features, config, self.control):
                if isinstance(event, Step):
                    self.steps += 1
        except Exception as exc:  # Cancelled ends the run; anything else is reported by the bench
            if not self.control.cancelled:
                self.error = exc

    def set_up(self) -> None:
        """Start the run, paused: it sets up and then waits before its first batch (``wait_set_up``)."""
        self.control.pause()
        self._thread.start()

    def wait_set_up(self, timeout: float = 120.0) -> None:
        """Until the paused run waits before its first batch (or has failed: ``error``)."""
        deadline = time.perf_counter() + timeout
        while not self.control.at_batch.wait(0.05) and self._thread.is_alive() and time.perf_counter() < deadline:
            pass

    def start(self, timeout: float = 120.0) -> None:
        """Let the run train (starting it here when ``set_up`` did not) and return once it is past its first batches."""
        if self._thread.ident is None:
            self._thread.start()
        self.control.resume()
        deadline = time.perf_counter() + timeout
        while self.steps < 3 and self._thread.is_alive() and time.perf_counter() < deadline:
            time.sleep(0.05)  # past the run's set-up: batches are being trained

    def stop(self) -> None:
        self.control.cancel()  # wakes a paused run too
        if self._thread.ident is not None:
            self._thread.join()


def trainer_for(condition: str, dataset, features, edits: LiveEdits) -> Trainer | None:
    """The trainer of a livetrain condition (None: "alone"), not started."""
    if condition == "deferring":  # the app now: deferring between batches, at the training niceness
        return Trainer(dataset, features, edits.session.live_first, TRAINING_NICENESS)
    if condition == "not deferring":  # the app before: the long-job niceness, no deferring
        return Trainer(dataset, features, None, LONG_JOB_NICENESS)
    return None


def drags(edits: LiveEdits, moves: int) -> tuple[list[float], list[float]]:
    """``moves`` slider moves in drags of DRAG_MOVES: (seconds of every live job, of each drag's first)."""
    times, firsts = [], []
    while len(times) < moves:
        for i in range(min(DRAG_MOVES, moves - len(times))):
            times.append(edits.timed(edits.next()))
            if i == 0:
                firsts.append(times[-1])
            time.sleep(DRAG_GAP_S)
        time.sleep(PAUSE_S)
    return times, firsts


def training_data(dataset, real_cub: bool = True):
    """(dataset, features) the trainer trains on: the real CUB subset's when extracted, else ``dataset``'s."""
    from zsl_desktop.bench import real_cub as shared
    from zsl_desktop.engine.features import FeatureStore, extract_all

    cub = shared.real_cub() if real_cub else None
    if cub is not None:
        store = FeatureStore.open(cub, "efficientnet_lite0", 224)
        if store is not None:
            return cub, store.source()
    return dataset, extract_all(dataset).source()


def bench_live_while_training(
    dataset, sizes: Sizes, methods=None, report=None, real_cub: bool = True, features=None
) -> list[Row]:
    """Per method: re-score p95 with MSDN training in the same process: deferring, not, and no training.

    ``features``: the trainer trains on ``dataset`` with these (default: ``training_data``). One trainer
    per condition serves every method in turn (a deferring one defers to that method's session): its
    start-up (tens of seconds over five methods) is paid twice, not ten times.
    """
    from zsl_desktop.engine.methods import method_names

    train_on, features = (dataset, features) if features is not None else training_data(dataset, real_cub)
    names = list(methods or method_names())
    conditions = ("alone", "not deferring", "deferring") if sizes.livetrain_baselines else ("deferring",)
    edits: dict = {}
    trainers: dict = {}
    try:
        for name in names:  # every session's set-up first: no figure times it
            method, origin, scored_on = live_subject(name, dataset, real_cub)
            edits[name] = LiveEdits(method, scored_on, sizes.rescore_images), origin
            if len(edits) == 1 and conditions[0] != "alone":
                # The first condition's trainer sets up meanwhile (on the other core), then waits before its first
                # batch, as at the app's pause: a run's set-up was ~2.5 s of the section after the sessions'.
                trainers[conditions[0]] = trainer_for(conditions[0], train_on, features, edits[name][0])
                trainers[conditions[0]].set_up()
        for trainer in trainers.values():
            trainer.wait_set_up()  # nothing runs beside the first moves below: the set-up is over, no batch yet
            if trainer.error is not None:
                raise trainer.error
    except BaseException:
        for trainer in trainers.values():
            trainer.stop()
        raise
    first = {}
    for name in names:
        # A new session's first move has no reference: it scores the other classes, the whole column and fills
        # the codes' caches (IPCE: ~60 CPU ms at 10,000 images). Timed here, with every session set up and before
        # any trainer trains, and not in the drags' figures: among --quick's 20 moves it alone made IPCE's p95.
        live = edits[name][0]
        first[name] = live.timed(live.next())
        live.clear()
    figures: dict = {name: {} for name in names}
    for condition in conditions:
        trainer = trainers.pop(condition, None) or trainer_for(condition, train_on, features, edits[names[0]][0])
        if trainer is not None:
            trainer.start()
        try:
            for name in names:
                live = edits[name][0]
                if condition == "deferring":
                    trainer.control.defer_to(live.session.live_first)
                figures[name][condition] = _drags_measured(live, sizes.livetrain_edits, trainer)
                if trainer is not None and trainer.error is not None:
                    raise trainer.error
        finally:
            if trainer is not None:
                trainer.stop()
    rows = []
    for name in names:
        live, origin = edits[name]
        where = f"{sizes.rescore_images:,} images, {origin}, codes of {live.origin}; MSDN on {train_on.name}"
        p95, p50, first95, rate, cpu95, whole95 = figures[name]["deferring"]
        page = f"until the first {PAGE_ROWS} ranked and the selected image are final"
        new = [
            Row("livetrain", f"{name} p95 {page}, while MSDN trains ({where})", p95, "ms", "<= 8", p95 <= 8),
            Row("livetrain", f"{name} p50 while MSDN trains", p50, "ms"),
            Row("livetrain", f"{name} p95 of each drag's first move (a batch in flight)", first95, "ms"),
            Row("livetrain", f"{name} p95 until every score is final, while MSDN trains", whole95, "ms"),
            Row("livetrain", f"{name} p95 CPU time {page}, while MSDN trains", cpu95, "ms"),
            Row("livetrain", f"{name}: trainer batches/s during the drags, deferring", rate, "/s"),
            Row(
                "livetrain",
                f"{name} a new session's first move, no trainer (before the drags; in no p95)",
                1000 * first[name],
                "ms",
            ),
        ]
        if sizes.livetrain_baselines:
            new[4:4] = [
                Row(
                    "livetrain",
                    f"{name} p95, trainer not deferring (before the fix)",
                    figures[name]["not deferring"][0],
                    "ms",
                ),
                Row("livetrain", f"{name} p95, no training (same drags)", figures[name]["alone"][0], "ms"),
            ]
            new[7:7] = [Row("livetrain", f"{name} p95 CPU time, no training", figures[name]["alone"][4], "ms")]
            new.append(
                Row("livetrain", f"{name}: trainer batches/s, not deferring", figures[name]["not deferring"][3], "/s")
            )
        rows += new
        for row in new:
            if report is not None:
                report(row)
    return rows


def _drags_measured(edits: LiveEdits, moves: int, trainer) -> tuple:
    """(p95, p50, p95 of each drag's first move, trainer batches/s, p95 CPU, p95 whole column) of ``moves`` slider moves."""
    steps_before, start = (trainer.steps if trainer else 0), time.perf_counter()
    edits.clear()
    times, firsts = drags(edits, moves)
    rate = ((trainer.steps if trainer else 0) - steps_before) / (time.perf_counter() - start)
    return (
        percentile_ms(times, 95),
        percentile_ms(times, 50),
        percentile_ms(firsts, 95),
        rate,
        percentile_ms(edits.cpu, 95),
        percentile_ms(edits.whole, 95),
    )
