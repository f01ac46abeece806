"""The crash log (engine/crash_log.py): a native crash leaves every thread's stack in a file, or on stderr.

Each crash happens in a child process (``faulthandler._sigsegv()``); this process's own faulthandler
(pytest's) is never touched.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from zsl_desktop.engine.crash_log import crash_log_path, remove_old_crash_logs

ROOT = Path(__file__).resolve().parents[1]

CRASHING_CHILD = textwrap.dedent(
    """
    import faulthandler, sys, threading
    from zsl_desktop.engine import crash_log
    {setup}
    print("crash log:", crash_log.enable_crash_log("crash-test child"), flush=True)
    ready = threading.Event()

    def waiting_helper():
        ready.set()
        threading.Event().wait(60)

    threading.Thread(target=waiting_helper, name="helper").start()
    ready.wait()

    def the_crashing_function():
        faulthandler._sigsegv()

    the_crashing_function()
    """
)


def run_child(home: Path, setup: str = "", **env) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONFAULTHANDLER"}
    environment.update(ZSL_DESKTOP_HOME=str(home), PYTHONPATH=str(ROOT), **env)
    code = CRASHING_CHILD.format(setup=setup)
    return subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=60, cwd=home
    )


def crashed(run: subprocess.CompletedProcess) -> bool:
    return run.returncode in (-signal.SIGSEGV, 128 + signal.SIGSEGV)


def test_a_segfault_leaves_every_threads_stack_in_the_crash_log(tmp_path):
    run = run_child(tmp_path)
    assert crashed(run), (run.returncode, run.stdout, run.stderr)
    log = tmp_path / "data" / "logs" / crash_log_path().name
    assert f"crash log: {log}" in run.stdout
    text = log.read_text()
    assert "started: crash-test child" in text.splitlines()[0]
    assert "Fatal Python error: Segmentation fault" in text
    assert "the_crashing_function" in text and "waiting_helper" in text  # both threads' stacks
    assert "Fatal Python error" not in run.stderr


def test_a_second_process_appends_to_the_days_crash_log(tmp_path):
    first, second = run_child(tmp_path), run_child(tmp_path)
    assert crashed(first) and crashed(second)
    text = (tmp_path / "data" / "logs" / crash_log_path().name).read_text()
    assert text.count("started: crash-test child") == 2 and text.count("Segmentation fault") == 2


def test_a_folder_that_cannot_be_written_sends_the_stacks_to_stderr(tmp_path):
    (tmp_path / "data").write_text("a file where the data folder should be")
    run = run_child(tmp_path)
    assert crashed(run), (run.returncode, run.stdout, run.stderr)
    assert "crash log: None" in run.stdout
    assert "Fatal Python error: Segmentation fault" in run.stderr and "the_crashing_function" in run.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full (a disk that is always full) here")
def test_a_full_disk_sends_the_stacks_to_stderr(tmp_path):
    run = run_child(tmp_path, setup="crash_log.crash_log_path = lambda: __import__('pathlib').Path('/dev/full')")
    assert crashed(run), (run.returncode, run.stdout, run.stderr)
    assert "crash log: None" in run.stdout
    assert "Fatal Python error: Segmentation fault" in run.stderr


def test_a_faulthandler_already_on_is_left_where_it_writes(tmp_path):
    run = run_child(tmp_path, PYTHONFAULTHANDLER="1")
    assert crashed(run)
    assert "crash log: None" in run.stdout and "the_crashing_function" in run.stderr
    assert not (tmp_path / "data" / "logs").exists()


def test_only_the_newest_crash_logs_are_kept(tmp_path):
    names = [f"crash-2026-01-{day:02d}.log" for day in range(1, 13)]
    for name in names:
        (tmp_path / name).write_text("x")
    (tmp_path / "zsl-desktop.log").write_text("the rotating log is not a crash log")
    remove_old_crash_logs(tmp_path, keep=10)
    assert sorted(p.name for p in tmp_path.glob("crash-*.log")) == names[2:]
    assert (tmp_path / "zsl-desktop.log").exists()
