"""Atomic file writes: a crash mid-write leaves the old file or the new one, never half of each."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

from zsl_desktop.engine.errors import ZslError


_DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


class DiskFullError(ZslError, OSError):
    """A write failed for lack of space; the file it was replacing is unchanged."""

    def __str__(self) -> str:
        return str(self.strerror)


@contextlib.contextmanager
def atomic_open(path, mode: str = "wb", encoding: str | None = None):
    """Open a temp file beside ``path``; on clean exit fsync it and ``os.replace`` it over ``path``.

    Any failure (an exception in the caller, a full disk) removes the temp file and leaves
    ``path`` as it was; a full disk raises :class:`DiskFullError` saying so.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{_short(path.name)}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        if exc.errno in _DISK_FULL:
            raise _disk_full(exc, path) from exc
        raise
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual mode
        with os.fdopen(fd, mode, encoding=encoding if "b" not in mode else None) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
            raise _disk_full(exc, path) from exc
        raise
    _fsync_dir(path.parent)
    _remove_stale_temps(path)


STALE_SECONDS = 3600.0


def _remove_stale_temps(path: Path) -> None:
    """Temp files of this name left by a killed writer (SIGKILL, power cut), once they are an hour old."""
    import glob
    import time

    cutoff = time.time() - STALE_SECONDS
    for old in path.parent.glob(f".{glob.escape(_short(path.name))}.*.tmp"):
        with contextlib.suppress(OSError):
            if old.stat().st_mtime < cutoff:
                old.unlink()


def _disk_full(exc: OSError, path: Path) -> DiskFullError:
    state = "its previous version is unchanged" if path.exists() else "nothing was written"
    return DiskFullError(exc.errno, f"{path} could not be saved: {os.strerror(exc.errno or 0).lower()}; {state}")


def _short(name: str, limit: int = 100) -> str:
    """``name`` cut to ``limit`` bytes, so the temp name stays under the 255-byte file-name limit."""
    name = name[:limit]
    while len(os.fsencode(name)) > limit:
        name = name[:-1]
    return name


def atomic_write_bytes(path, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path, text: str) -> None:
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(text)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()  # read once: os.umask() briefly changes it for every thread in the process


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
