"""``zsl-desktop bench`` says each figure as soon as it is measured (issue 19, item 5), and ``--quick`` keeps
every target line. Tiny sizes and stand-in child processes: the order of what is said is checked, no timing.
"""

import argparse
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from zsl_desktop.bench import child_window, runner, ui
from zsl_desktop.bench.sizes import Sizes


def fake_children(log: list):
    """A stand-in for ``ui.run_child``: logs each child it is asked to start and answers at once."""

    def run_child(mode, *args, home=None, **kwargs):
        log.append(("child", mode, "--until-complete" in args, home is not None))
        result = {"p50": 16.0, "p95": 17.0, "max": 30.0, "peak_rss_mb": 900.0, "at": {"READY": 1.0, "COMPLETE": 2.0}}
        return result, 1.0

    return run_child


def fake_prepare(log: list):
    """A stand-in for ``ui.prepare_memory_store`` (the bench writes the memory child's store itself)."""
    return lambda n_images, small=False, checkpoint=None, cached=False: log.append(("prepare", cached))


def stand_in_files(monkeypatch, log: list) -> None:
    """The files the bench writes before its children start, written by stand-ins that log the call."""
    monkeypatch.setattr(ui, "prepare_memory_store", fake_prepare(log))
    monkeypatch.setattr(ui, "prepare_kept_predictions", lambda small=False, checkpoint=None: log.append(("kept",)))


def test_the_app_rows_are_reported_one_child_at_a_time(monkeypatch):
    log: list = []
    monkeypatch.setattr(ui, "run_child", fake_children(log))
    stand_in_files(monkeypatch, log)
    rows = runner.bench_app(Sizes(startup_runs=1), report=lambda row: log.append(("row", row.name)))
    children = [i for i, entry in enumerate(log) if entry[0] == "child"]
    reported = [i for i, entry in enumerate(log) if entry[0] == "row"]
    assert len(reported) == len(rows) == 8
    # Each row is said before the next child starts: first launch (empty home, to the end), the kept predictions
    # written here, the cold start-up, the last start-up going on to the frame probe (one child), then the store
    # written here and the memory child.
    assert log[0] == ("child", "startup", True, True) and log[1][0] == log[2][0] == "row"
    assert log[3] == ("kept",) and log[4][:2] == ("child", "startup")
    assert [log[i][1] for i in children] == ["startup", "startup", "smooth", "memory"]
    smooth, memory = children[2], children[3]
    assert any(smooth < i < memory for i in reported) and reported[-1] > memory
    assert smooth < log.index(("prepare", False)) < memory
    first = {r.name: r for r in rows}["first launch, empty user folder: first predictions"]
    assert first.target == "<= 15" and first.ok


def measure(name: str) -> str:
    """A row's measure without its sizes: "frame gap p95 while training (20 s)" -> "frame gap p95 while training"."""
    return re.sub(r" \(.*?\)", "", name)


def test_quick_keeps_every_target_line(monkeypatch):
    log: list = []
    monkeypatch.setattr(ui, "run_child", fake_children(log))
    stand_in_files(monkeypatch, log)
    full = {measure(r.name) for r in runner.bench_app(Sizes()) if r.target}
    log.clear()
    quick = runner.bench_app(Sizes.quick())
    assert {measure(r.name) for r in quick if r.target} == full  # the same measures, at smaller sizes
    assert ("child", "startup", False, True) in log  # quick: the first launch closes at its first predictions
    started = [entry[1] for entry in log if entry[0] == "child"]
    assert started == ["startup", "smooth", "memory"]  # quick: the one start-up timed is the frame probe's


def test_the_cli_prints_each_figure_on_stderr_before_the_table(monkeypatch, capsys):
    """``main`` on stand-ins of the rescore (5 methods) and extract sections (the real ones are timed in
    test_bench.py): each figure on stderr within its section, the table at the end."""
    import zsl_desktop.engine.data as data

    def rescoring(dataset, sizes, methods=None, report=None, real_cub=True):
        rows = []
        for name in ("a", "b", "c", "d", "e"):
            rows += [runner.Row("rescore", f"{name} p{q}", 1.0, "ms") for q in (50, 95, 99)]
            for row in rows[-3:]:
                report(row)
        return rows

    monkeypatch.setattr(data, "load_builtin", lambda small=False: "the built-in birds")  # the stand-ins ignore it
    monkeypatch.setattr(runner, "bench_rescoring", rescoring)
    names = ("backbone images/s", "with JPEG decode", "compute bound", "fraction of the compute bound")
    monkeypatch.setattr(runner, "bench_extraction", lambda d, s: [runner.Row("extract", n, 1.0, "") for n in names])
    monkeypatch.setattr(Sizes, "quick", staticmethod(Sizes.tiny))
    args = argparse.Namespace(quick=True, only=["rescore", "extract"], json=None, markdown=None)
    assert runner.main(args) == 0
    out, err = capsys.readouterr()
    lines = err.splitlines()
    said = [i for i, line in enumerate(lines) if line.startswith("[")]  # "[   3s] feature extraction…"
    figures = [i for i, line in enumerate(lines) if line.startswith("  rescore:") or line.startswith("  extract:")]
    assert len(said) == 2 and len(figures) == 5 * 3 + 4
    rescore = [i for i in figures if lines[i].startswith("  rescore:")]
    assert said[0] < rescore[0] and rescore[-1] < said[1] < figures[-1]  # each figure said within its section
    assert "fraction of the compute bound" in out and "fraction of the compute bound" in lines[figures[-1]]


def test_a_childs_peak_memory_is_its_own(tmp_path):
    """ru_maxrss survives execve on Linux (a child reported the bench's own peak); VmHWM is the process's own."""
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nVmPeak:\t 9000000 kB\nVmHWM:\t  2048000 kB\nVmRSS:\t 1024000 kB\n")
    assert child_window.own_peak_rss_mb(str(status)) == 2000.0
    assert child_window.own_peak_rss_mb(str(tmp_path / "absent")) > 0  # elsewhere: getrusage's figure


def test_quick_opens_the_memory_store_with_its_codes_cached(monkeypatch):
    """--quick's memory row: the store's codes cached by the bench (no encoding); the full bench encodes."""
    asked: list = []

    def run_child(mode, *args, home=None, **kwargs):
        asked.append((mode, "--cached-codes" in args))
        return fake_children([])(mode, *args, home=home)

    monkeypatch.setattr(ui, "run_child", run_child)
    stand_in_files(monkeypatch, asked)
    quick = runner.bench_app(Sizes.quick())
    assert [a for a in asked if a[0] in ("prepare", "memory")] == [("prepare", True), ("memory", True)]
    assert any(r.name.startswith("peak RSS") and "codes cached" in r.name for r in quick)
    asked.clear()
    full = runner.bench_app(Sizes())
    assert [a for a in asked if a[0] in ("prepare", "memory")] == [("prepare", False), ("memory", False)]
    assert not any("codes cached" in r.name for r in full)


def test_quick_times_training_only_where_there_is_a_target(monkeypatch):
    """--quick trains on the CUB subset only the methods with an official time to halve (SGMA has none);
    ``--method`` picks the methods of every training row."""
    import zsl_desktop.engine.data.cub as cub
    import zsl_desktop.engine.paths as paths
    from zsl_desktop.engine.features import FeatureStore
    from zsl_desktop.engine.methods import method_names

    asked: list = []

    def training(dataset, features, sizes, label, methods=None, official=None, report=None):
        asked.append((label, methods))
        return []

    class Store:
        def source(self):
            return "features"

    monkeypatch.setattr(runner, "bench_training", training)
    monkeypatch.setattr(paths, "shared_data_dir", lambda: Path("/cub"))
    monkeypatch.setattr(cub, "load_cub", lambda root: "the CUB subset")
    monkeypatch.setattr(FeatureStore, "open", staticmethod(lambda *args, **kwargs: Store()))
    builtin = argparse.Namespace(name="the built-in birds")
    runner.run(sizes=Sizes.quick(), sections=["train"], dataset=builtin)
    targeted = [m for m in method_names() if m in runner.OFFICIAL_CUB_SECONDS_PER_EPOCH]
    assert asked == [("real CUB subset", targeted)] and "sgma" not in targeted
    asked.clear()
    runner.run(sections=["train"], dataset=builtin, features="features")
    assert asked == [("the built-in birds", None), ("real CUB subset", None)]  # the full bench: every method
    asked.clear()
    runner.run(sizes=Sizes.quick(), sections=["train"], dataset=builtin, methods=["msdn", "sgma"])
    assert asked == [("real CUB subset", ["msdn"])]


def test_the_start_up_row_is_the_first_predictions_shown_and_the_live_models_row_follows():
    """READY is what the user sees first (the kept scores on a second start), LIVE the live model's scores."""
    starts = [
        {"at": {"READY": 1.0, "LIVE": 2.5}, "ready_cpu_s": 0.7},
        {"at": {"READY": 4.0, "LIVE": 5.0}, "ready_cpu_s": 0.9},
        {"at": {"READY": 2.0, "LIVE": 3.5}, "ready_cpu_s": 0.8},
    ]
    rows = {r["name"]: r for r in ui.startup_rows(starts, cold=6.0)}
    first = rows["start-up to predictions (median of 3, data prepared; kept scores while the model loads)"]
    assert (first["value"], first["target"], first["ok"]) == (2.0, "<= 3", True)
    assert rows["start-up to the live model's predictions (median of 3)"]["value"] == 3.5
    assert rows["CPU seconds up to those predictions, every thread"]["value"] == 0.8
    assert rows["first of the runs above (cold file cache)"]["value"] == 6.0
    held = {r["name"] for r in ui.startup_rows(starts, cold=None, live_from=[])}  # --quick: one start-up, held
    assert not any("live model" in name for name in held) and len(held) == 2


def test_training_rows_stop_the_run_at_its_last_timed_epoch(monkeypatch):
    """What follows the last epoch (GSMFlow's final classifier) is in no row: the bench stops the run there."""
    import zsl_desktop.engine.training as training
    from zsl_desktop.bench.training_speed import bench_training
    from zsl_desktop.engine.methods.base import EpochEnd

    after: list = []

    class Method:
        def fit(self, data, control, epochs):
            for epoch in range(epochs):
                yield EpochEnd(epoch=epoch + 1, epochs=epochs)
            after.append("final classifier")  # reached only when the bench iterates past the last epoch

    monkeypatch.setattr(training, "build_method", lambda dataset, features, config: Method())
    monkeypatch.setattr(training, "train_data", lambda *args: argparse.Namespace(train_index=range(3)))
    dataset = argparse.Namespace(splits={"trainval": None}, seen_classes=None)
    features = argparse.Namespace(pooled="pooled", grid="grid")
    rows = bench_training(dataset, features, Sizes.tiny(), "toy", methods=["msdn"], official={"msdn": 2.0})
    assert [r.name for r in rows] == ["msdn on toy (official: 2 s), one epoch"] and rows[0].value >= 0
    assert after == []


def test_no_row_for_a_comparison_that_was_not_run(monkeypatch):
    """``--quick`` recomputes no column at 100,000 images: the row is left out, not printed as nan."""
    from dataclasses import replace

    import zsl_desktop.bench.live_edits as live_edits
    from zsl_desktop.bench.rescoring import bench_rescoring

    class Edits:
        origin, cpu, whole, whole_cpu = "stand-in codes", [0.001], [0.002], [0.002]
        codes = None

        def __init__(self, *args):
            pass

        def next(self):
            return argparse.Namespace(classes=argparse.Namespace(matrix=None))

        def timed(self, request):
            return 0.001

        def clear(self):
            pass

    monkeypatch.setattr(live_edits, "LiveEdits", Edits)
    monkeypatch.setattr(live_edits, "live_subject", lambda name, dataset, real_cub: (None, "stand-in", dataset))
    heard: list = []
    sizes = replace(Sizes.tiny(), full_recomputes=0)
    rows = bench_rescoring("birds", sizes, methods=["msdn"], report=heard.append)
    assert len(rows) == 6 and not any("recomputed" in r.name for r in rows) and heard == rows


def test_a_new_sessions_first_move_is_timed_apart_from_the_p95(monkeypatch):
    """The first move of a live session has no reference yet (one-off set-up): its own row, in no p95, and the
    p95 is over ``rescore_edits`` moves after it (as the livetrain section does)."""
    from dataclasses import replace

    import zsl_desktop.bench.live_edits as live_edits
    from zsl_desktop.bench.rescoring import bench_rescoring

    class Edits:
        origin, codes = "stand-in codes", None

        def __init__(self, *args):
            self.times = iter([0.5] + [0.002] * 95 + [0.004] * 5)
            self.cpu, self.whole, self.whole_cpu = [], [], []

        def next(self):
            return argparse.Namespace(classes=argparse.Namespace(matrix=None))

        def timed(self, request):
            seconds = next(self.times)
            self.cpu.append(seconds)
            self.whole.append(seconds)
            self.whole_cpu.append(seconds)
            return seconds

        def clear(self):
            self.cpu.clear()
            self.whole.clear()
            self.whole_cpu.clear()

    monkeypatch.setattr(live_edits, "LiveEdits", Edits)
    monkeypatch.setattr(live_edits, "live_subject", lambda name, dataset, real_cub: (None, "stand-in", dataset))
    sizes = replace(Sizes.tiny(), rescore_edits=100, full_recomputes=0)
    rows = {r.name.split(" (")[0]: r for r in bench_rescoring("birds", sizes, methods=["ipce"])}
    page = "until the first 100 ranked and the selected image are final"
    assert rows["ipce a new session's first move"].value == 500.0
    # 100 moves after it: 95 of 2 ms, 5 of 4 ms; with the first move among them the p95 would read 4 ms
    assert rows[f"ipce p95 {page}"].value == pytest.approx(2.0 + 0.05 * 2.0)
    assert rows[f"ipce p95 CPU time {page}"].value == rows[f"ipce p95 {page}"].value


def test_epoch_row_is_the_fastest_epoch_after_the_first_and_says_so():
    """The first epoch (one-off set-up) counts only when it is the only one; the row names its statistic."""
    from zsl_desktop.bench.training_speed import epoch_statistic

    assert epoch_statistic([9.0, 0.83, 0.69]) == (0.69, "min of 2 epochs")
    assert epoch_statistic([9.0, 0.9, 0.7, 0.8]) == (0.7, "min of 3 epochs")
    assert epoch_statistic([9.0, 0.83]) == (0.83, "one epoch")  # the set-up epoch is left out
    assert epoch_statistic([0.5]) == (0.5, "one epoch")
    value, words = epoch_statistic([])
    assert value != value and words == "no epoch"


def test_training_rows_name_the_statistic_of_the_epochs_they_ran(monkeypatch):
    """Three epochs run: the row is the faster of the last two, named "min of 2 epochs"; the slow first is not it."""
    import zsl_desktop.bench.training_speed as training_speed
    import zsl_desktop.engine.training as training
    from dataclasses import replace

    from zsl_desktop.engine.methods.base import EpochEnd

    clock = iter([0.0, 5.0, 5.8, 6.5])  # epochs of 5.0 (set-up), 0.8 and 0.7 s

    class Method:
        def fit(self, data, control, epochs):
            for epoch in range(epochs):
                yield EpochEnd(epoch=epoch + 1, epochs=epochs)

    monkeypatch.setattr(training_speed, "time", argparse.Namespace(perf_counter=lambda: next(clock)))
    monkeypatch.setattr(training, "build_method", lambda dataset, features, config: Method())
    monkeypatch.setattr(training, "train_data", lambda *args: argparse.Namespace(train_index=range(3)))
    dataset = argparse.Namespace(splits={"trainval": None}, seen_classes=None)
    features = argparse.Namespace(pooled="pooled", grid="grid")
    sizes = replace(Sizes.tiny(), train_epochs=3)
    rows = training_speed.bench_training(dataset, features, sizes, "toy", methods=["msdn"], official={"msdn": 2.0})
    assert [r.name for r in rows] == ["msdn on toy (official: 2 s), min of 2 epochs"]
    assert rows[0].value == pytest.approx(0.7) and rows[0].ok


def test_quick_shortens_only_set_up_that_no_epoch_depends_on():
    """--quick's GSMFlow mines with a 1-epoch relation network and 1 step: still one mined row per real row,
    so every epoch draws from a pool of the same size and trains the same batches as with the defaults."""
    from zsl_desktop.bench.sizes import QUICK_SETUP_ONLY
    from zsl_desktop.engine.methods.boundary_mining import boundary_mining
    from zsl_desktop.engine.methods.gsmflow.method import GSMFlow, MINING_HPARAMS

    assert Sizes.quick().train_hparams == QUICK_SETUP_ONLY and Sizes().train_hparams == {}
    assert list(QUICK_SETUP_ONLY) == ["gsmflow"] and set(QUICK_SETUP_ONLY["gsmflow"]) <= set(MINING_HPARAMS)
    rng = np.random.default_rng(0)
    x = torch.as_tensor(rng.standard_normal((40, 12)), dtype=torch.float32)
    y = torch.as_tensor(np.repeat(np.arange(4), 10))
    attributes = torch.as_tensor(rng.random((4, 6)), dtype=torch.float32)
    defaults = {k: GSMFlow.default_hparams[k] for k in MINING_HPARAMS}
    shapes = []
    for hp in (defaults, {**defaults, **QUICK_SETUP_ONLY["gsmflow"]}):
        generators = tuple(torch.Generator().manual_seed(k) for k in range(3))
        shapes.append(tuple(boundary_mining(x, y, attributes, hp, generators, lambda: None).shape))
    assert shapes == [tuple(x.shape)] * 2
