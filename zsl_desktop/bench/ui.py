"""The app's part of ``zsl-desktop bench``: start-up, smoothness while training, memory.

Each measurement runs the real main window in a child process (offscreen),
so the bench process itself never creates a QApplication:

- ``startup``: process start -> window shown with predictions, data prepared: on this second start the
  model's kept scores (written beforehand by the bench, ``prepare_kept_predictions``), then the live model's;
- ``smooth``: a 16 ms timer probe while MSDN trains (gaps between ticks);
- ``memory``: peak RSS with a 10,000-image feature store open and the window up (the store is
  written beforehand by the bench itself, ``prepare_memory_store``, so its writing does not count);
- ``scale``: start-up, gallery scrolling and peak RSS with 100,000 images (``scale.py``).

The memory child runs while the smooth child, its start-up timed, loads its live model and finishes its opening (``--hold``: it
starts training only when the parent releases it), so neither timed part overlaps another process.

Why over 400 lines: the parent's rows and each child's measurement side by side, one function each, so
that what a row says and how its child measures it are read together.
"""

from __future__ import annotations

import json
import resource
import sys
import time

import numpy as np

from zsl_desktop.bench.children import DONE, run_child


def own_peak_rss_mb(status_path: str = "/proc/self/status") -> float:
    """This process's own peak resident memory (Linux: VmHWM), in MB.

    Not ``getrusage``'s ``ru_maxrss``: Linux carries it across ``execve``, so a child started by the
    bench reported at least the bench's own peak at the time (measured: the memory row read 1,472 MB, the
    parent's peak after the training sections, on a run whose 100,000-image row read the same 1,472 MB).
    """
    try:
        with open(status_path, encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


FIRST_PREDICTIONS_TARGET = 15.0  # seconds from an empty user folder to predictions on screen (issue 19)


def run(sizes, checkpoint=None, report=None) -> list[dict]:
    """The app rows; with ``sizes.small`` the children open the small built-in birds with ``checkpoint``
    (the shipped models fit only the full dataset), which is what the test suite runs.

    ``report(row)`` hears each row as soon as it is measured.
    """
    options = ("--small", "--checkpoint", str(checkpoint)) if sizes.small else ()
    rows: list[dict] = []

    def add(*new: dict) -> None:
        rows.extend(new)
        for row in new:
            if report is not None:
                report(row)

    if sizes.first_launch:  # first: the home is empty and the OS cache holds none of its files
        add(*first_launch_rows(sizes, options))
    prepare_kept_predictions(sizes.small, checkpoint)  # a second start shows them: here, once, as a session leaves them
    cold = run_child("startup", *options)[1] if sizes.cold_startup_run else None  # warms the OS file cache
    # The last start-up goes on to the frame probe while MSDN trains (one child: its opening is the one timed).
    starts = [run_child("startup", *options)[0] for _ in range(sizes.startup_runs - 1)]
    held: list[dict] = []

    def while_held(smooth_start: dict) -> None:
        """The smooth child has shown its first predictions (timed) and goes on loading its live model and finishing
        its opening (untimed; the probe waits for it and for this): the memory child, whose figure is a peak RSS,
        not a time, runs meanwhile. The live model's time is then the unheld start-ups' alone."""
        held.append(smooth_start)
        add(*startup_rows([*starts, smooth_start], cold, live_from=starts))
        add(memory_row(sizes, checkpoint, options))

    smooth_args = ("smooth", "--seconds", str(sizes.smooth_seconds), "--hold", *options)
    smooth = run_child(*smooth_args, while_held=while_held)[0]
    if not held:  # the child said no READY (a stand-in child): the same rows, one after the other
        while_held(smooth)
    add(
        dict(
            section="app",
            name=f"frame gap p95 while training ({sizes.smooth_seconds:.0f} s)",
            value=smooth["p95"],
            unit="ms",
            target="<= 20",
            ok=smooth["p95"] <= 20,
        ),
        dict(
            section="app",
            name="frame gap max while training",
            value=smooth["max"],
            unit="ms",
            target="<= 50",
            ok=smooth["max"] <= 50,
        ),
    )
    return rows


def startup_rows(starts: list[dict], cold: float | None, live_from: list[dict] | None = None) -> list[dict]:
    """The start-up rows from the start-up children's results (``run_child``): the median seconds to the first
    predictions shown (READY: kept ones on a second start, ``child_startup``) and its CPU seconds, the median
    seconds to the live model's (LIVE) over ``live_from`` (default ``starts``; none: no row), and the cold-cache
    run when there was one."""
    median = lambda values: float(np.median(values))  # noqa: E731
    ready = median([s["at"].get("READY", float("nan")) for s in starts])
    cpu = median([s.get("ready_cpu_s", float("nan")) for s in starts])
    live_from = starts if live_from is None else live_from
    rows = [
        dict(
            section="app",
            name=f"start-up to predictions (median of {len(starts)}, data prepared; kept scores while the model loads)",
            value=ready,
            unit="s",
            target="<= 3",
            ok=ready <= 3,
        ),
        dict(section="app", name="CPU seconds up to those predictions, every thread", value=cpu, unit="s"),
    ]
    if live_from:
        live = median([s["at"].get("LIVE", float("nan")) for s in live_from])
        name = f"start-up to the live model's predictions (median of {len(live_from)})"
        rows.append(dict(section="app", name=name, value=live, unit="s"))
    if cold is not None:
        rows.append(dict(section="app", name="first of the runs above (cold file cache)", value=cold, unit="s"))
    return rows


def memory_row(sizes, checkpoint=None, options=()) -> dict:
    """Peak RSS of the memory child (its own process: ``own_peak_rss_mb``) with the window up."""
    cached = sizes.memory_codes_cached
    prepare_memory_store(sizes.memory_images, sizes.small, checkpoint, cached)  # here, once: no child pays for it
    memory, _ = run_child(
        "memory", "--images", str(sizes.memory_images), *(("--cached-codes",) if cached else ()), *options
    )
    return dict(
        section="app",
        name=f"peak RSS, {sizes.memory_images}-image store + window"
        + (" (codes cached, as every opening after the first)" if cached else ""),
        value=memory["peak_rss_mb"],
        unit="MB",
        target="<= 2048",
        ok=memory["peak_rss_mb"] <= 2048,
    )


def first_launch_rows(sizes, options=()) -> list[dict]:
    """The app from an empty user folder: seconds to the first predictions (on the first birds) and,
    unless ``sizes.first_launch_complete`` is off, to every bird drawn, extracted and predicted."""
    import tempfile

    complete = sizes.first_launch_complete
    with tempfile.TemporaryDirectory(prefix="zsl-first-launch-") as home:
        result, first = run_child("startup", *options, *(("--until-complete",) if complete else ()), home=home)
    rows = [
        dict(
            section="app",
            name="first launch, empty user folder: first predictions",
            value=first,
            unit="s",
            target=f"<= {FIRST_PREDICTIONS_TARGET:g}",
            ok=first <= FIRST_PREDICTIONS_TARGET,
        )
    ]
    if complete:
        done = result["at"].get("COMPLETE", float("nan"))
        rows.append(
            dict(section="app", name="first launch: every image drawn, extracted, predicted", value=done, unit="s")
        )
    return rows


def prepare_kept_predictions(small: bool = False, checkpoint=None) -> None:
    """The kept predictions the start-up children's second start shows (``kept.keep_builtin_predictions``):
    written by the session's producer in the bench's own process, once (a later bench only checks them)."""
    from zsl_desktop.bench.kept import keep_builtin_predictions

    keep_builtin_predictions(small, checkpoint)


def prepare_memory_store(n_images: int, small: bool = False, checkpoint=None, cached: bool = False) -> None:
    """Write the memory child's store (``memory.repeated_builtin_store``) once, and with ``cached`` its model
    file and codes cache (``memory.prepare_cached_codes``): in the bench's own process, as ``scale.run`` does
    for its store, so the child's peak RSS and time are the app's alone. Plain file writes: the bench's RSS
    does not take the 1.25 GB grid either. Once written, a later bench only checks the files (a child did
    that before: a Python start and torch's import, ~3 s, for nothing)."""
    from zsl_desktop.bench.memory import prepare_cached_codes, repeated_builtin_store

    if cached:
        prepare_cached_codes(n_images, small, checkpoint)
    else:
        repeated_builtin_store(n_images, small)


# -- the child side ----------------------------------------------------------------------------------
def _window():
    from zsl_desktop.app.main import configure_torch

    configure_torch()
    from PySide6.QtWidgets import QApplication

    from zsl_desktop.app import theme
    from zsl_desktop.app.main_window import MainWindow

    app = QApplication.instance() or QApplication(["zsl-desktop-bench"])
    theme.apply(app)
    window = MainWindow(freeze_gc=True)
    window.resize(1600, 1000)
    window.show()
    return app, window


def _when_idle(app, window, then) -> None:
    from PySide6.QtCore import QTimer

    def poll():
        if window.bridge.idle() and window.controller.model is not None:
            then()
        else:
            QTimer.singleShot(20, poll)

    QTimer.singleShot(20, poll)


def _when_selection_shown(window, then) -> None:
    """``then()`` once the selected image's work is done: its predictions shown and no job left (its picture and
    explanation), as the user sees it. The memory child waited a fixed 1.5 s here: a second of nothing, mostly."""
    from PySide6.QtCore import QTimer

    def poll():
        if window.predictions.raw is not None and window.bridge.idle():
            then()
        else:
            QTimer.singleShot(20, poll)

    QTimer.singleShot(20, poll)


def _finish(app, window, payload: dict | None = None) -> None:
    """Report, then close: the parent stops this process at ``DONE`` (``run_child``), as the window closes."""
    if payload is not None:
        print(json.dumps(payload), flush=True)
    print(DONE, flush=True)
    window.close()
    app.quit()


def _open_builtin(window, small: bool, checkpoint: str | None) -> None:
    """The built-in birds as the app opens them, with the shipped MSDN model (the small set: ``checkpoint``)."""
    from zsl_desktop.engine.session.spec import DatasetSpec, shipped_checkpoint  # as the app: not opening (torch)

    # Exactly this model, whichever one the user last had: the figures are then comparable.
    model = checkpoint or (None if small else shipped_checkpoint())
    window.open_spec(
        DatasetSpec(source="builtin", small=small, checkpoints=(model,) if model else (), use_remembered=False)
    )


def _model_or_kept(window) -> bool:
    """A live model, or its kept predictions that the controller proved current for this store and classes."""
    return window.controller.model is not None or window.controller.kept is not None


def _predictions_shown(window) -> bool:
    """READY: the selected image's predictions on screen, the live model's or its proven-current kept ones."""
    return _model_or_kept(window) and window.predictions.raw is not None


def child_startup(small: bool = False, checkpoint: str | None = None, until_complete: bool = False, then=None) -> int:
    """READY: the predictions panel shows scores for a selected image, the live model's or, on a second
    start, its kept ones (``_predictions_shown``: what the user sees); LIVE: the live model's own scores.

    Both lines carry the child's CPU seconds so far. With ``until_complete`` the window stays until the
    opening has finished with predictions on the whole dataset (COMPLETE); otherwise it closes at LIVE,
    unless ``then(app, window)`` takes over there (``child_smooth``: the same process goes on measuring).
    """
    from PySide6.QtCore import QTimer

    app, window = _window()
    _open_builtin(window, small, checkpoint)
    state: dict = {"ready": False, "live": False, "kept_raw": None}

    def poll():
        controller, panel = window.controller, window.predictions
        if panel.kept:
            state["kept_raw"] = panel.raw  # the live model's scores replace this array (``set_scores``)
        if not state["ready"] and _predictions_shown(window):
            print(f"READY {time.process_time():.3f}", flush=True)
            state["ready"] = True
        if state["ready"] and not state["live"] and _live_scores_shown(window, state["kept_raw"]):
            print(f"LIVE {time.process_time():.3f}", flush=True)
            state["live"] = True
            if then is not None:
                then(app, window)
                return
        if state["live"] and not until_complete:
            _finish(app, window)
        elif state["live"] and not window.bridge.busy and not controller.preview and controller.model is not None:
            if panel.raw is not None:
                print("COMPLETE", flush=True)
                _finish(app, window)
            else:
                QTimer.singleShot(10, poll)
        else:
            if _model_or_kept(window) and getattr(controller, "item", None) is None:
                controller.select(0)
            QTimer.singleShot(10, poll)

    QTimer.singleShot(10, poll)
    return app.exec()


def _live_scores_shown(window, kept_raw) -> bool:
    """The live model's own scores on the predictions panel (not the kept ones it shows until they arrive)."""
    panel = window.predictions
    return (
        window.controller.model is not None and not panel.kept and panel.raw is not None and panel.raw is not kept_raw
    )


def child_smooth(seconds: float, small: bool = False, checkpoint: str | None = None, hold: bool = False) -> int:
    """A start-up (its READY timed like ``child_startup``'s), then, once the live model is in and the opening has
    finished, MSDN trains while a 16 ms probe records the gaps between its ticks for ``seconds``.

    One process for both: a separate probe child opened the same birds again (a Python start, torch's
    import and the opening: ~4 s of a --quick run) before measuring anything. With ``hold`` the training
    also waits for a line on stdin: the parent runs the memory child meanwhile (``run``), never during
    the start-up (to READY) or the probe.
    """
    released = _released_by_stdin() if hold else None
    return child_startup(
        small, checkpoint, then=lambda app, window: _probe_while_training(app, window, seconds, released)
    )


def _released_by_stdin():
    """An event set when the parent writes a line (or closes our stdin): read on a thread, so the window runs."""
    import threading

    released = threading.Event()

    def wait() -> None:
        sys.stdin.readline()
        released.set()

    threading.Thread(target=wait, name="bench-hold", daemon=True).start()
    return released


def _probe_while_training(app, window, seconds: float, released=None) -> None:
    import numpy as np
    from PySide6.QtCore import QTimer

    from zsl_desktop.bench.perf import FrameProbe

    probe = FrameProbe()

    def when_released():
        if released is None or released.is_set():
            start_training()
        else:
            QTimer.singleShot(20, when_released)

    def start_training():
        panel = window.training
        panel.method_box.setCurrentIndex(panel.method_box.findData("msdn"))
        panel.epochs.setValue(1000)
        panel.start_button.click()
        QTimer.singleShot(1500, probe.start)  # past the job's own start-up
        QTimer.singleShot(int(1500 + seconds * 1000), stop)

    def stop():
        probe.stop()
        gaps = np.asarray(probe.gaps)
        window.bridge.cancel()
        _finish(
            app,
            window,
            {
                "p50": float(np.percentile(gaps, 50)),
                "p95": float(np.percentile(gaps, 95)),
                "max": float(gaps.max()),
                "ticks": int(len(gaps)),
            },
        )

    _when_idle(app, window, when_released)  # the opening's job finished, as the user would start training


def child_memory(n_images: int, small: bool = False, checkpoint: str | None = None, cached: bool = False) -> int:
    """A dataset of ``n_images`` rows (the built-in images repeated) with a ready feature store and model.

    ``cached``: the model is a file whose codes the bench cached (``prepare_memory_store``), so the opening reads them
    instead of encoding every image (``memory.prepare_cached_codes``).
    """
    from zsl_desktop.bench.memory import cached_model_path, repeated_builtin_dataset, repeated_builtin_store

    app = window = None
    if cached:
        from zsl_desktop.engine.session.opening import DatasetSpec

        dataset = repeated_builtin_store(n_images, small)
        app, window = _window()
        spec = DatasetSpec(
            source="object", dataset=dataset, checkpoints=(str(cached_model_path(dataset)),), use_remembered=False
        )
        window.open_spec(spec)
    else:
        dataset, model = repeated_builtin_dataset(n_images, small, checkpoint)
        app, window = _window()
        window.open_dataset_object(dataset, model=model)

    def ready():
        def report():
            peak = own_peak_rss_mb()
            _finish(app, window, {"peak_rss_mb": peak})

        window.controller.select(0)
        _when_selection_shown(window, report)

    window.bridge.long_finished.connect(lambda *_: _when_idle(app, window, ready))
    return app.exec()


def child_scale(n_images: int, seconds: float) -> int:
    """The 100,000-image store (bench/scale.py): READY when predictions show, then the gallery scrolls
    for ``seconds`` (a row every other frame) while a 16 ms probe records the gaps; then peak RSS, once what the
    app puts off while the user scrolls is done (``report_memory``)."""
    import numpy as np
    from PySide6.QtCore import QTimer

    from zsl_desktop.bench.perf import FrameProbe
    from zsl_desktop.bench.scale import scaled_dataset
    from zsl_desktop.engine.session.spec import DatasetSpec  # not opening: it imports torch

    app, window = _window()
    dataset, model_path = scaled_dataset(n_images)  # the files were prepared by the parent (scale.run)
    window.open_spec(
        DatasetSpec(source="object", dataset=dataset, checkpoints=(str(model_path),), use_remembered=False)
    )
    probe = FrameProbe()
    view = window.gallery.view
    state = {"ready": False}

    def scroll():
        bar = view.verticalScrollBar()
        bar.setValue(bar.value() + max(1, view.gridSize().height() // 2 or 40))

    def poll():
        if not state["ready"] and _predictions_shown(window):
            state["ready"] = True
            print(f"READY {time.process_time():.3f}", flush=True)
        if state["ready"] and window.controller.model is not None:
            # Scrolling and memory from the live model on, as before kept predictions made READY earlier:
            # else the scrolling would end before the model is in, and its peak RSS would leave it out.
            probe.ticked.connect(scroll)
            state["gui_cpu"] = time.thread_time()
            probe.start()
            QTimer.singleShot(int(seconds * 1000), stop)
            return
        if _model_or_kept(window) and getattr(window.controller, "item", None) is None:
            window.controller.select(0)
        QTimer.singleShot(10, poll)

    def stop():
        probe.stop()
        state["gui_ms"] = (time.thread_time() - state["gui_cpu"]) * 1000.0 / max(1, len(probe.gaps))
        state["gaps"] = [float(g) for g in np.asarray(probe.gaps)]
        state["memory_by"] = time.monotonic() + 60.0  # a failed request never brings them: the peak so far
        report_memory()

    def report_memory():
        """Peak RSS once the work the app puts off while the user scrolls (every image's scores, the plots) is
        done, as at the user's first pause: before the app deferred it, it ran inside the scrolling."""
        deferred = window.controller.all_scores is None or not window.training.plots_built
        if deferred and time.monotonic() < state["memory_by"]:
            QTimer.singleShot(50, report_memory)
            return
        payload = {
            "gaps": state["gaps"],
            "gui_cpu_ms_per_frame": state["gui_ms"],
            "peak_rss_mb": own_peak_rss_mb(),
            "rows": window.gallery.model.count,
        }
        _finish(app, window, payload)

    QTimer.singleShot(10, poll)
    return app.exec()


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m zsl_desktop.bench.ui")
    p.add_argument("mode", choices=["startup", "smooth", "memory", "scale"])
    p.add_argument("--seconds", type=float, default=20.0, help="smooth: how long to probe")
    p.add_argument("--images", type=int, default=10_000, help="memory, scale: rows of the repeated dataset")
    p.add_argument("--small", action="store_true", help="the small built-in birds (needs --checkpoint)")
    p.add_argument("--checkpoint", help="the model to load instead of the shipped one")
    p.add_argument("--until-complete", action="store_true", help="startup: wait for the whole first launch")
    p.add_argument("--cached-codes", action="store_true", help="memory: the model's codes cached")
    p.add_argument("--hold", action="store_true", help="smooth: train only once a line arrives on stdin")
    a = p.parse_args(argv)
    if a.mode == "startup":
        return child_startup(a.small, a.checkpoint, a.until_complete)
    if a.mode == "smooth":
        return child_smooth(a.seconds, a.small, a.checkpoint, a.hold)
    if a.mode == "scale":
        return child_scale(a.images, a.seconds)
    return child_memory(a.images, a.small, a.checkpoint, a.cached_codes)


if __name__ == "__main__":
    sys.exit(main())
