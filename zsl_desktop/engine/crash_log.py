"""The crash log: a native crash (a segmentation fault in Qt, torch or another extension) leaves every thread's
Python stack in ``<data>/logs/crash-<date>.log``.

Why: such a crash ends the process before Python can log anything; without this it prints nothing at all (CI
saw only exit status -11, session 14), and a user who starts the app from a menu never sees stderr anyway.
``faulthandler`` writes the stacks from its signal handler into a file opened in advance, kept open (appended
to) for the process's life. Each process writes one line when it enables it, so a stack below that line is
that process's. A folder that cannot be written (read-only, full) sends the stacks to stderr instead and never
stops the program.

Several processes may write the same day's file (torchrun's workers, the app beside a CLI run): it is opened
for appending, so every write lands at the end, never over another's; the start line names the process (its
pid, a torchrun worker's rank, and its main thread as faulthandler prints it, ``Thread 0x...``), so a stack is
told apart even when another process started after it. (Two processes crashing in the same instant could still
interleave their lines.)
"""

from __future__ import annotations

import ctypes
import datetime
import faulthandler
import os
import sys
import threading
from pathlib import Path
from typing import TextIO

from zsl_desktop.engine import logs

PREFIX = "crash-"
KEEP_FILES = 10  # the newest crash logs kept (one a day the program ran); older ones are removed

_open_log: TextIO | None = None  # faulthandler writes to its file descriptor: it stays open until the process ends


def crash_log_path(day: datetime.date | None = None) -> Path:
    """Beside the rotating log, in ``logs.log_dir()``."""
    return logs.log_dir() / f"{PREFIX}{(day or datetime.date.today()).isoformat()}.log"


def enable_crash_log(what: str) -> Path | None:
    """Send faulthandler's stacks (every thread) to today's crash log; the path, or None when they go to stderr.

    ``what`` names the process in its start line (e.g. the command line). When faulthandler is already on
    (``python -X faulthandler``, ``PYTHONFAULTHANDLER``, pytest's own), whoever turned it on chose where the
    stacks go: it is left as it is and None returned.
    """
    global _open_log
    if faulthandler.is_enabled():
        return None
    path = crash_log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        log = open(path, "a", encoding="utf-8", errors="backslashreplace")  # noqa: SIM115 - open for the process's life
        try:
            stamp = datetime.datetime.now().isoformat(timespec="seconds")
            log.write(f"{stamp} {process_label()} started: {what}\n")
            log.flush()
        except OSError:
            log.close()
            raise
    except OSError:
        stderr_instead()
        return None
    faulthandler.enable(file=log, all_threads=True)
    _open_log = log
    remove_old_crash_logs(path.parent)
    return path


def process_label() -> str:
    """``pid 123 rank 1/4 main thread 0x00007f...``: the rank only in a torchrun worker (RANK in the environment).

    The thread is written as faulthandler writes it (16 hex digits on a 64-bit machine), so that a stack's
    ``Thread 0x...`` line finds its process's start line.
    """
    worker = ""
    if "RANK" in os.environ:
        worker = f" rank {os.environ['RANK']}/{os.environ.get('WORLD_SIZE', '?')}"
    width = 2 * ctypes.sizeof(ctypes.c_ulong)
    return f"pid {os.getpid()}{worker} main thread 0x{threading.main_thread().ident or 0:0{width}x}"


def stderr_instead() -> None:
    """The stacks to stderr, when there is one with a file descriptor (a windowed start may have none)."""
    stream = sys.__stderr__ or sys.stderr
    if stream is None:
        return
    try:
        faulthandler.enable(file=stream, all_threads=True)
    except (OSError, ValueError, RuntimeError):
        pass


def remove_old_crash_logs(folder: Path, keep: int = KEEP_FILES) -> None:
    """Keep the ``keep`` newest crash logs (their names sort by date); a file that cannot be removed stays."""
    for old in sorted(folder.glob(f"{PREFIX}*.log"))[:-keep]:
        try:
            old.unlink()
        except OSError:
            pass
