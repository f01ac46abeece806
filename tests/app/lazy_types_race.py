"""Run as a script: pyqtgraph imported on a helper thread while the main (GUI) thread meets PySide6's types.

The race behind session 14's SIGSEGV: with PySide6's lazy types (``PYSIDE6_OPTION_LAZY`` unset), shiboken
creates a type the first time Python reads it, and two threads doing that at once crash the process (the
helper in pyqtgraph's ``_copy_attrs``, which reads every attribute of QtCore, QtGui and QtWidgets, or the
main thread). Exit status 0 and "ok" when both threads got through; -11 (SIGSEGV) when they did not.
``zsl_desktop.app`` is imported first, as the app does, unless ``--pyside-first`` (PySide6 before the app's
setting: lazy types unless the environment says otherwise).
"""

import faulthandler
import sys

faulthandler.enable(all_threads=True)
sys.setswitchinterval(0.001)  # as the app (app/main.py: share_the_gil)
if "--pyside-first" not in sys.argv:
    import zsl_desktop.app  # noqa: F401

from PySide6 import QtCore, QtGui, QtWidgets  # noqa: E402

app = QtWidgets.QApplication(["lazy-types-race"])


from zsl_desktop.app.plot_preload import PlotPreload  # noqa: E402

preload = PlotPreload()  # the app's helper-thread import of pyqtgraph and the plot widgets
preload.start()
for module in (QtWidgets, QtGui, QtCore):  # the GUI thread meets each type once, as a window's code does
    for name in dir(module):
        getattr(module, name, None)
preload.join()
print("ok" if preload.error is None else f"the import failed: {preload.error!r}")
