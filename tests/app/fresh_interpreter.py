"""A fresh Python that records who imports torch: this test session imported torch long ago.

Both start-up tests run a script in a new interpreter whose first lines are ``WATCH_TORCH_IMPORTS``:
``importers`` then holds, for every import of torch, whether it came from the GUI (main) thread.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

WATCH_TORCH_IMPORTS = textwrap.dedent(
    """
    import sys, threading
    importers = []

    class WhoImportsTorch:
        def find_spec(self, name, path=None, target=None):
            if name == "torch":
                importers.append(threading.current_thread() is threading.main_thread())
            return None

    sys.meta_path.insert(0, WhoImportsTorch())
    from zsl_desktop.app.main import configure_torch
    configure_torch()
    from PySide6.QtWidgets import QApplication
    """
)


def run_watching_torch(script: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``WATCH_TORCH_IMPORTS`` + ``script`` (dedented) offscreen in a new interpreter, with ``args``."""
    env = {**(env if env is not None else os.environ), "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run(
        [sys.executable, "-c", WATCH_TORCH_IMPORTS + textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
