"""A user file that more than one process may write (two app windows, the app and a script).

Why apart from its readers: the class library needs three small file mechanics that have nothing to do
with classes: a stamp that changes whenever any program rewrites the file (so a save can tell another
app wrote it since), an advisory lock so two saves take turns, and a name to keep a damaged copy under.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

LOCK_WAIT_S = 5.0  # how long a save waits for another app's save before it goes on unlocked


def aside_name(path: Path) -> Path:
    """``<name>.corrupt-<time>``, numbered when taken: where a file we cannot read is kept."""
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{n}")
    return aside


def file_stamp(path: Path) -> tuple | None:
    """What changes when any program rewrites the file (an atomic replace gives a new inode)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


@contextlib.contextmanager
def folder_lock(path: Path):
    """An advisory lock (POSIX ``flock``) on the file's folder, so two apps' saves take turns without a lock
    file left beside the user's. A no-op elsewhere or where the folder cannot be opened (the atomic write
    still keeps the file whole; the stamp check still merges), and unlocked after ``LOCK_WAIT_S`` (``_take_turn``)."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        _take_turn(fd, fcntl)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _take_turn(fd: int, fcntl) -> bool:
    """Wait up to ``LOCK_WAIT_S`` for the lock, then go on without it: a hung process holding it must not
    freeze the window, and a file system without locks (some network or FUSE mounts) must not stop every save."""
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        except OSError:  # ENOLCK, EOPNOTSUPP: no locks here
            return False
