"""PySide6 makes its Qt types when its modules are imported, in the app and in these tests (app/__init__.py).

Why: lazily made types race when two threads meet new ones at once, and the process dies with SIGSEGV
(session 14's real-window crash; ``lazy_types_race.py`` beside this file shows it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from zsl_desktop.app.plot_preload import QT_MODULES

ROOT = Path(__file__).resolve().parents[2]
RACE = Path(__file__).with_name("lazy_types_race.py")
EAGER_MINIMUM = 150  # QtWidgets holds ~200 names once its types are made; ~15 while they are lazy


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYSIDE6_OPTION_LAZY", "PYTHONFAULTHANDLER")}
    return {**env, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}


def test_these_tests_run_with_the_apps_eager_types():
    import PySide6.QtWidgets

    assert len(vars(PySide6.QtWidgets)) > EAGER_MINIMUM


def test_the_apps_start_up_makes_the_types_eagerly():
    code = "import zsl_desktop.app.main, PySide6.QtWidgets as w; print(len(vars(w)))"
    run = subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert int(run.stdout.split()[-1]) > EAGER_MINIMUM


def test_a_plot_import_on_a_helper_thread_beside_the_gui_thread_does_not_crash():
    """Four tries of the race (lazily, 10 of 57 tries crashed on the busy 2-core machine; eagerly 0 of 50)."""
    for attempt in range(4):
        run = subprocess.run(
            [sys.executable, str(RACE)], env=child_env(), capture_output=True, text=True, timeout=120, cwd=ROOT
        )
        assert run.returncode == 0 and run.stdout.strip() == "ok", (attempt, run.returncode, run.stderr[-3000:])


def test_the_plot_preload_names_every_qt_module_pyqtgraph_loads():
    """``QT_MODULES`` are imported on the GUI thread so that pyqtgraph's import on the helper makes no Qt type."""
    code = (
        "import sys, zsl_desktop.app; from PySide6 import QtCore, QtGui, QtWidgets\n"
        "before = set(sys.modules); import pyqtgraph\n"
        "print(' '.join(sorted(m for m in set(sys.modules) - before if m.startswith('PySide6.'))))"
    )
    run = subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    loaded = set(run.stdout.split())
    assert loaded and loaded <= set(QT_MODULES), loaded - set(QT_MODULES)
