"""The PySide6 desktop app. Everything Qt lives under this package; the engine never imports it.

Entering this package makes PySide6 create its Qt types when each of its modules is imported, not lazily at
first use (``PYSIDE6_OPTION_LAZY=0``; read once, when PySide6 first loads, so it is set here, before any of
the app's modules imports PySide6). Why: shiboken's lazy type creation is not thread-safe. Two threads
meeting new types at once (the GUI thread, and a helper thread importing pyqtgraph, whose import reads every
attribute of QtCore, QtGui and QtWidgets) kill the process with SIGSEGV: 10 of 57 tries of
``tests/app/lazy_types_race.py`` lazily, 0 of 50 eagerly (session 15, ``docs/history/opening_stalls.md``).
It costs ~0.1 s of CPU when PySide6 is imported and saves ~0.09 s in pyqtgraph's import.
"""

import os

os.environ.setdefault("PYSIDE6_OPTION_LAZY", "0")
