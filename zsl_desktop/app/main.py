"""Start-up: torch threads first, then the QApplication, the theme, the window, and the built-in data.

``zsl-desktop`` with no arguments opens the built-in birds with the shipped
MSDN model, generating the images and extracting their features on first
launch (with progress in the window, never a frozen one).
"""
from __future__ import annotations

import argparse
import os
import sys

from zsl_desktop import cli_args

def configure_torch() -> None:
    """Leave a core to the GUI: torch's and numpy's thread pools (before the first torch op, UI.md 3.3)."""
    from zsl_desktop.engine.threads import configure, worker_threads

    configure(worker_threads())


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="zsl-desktop", description="ZSL Desktop (the GUI)")
    p.add_argument("--small", action="store_true", help="open the small built-in dataset (fast; for demos and tests)")
    p.add_argument("--dataset", help="open this dataset folder instead of the built-in birds")
    p.add_argument("--format", help="dataset format (detected when omitted)")
    p.add_argument("--checkpoint", help="load this checkpoint once the dataset is open")
    p.add_argument("--photos", nargs="*", default=[], help="add these photos or folders as your own images")
    p.add_argument("--screenshot", help="debug: save a PNG of the window once ready, then quit")
    p.add_argument("--screenshot-delay", type=cli_args.seconds, default=1.5, help="seconds to wait after ready")
    p.add_argument("--select", type=cli_args.non_negative_int, default=None,
                   help="debug: select this image (0 = the first; your photos follow the dataset's) once ready")
    return p


def run_app(argv=None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    configure_torch()
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
        window.open_path(args.dataset, args.format)
    else:
        window.open_builtin(small=args.small)

    done = []

    def when_ready(name: str, status: str) -> None:
        if name != "open" or done:
            return
        done.append(status)
        if args.checkpoint:
            window.load_checkpoint(args.checkpoint)
        if args.photos:
            window.add_photos(args.photos)
        if args.select is not None:
            QTimer.singleShot(200, lambda: select_when_present(window, args.select))
        if args.screenshot:
            QTimer.singleShot(int(args.screenshot_delay * 1000), lambda: _screenshot(window, args.screenshot))

    window.bridge.long_finished.connect(when_ready)
    code = app.exec()
    return int(code)


def select_when_present(window, item: int) -> None:
    """Select image ``item`` once it is in the gallery (photos arrive after the dataset), or say why not."""
    from PySide6.QtCore import QTimer

    count = window.controller.gallery.model.count
    if item < count:
        window.controller.select(item)
    elif not window.bridge.idle():
        QTimer.singleShot(200, lambda: select_when_present(window, item))
    else:
        print(f"zsl-desktop: --select {item}: there are {count} images (0 to {count - 1}); nothing selected",
              file=sys.stderr)


def _screenshot(window, path) -> None:
    """Wait until the workers are idle, grab the window, save it, quit."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    if not window.bridge.idle():
        QTimer.singleShot(200, lambda: _screenshot(window, path))
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
