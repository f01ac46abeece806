"""The bench's child processes (``python -m zsl_desktop.bench.ui_children MODE``): each measures the real app.

- ``startup``: process start -> predictions on screen (READY), then the live model's (LIVE);
- ``smooth``: a start-up, then a 16 ms timer probe while MSDN trains (gaps between ticks);
- ``memory``: peak RSS with a large feature store open and the window up;
- ``scale``: start-up, gallery scrolling and peak RSS with 100,000 images (``scale.py``).

The parent side, which starts them and turns what they print into rows, is ``ui`` (and ``scale``).
"""

from __future__ import annotations

import sys
import time

from zsl_desktop.bench.child_window import (
    finish,
    live_scores_shown,
    model_or_kept,
    open_builtin,
    open_window,
    own_peak_rss_mb,
    predictions_shown,
    when_idle,
    when_selection_shown,
)

PROBE_AFTER_START_S = 1.5  # the smooth probe's latest start after training is started (its first progress: sooner)


def child_startup(small: bool = False, checkpoint: str | None = None, until_complete: bool = False, then=None) -> int:
    """READY: the predictions panel shows scores for a selected image, the live model's or, on a second
    start, its kept ones (``predictions_shown``: what the user sees); LIVE: the live model's own scores.

    Both lines carry the child's CPU seconds so far. With ``until_complete`` the window stays until the
    opening has finished with predictions on the whole dataset (COMPLETE); otherwise it closes at LIVE,
    unless ``then(app, window)`` takes over there (``child_smooth``: the same process goes on measuring).
    """
    from PySide6.QtCore import QTimer

    app, window = open_window()
    open_builtin(window, small, checkpoint)
    state: dict = {"ready": False, "live": False, "kept_raw": None}

    def poll():
        controller, panel = window.controller, window.predictions
        if panel.kept:
            state["kept_raw"] = panel.raw  # the live model's scores replace this array (``set_scores``)
        if not state["ready"] and predictions_shown(window):
            print(f"READY {time.process_time():.3f}", flush=True)
            state["ready"] = True
        if state["ready"] and not state["live"] and live_scores_shown(window, state["kept_raw"]):
            print(f"LIVE {time.process_time():.3f}", flush=True)
            state["live"] = True
            if then is not None:
                then(app, window)
                return
        if state["live"] and not until_complete:
            finish(app, window)
        elif state["live"] and not window.bridge.busy and not controller.preview and controller.model is not None:
            if panel.raw is not None:
                print("COMPLETE", flush=True)
                finish(app, window)
            else:
                QTimer.singleShot(10, poll)
        else:
            if model_or_kept(window) and getattr(controller, "item", None) is None:
                controller.select(0)
            QTimer.singleShot(10, poll)

    QTimer.singleShot(10, poll)
    return app.exec()


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

    panel = window.training
    clicked: list[float] = []

    def start_training():
        panel.method_box.setCurrentIndex(panel.method_box.findData("msdn"))
        panel.epochs.setValue(1000)
        panel.start_button.click()
        clicked.append(time.perf_counter())
        start_probe_after_start_up()

    def start_probe_after_start_up():
        """The probe starts past the job's own start-up: at its first progress report (its first batches
        trained), or PROBE_AFTER_START_S after the click at the latest (what it always waited before)."""
        waited = time.perf_counter() - clicked[0]
        if panel.last_progress is None and waited < PROBE_AFTER_START_S:
            QTimer.singleShot(10, start_probe_after_start_up)
            return
        clicked.append(waited)
        probe.start()
        QTimer.singleShot(int(seconds * 1000), stop)

    def stop():
        probe.stop()
        gaps = np.asarray(probe.gaps)
        window.bridge.cancel()
        finish(
            app,
            window,
            {
                "p50": float(np.percentile(gaps, 50)),
                "p95": float(np.percentile(gaps, 95)),
                "max": float(gaps.max()),
                "ticks": int(len(gaps)),
                "probe_after_s": clicked[1],  # seconds from the click to the probe's start
            },
        )

    when_idle(app, window, when_released)  # the opening's job finished, as the user would start training


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
        app, window = open_window()
        spec = DatasetSpec(
            source="object", dataset=dataset, checkpoints=(str(cached_model_path(dataset)),), use_remembered=False
        )
        window.open_spec(spec)
    else:
        dataset, model = repeated_builtin_dataset(n_images, small, checkpoint)
        app, window = open_window()
        window.open_dataset_object(dataset, model=model)

    def ready():
        def report():
            peak = own_peak_rss_mb()
            finish(app, window, {"peak_rss_mb": peak})

        window.controller.select(0)
        when_selection_shown(window, report)

    window.bridge.long_finished.connect(lambda *_: when_idle(app, window, ready))
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

    app, window = open_window()
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
        if not state["ready"] and predictions_shown(window):
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
        if model_or_kept(window) and getattr(window.controller, "item", None) is None:
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
        finish(app, window, payload)

    QTimer.singleShot(10, poll)
    return app.exec()


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m zsl_desktop.bench.ui_children")
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
