"""The window comes up without importing torch (issue #19: torch's import is ~2 s of CPU, most of a start-up).

Torch arrives with the opening job, on its worker thread; the window's modules, building it and the app's
thread settings must not import it, or the first predictions wait for it on the GUI thread. A fresh
interpreter checks, since this test session has imported torch long before.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

BUILD_THE_WINDOW = textwrap.dedent(
    """
    import os, sys
    from zsl_desktop.app.main import configure_torch
    configure_torch()
    from PySide6.QtWidgets import QApplication
    from zsl_desktop.app import theme
    from zsl_desktop.app.main_window import MainWindow
    from zsl_desktop.engine.session import snapshot  # what a start-up reads kept predictions with
    app = QApplication(["zsl-desktop-test"])
    theme.apply(app)
    window = MainWindow(freeze_gc=True)
    window.show()
    app.processEvents()
    imported = "torch" in sys.modules
    window.close()
    import torch  # as the opening job then does, on its worker thread
    print("TORCH" if imported else "NO-TORCH", torch.get_num_threads())
    """
)


def test_building_the_window_imports_no_torch_and_leaves_it_the_worker_threads(tmp_path):
    """...and torch, imported afterwards (by the opening job), gets the app's thread count, not every core."""
    from zsl_desktop.engine.threads import worker_threads

    env = {**os.environ, "ZSL_DESKTOP_HOME": str(tmp_path), "QT_QPA_PLATFORM": "offscreen"}
    env.pop("OMP_NUM_THREADS", None)
    done = subprocess.run(
        [sys.executable, "-c", BUILD_THE_WINDOW], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    last = done.stdout.strip().splitlines()[-1]
    assert last == f"NO-TORCH {worker_threads()}", done.stdout + done.stderr[-2000:]
