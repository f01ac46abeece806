"""Import the plotting modules (pyqtgraph and the app's plot widgets) on a helper thread.

Why: the plots are built after a dataset's first predictions (``main_window``); importing pyqtgraph there
took 0.2-0.24 s of the GUI thread's own CPU at once (0.6-0.9 s of frozen window on the busy 2-core machine).
Imported on a plain thread, the GUI thread keeps its turns at the GIL (switch interval 5 ms) and builds the
plots once the modules are in: opening CUB, its longest CPU stretch between 16 ms ticks fell from 211-260 to
76-95 ms (opening14, ``docs/history/opening_stalls.md``, round 3; with eager Qt types 183-261 on the GUI
thread against 90-101 here, session 15). The CPU spent is the same.

Safe off the GUI thread: importing them creates no QObject, pixmap or application object (pyqtgraph 0.14:
module-level QColor/QTransform values only; its quit hook is connected by its first GraphicsView, on the GUI
thread). A GUI-thread import meanwhile (a plot needed at once) waits for the module lock, then finds it.
No Qt type is made on the helper thread: shiboken's type creation is not thread-safe (session 14's SIGSEGV,
``tests/app/lazy_types_race.py``), so the app makes QtCore's, QtGui's and QtWidgets' types eagerly
(``zsl_desktop.app``) and ``start`` imports the other PySide6 modules pyqtgraph loads (``QT_MODULES``, ~20 ms)
on the calling thread first.
"""

from __future__ import annotations

import importlib
import sys
import threading

PLOT_MODULES = (
    "pyqtgraph",
    "zsl_desktop.app.widgets.plot_figure",
    "zsl_desktop.app.widgets.evaluation_view",
    "zsl_desktop.app.widgets.feature_plot",
)
# PySide6's modules that importing pyqtgraph 0.14 loads beyond QtCore, QtGui and QtWidgets (their types are made
# when they are imported): imported by ``start`` on the GUI thread
QT_MODULES = ("PySide6.QtOpenGL", "PySide6.QtOpenGLWidgets", "PySide6.QtSvg", "PySide6.QtTest")


class PlotPreload:
    """``start()`` the imports once (from the GUI thread); ``done`` when they have finished (or were never needed)."""

    def __init__(self, modules: tuple[str, ...] = PLOT_MODULES, qt_modules: tuple[str, ...] = QT_MODULES):
        self.modules = modules
        self.qt_modules = qt_modules
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None  # kept for the record: the GUI thread's own import raises it again

    def start(self) -> None:
        if self.thread is not None or all(m in sys.modules for m in self.modules):
            return
        for module in self.qt_modules:  # here, on the calling (GUI) thread: their types are made as they load
            try:
                importlib.import_module(module)
            except ImportError:  # a PySide6 build without it: pyqtgraph does without it too
                pass
        self.thread = threading.Thread(target=self._run, name="plot-import", daemon=True)
        self.thread.start()

    def _run(self) -> None:  # the helper thread
        try:
            for module in self.modules:
                importlib.import_module(module)
        except BaseException as exc:  # noqa: BLE001 - said where the plots are built, by the same import
            self.error = exc

    @property
    def done(self) -> bool:
        return self.thread is None or not self.thread.is_alive()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the imports (tests); True when they are over."""
        if self.thread is not None:
            self.thread.join(timeout)
        return self.done
