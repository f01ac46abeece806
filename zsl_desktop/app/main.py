"""Start-up: torch threads first, then the QApplication, the theme, the window, and the built-in data.

``zsl-desktop`` with no arguments opens the built-in birds with the shipped
MSDN model, generating the images and extracting their features on first
launch (with progress in the window, never a frozen one).
"""
from __future__ import annotations

import argparse
import os
import sys

GUI_CORES = 1  # cores left to the GUI thread


def worker_threads() -> int:
    return max(1, (os.cpu_count() or 2) - GUI_CORES)


def limit_blas_threads(n: int) -> int | None:
    """Cap numpy's OpenBLAS pool at ``n`` threads; returns the previous size when known.

    OpenBLAS starts one spinning thread per core on first use; beside the GUI thread and our
    workers on a 2-core machine that oversubscribes the CPU (measured: a QR of a 1280x60 matrix
    went from 2 ms to 1.2 s of wall clock, and the window stalled). Before numpy is imported the
    environment variable is enough; afterwards the library's own setter is called (Linux).
    """
    if "numpy" not in sys.modules:
        os.environ["OPENBLAS_NUM_THREADS"] = str(n)
        return None
    import ctypes

    try:
        with open("/proc/self/maps") as maps:
            libs = sorted({line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line})
    except OSError:
        return None
    previous = None
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("64_", ""):
                setter = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                getter = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                if setter is not None:
                    if getter is not None:
                        getter.restype = ctypes.c_int
                        previous = int(getter())
                    setter(ctypes.c_int(n))
                    return previous
    return previous


def configure_torch() -> None:
    """Leave a core to the GUI: torch's and numpy's thread pools (before the first torch op, UI.md 3.3)."""
    limit_blas_threads(worker_threads())
    import torch

    torch.set_num_threads(worker_threads())


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="zsl-desktop", description="ZSL Desktop (the GUI)")
    p.add_argument("--small", action="store_true", help="open the small built-in dataset (fast; for demos and tests)")
    p.add_argument("--dataset", help="open this dataset folder instead of the built-in birds")
    p.add_argument("--format", help="dataset format (detected when omitted)")
    p.add_argument("--checkpoint", help="load this checkpoint once the dataset is open")
    p.add_argument("--photos", nargs="*", default=[], help="add these photos or folders as your own images")
    p.add_argument("--screenshot", help="debug: save a PNG of the window once ready, then quit")
    p.add_argument("--screenshot-delay", type=float, default=1.5, help="seconds to wait after ready")
    p.add_argument("--select", type=int, default=None, help="debug: select this image once ready")
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
            QTimer.singleShot(200, lambda: window.controller.select(args.select))
        if args.screenshot:
            QTimer.singleShot(int(args.screenshot_delay * 1000), lambda: _screenshot(window, args.screenshot))

    window.bridge.long_finished.connect(when_ready)
    code = app.exec()
    return int(code)


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
    window.close()
    QApplication.instance().quit()


if __name__ == "__main__":
    sys.exit(run_app())
