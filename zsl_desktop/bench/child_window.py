"""What every bench child does with the app's main window: open it, wait for what the user would see, report.

Each child (``ui_children``) runs the real window offscreen in its own process and prints what it measured
(``children.run_child`` reads it); these are the steps they share.
"""

from __future__ import annotations

import json
import resource

from zsl_desktop.bench.children import DONE


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


def open_window():
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


def when_idle(app, window, then) -> None:
    from PySide6.QtCore import QTimer

    def poll():
        if window.bridge.idle() and window.controller.model is not None:
            then()
        else:
            QTimer.singleShot(20, poll)

    QTimer.singleShot(20, poll)


def when_selection_shown(window, then) -> None:
    """``then()`` once the selected image's work is done: its predictions shown and no job left (its picture and
    explanation), as the user sees it. The memory child waited a fixed 1.5 s here: a second of nothing, mostly."""
    from PySide6.QtCore import QTimer

    def poll():
        if window.predictions.raw is not None and window.bridge.idle():
            then()
        else:
            QTimer.singleShot(20, poll)

    QTimer.singleShot(20, poll)


def finish(app, window, payload: dict | None = None) -> None:
    """Report, then close: the parent stops this process at ``DONE`` (``run_child``), as the window closes."""
    if payload is not None:
        print(json.dumps(payload), flush=True)
    print(DONE, flush=True)
    window.close()
    app.quit()


def open_builtin(window, small: bool, checkpoint: str | None) -> None:
    """The built-in birds as the app opens them, with the shipped MSDN model (the small set: ``checkpoint``)."""
    from zsl_desktop.engine.session.spec import DatasetSpec, shipped_checkpoint  # as the app: not opening (torch)

    # Exactly this model, whichever one the user last had: the figures are then comparable.
    model = checkpoint or (None if small else shipped_checkpoint())
    window.open_spec(
        DatasetSpec(source="builtin", small=small, checkpoints=(model,) if model else (), use_remembered=False)
    )


def model_or_kept(window) -> bool:
    """A live model, or its kept predictions that the controller proved current for this store and classes."""
    return window.controller.model is not None or window.controller.kept is not None


def predictions_shown(window) -> bool:
    """READY: the selected image's predictions on screen, the live model's or its proven-current kept ones."""
    return model_or_kept(window) and window.predictions.raw is not None


def live_scores_shown(window, kept_raw) -> bool:
    """The live model's own scores on the predictions panel (not the kept ones it shows until they arrive)."""
    panel = window.predictions
    return (
        window.controller.model is not None and not panel.kept and panel.raw is not None and panel.raw is not kept_raw
    )
