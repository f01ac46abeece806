"""How long the GUI thread stalls while a dataset opens in the real main window (offscreen).

Usage: PYTHONPATH=<worktree> ZSL_DESKTOP_HOME=<home> python opening_stalls.py {cub,builtin}[,{cub,builtin}...]
                                                                           [--profile FILE] [--json FILE]

The window is built and shown, then each dataset named is opened in turn in the same window (the first
opening of a process pays the one-off imports, as a user's first opening does) with its remembered model (CUB:
the one ``[checkpoints]`` of the home's settings names; the built-in birds: the shipped MSDN). The features must
already be in the home's feature store: this measures opening a dataset whose features are cached, not
extracting them. A 16 ms timer on the GUI thread records, at each tick, the wall clock and the GUI thread's own
CPU clock (``time.thread_time``): a gap's wall time is what the user saw frozen on this (busy) machine, its CPU
time what the GUI thread itself spent in it (the quiet-machine equivalent, less any wait for the GIL).
An opening ends when the open job has finished, the plots are built, the model's first scores are in and the
bridge has been idle for ``SETTLE_S``. ``--profile`` writes a cProfile of the GUI thread (every opening).

Session 14 (opening14): ``docs/history/opening_stalls.md``.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
CUB = Path("/work/shared/zsl_data/CUB_200_2011")
TICK_MS = 16
SETTLE_S = 3.0  # the bridge idle this long, with nothing left to come: the opening is over
BIG_MS = 250.0  # the target: no single stall over this when a dataset whose features are cached opens


# The GUI-thread calls that session 13's profile found in the opening's stalls (module, class, method).
TRACED = (
    ("zsl_desktop.app.controller", "Controller", "on_dataset_loaded"),
    ("zsl_desktop.app.controller", "Controller", "on_dataset_ready"),
    ("zsl_desktop.app.panels.class_editor", "ClassEditorPanel", "set_dataset"),
    ("zsl_desktop.app.panels.gallery", "GalleryPanel", "set_dataset"),
    ("zsl_desktop.app.panels.feature_view", "FeatureViewPanel", "set_dataset"),
    ("zsl_desktop.app.panels.feature_view", "FeatureViewPanel", "build_plot"),
    ("zsl_desktop.app.panels.feature_view", "FeatureViewPanel", "_draw_latest"),
    ("zsl_desktop.app.panels.training", "TrainingPanel", "build_plots"),
    ("zsl_desktop.app.panels.training", "TrainingPanel", "set_dataset"),
    ("zsl_desktop.app.main_window", "MainWindow", "build_plots"),
)


def trace(targets) -> None:
    """Wrap each method to print its GUI-thread CPU time when over 20 ms (``--trace``)."""
    import functools
    import importlib

    for module, cls, name in targets:
        owner = getattr(importlib.import_module(module), cls)
        original = getattr(owner, name)

        def wrapped(*a, __original=original, __what=f"{cls}.{name}", **k):
            cpu, wall = time.thread_time(), time.perf_counter()
            try:
                return __original(*a, **k)
            finally:
                ms = (time.thread_time() - cpu) * 1000
                if ms > 20:
                    print(
                        f"  {__what}: {ms:.0f} ms CPU ({(time.perf_counter() - wall) * 1000:.0f} ms wall)", flush=True
                    )

        setattr(owner, name, functools.wraps(original)(wrapped))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("datasets", help="comma-separated: cub, builtin")
    parser.add_argument("--profile", help="write the GUI thread's cProfile (pstats) here")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--trace", action="store_true", help="print the GUI thread's CPU in each of TRACED over 20 ms")
    args = parser.parse_args()

    import numpy as np
    import torch

    torch.set_num_threads(1)
    import zsl_desktop.app  # noqa: F401 - before PySide6: its Qt types made as the app makes them (eagerly)
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication(["opening-stalls"])
    from zsl_desktop.app import theme
    from zsl_desktop.app.main_window import MainWindow
    from zsl_desktop.engine.session.spec import DatasetSpec, shipped_checkpoint

    theme.apply(app)
    if args.trace:
        trace(TRACED)
    window = MainWindow(freeze_gc=True)  # as the app runs it
    window.resize(1600, 1000)
    window.show()
    finished: list[tuple[str, str]] = []
    window.bridge.long_finished.connect(lambda name, status: finished.append((name, status)))

    ticks: list[tuple[float, float]] = []  # (wall, GUI-thread CPU) at each tick

    def tick() -> None:
        ticks.append((time.perf_counter(), time.thread_time()))

    probe = QTimer()
    probe.setTimerType(probe.timerType().PreciseTimer)
    probe.timeout.connect(tick)
    probe.start(TICK_MS)

    def pump(seconds: float) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.002)

    def plots_built() -> bool:
        return window.features.plot_ready

    def opened(start_count: int) -> bool:
        return (
            len(finished) > start_count
            and window.bridge.idle()
            and plots_built()
            and (window.controller.model is None or window.controller.all_scores is not None)
        )

    pump(1.0)
    profile = cProfile.Profile() if args.profile else None
    results = []
    for name in args.datasets.split(","):
        ticks.clear()
        cpu0, t0 = time.thread_time(), time.perf_counter()
        if profile:
            profile.enable()
        count = len(finished)
        if name == "cub":
            window.open_path(str(CUB))
        else:
            spec = DatasetSpec(source="builtin", checkpoints=(shipped_checkpoint(),), use_remembered=False)
            window.open_spec(spec)
        quiet_since = None
        while True:
            pump(0.05)
            if opened(count):
                quiet_since = quiet_since or time.perf_counter()
                if time.perf_counter() - quiet_since >= SETTLE_S:
                    break
            else:
                quiet_since = None
            if time.perf_counter() - t0 > 900:
                raise TimeoutError(f"{name}: not opened within 900 s")
        if profile:
            profile.disable()
        wall, cpu = time.perf_counter() - t0, time.thread_time() - cpu0
        t = np.asarray(ticks)
        gaps_ms, cpu_ms = np.diff(t[:, 0]) * 1000, np.diff(t[:, 1]) * 1000
        worst, longest = np.argsort(-cpu_ms)[:5], np.argsort(-gaps_ms)[:5]

        def gap(i: int, t=t, t0=t0, cpu_ms=cpu_ms, gaps_ms=gaps_ms) -> tuple:
            return round(float(t[i + 1, 0] - t0), 2), round(float(cpu_ms[i]), 0), round(float(gaps_ms[i]), 0)

        row = {
            "dataset": name,
            "status": finished[-1][1] if len(finished) > count else "?",
            "opening_s": round(wall - SETTLE_S, 1),
            "gui_cpu_s": round(cpu, 2),
            "max_gap_ms": round(float(gaps_ms.max()), 0),
            "p95_gap_ms": round(float(np.percentile(gaps_ms, 95)), 0),
            "max_gap_cpu_ms": round(float(cpu_ms.max()), 0),
            "gaps_over_250ms": int((gaps_ms > BIG_MS).sum()),
            "cpu_gaps_over_250ms": int((cpu_ms > BIG_MS).sum()),
            # (seconds into the opening at the gap's end, its GUI-thread CPU ms, its wall ms)
            "worst_cpu_gaps": [gap(i) for i in worst],
            "longest_gaps": [gap(i) for i in longest],
        }
        results.append(row)
        print(json.dumps(row), flush=True)
    probe.stop()
    if profile:
        profile.dump_stats(args.profile)
        stats = pstats.Stats(profile, stream=sys.stdout)
        stats.sort_stats("cumulative").print_stats(40)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    window.close()
    app.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())
