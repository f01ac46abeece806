"""The app's own folders (data, settings) that cannot be made: a read-only home, a full disk, a file in the way.

Before: the window's constructor raised FileNotFoundError from ``mkdir`` (a traceback, no window); the
CLI said only "[Errno 2] No such file or directory".
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from zsl_desktop.engine.paths import UserFolderError, config_dir, data_dir


@pytest.fixture
def blocked_home(tmp_path, monkeypatch):
    """ZSL_DESKTOP_HOME under a plain file: no folder can be made there, even by root."""
    (tmp_path / "a-file").write_text("x")
    home = tmp_path / "a-file" / "home"
    monkeypatch.setenv("ZSL_DESKTOP_HOME", str(home))
    return home


def test_the_folders_say_which_cannot_be_made_and_what_to_do(blocked_home):
    with pytest.raises(
        UserFolderError, match=f"cannot create the app's data folder {blocked_home}/data: .*ZSL_DESKTOP_HOME"
    ):
        data_dir()
    with pytest.raises(UserFolderError, match="cannot create the app's settings folder"):
        config_dir()
    assert data_dir(create=False) == Path(blocked_home) / "data"  # asking where is no error


@pytest.mark.parametrize("args", [["--small"], ["info", "--dataset", "builtin-small"]])
def test_app_and_cli_stop_with_the_words_not_a_traceback(blocked_home, args):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    run = subprocess.run(
        [sys.executable, "-m", "zsl_desktop", *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 2, run.stderr
    assert "cannot create the app's data folder" in run.stderr and "Traceback" not in run.stderr
