"""The one gate every file a user hands us passes first: a regular file, of a sane size, read safely.

Why one module: a named pipe (FIFO) opened for reading blocks until someone
writes to it, a device file never ends, a folder raises a raw ``IsADirectoryError``,
and a 40 GB file named ``classes.csv`` fills the memory. Each kind of user file
(images, text/CSV tables, MATLAB files, JSON, checkpoints) has a size limit
here, and every reader asks :func:`check_file` (or :func:`read_bytes`) before
it reads. The file is opened with ``O_NONBLOCK`` and checked with ``fstat`` on
the open descriptor, so a pipe is refused without blocking even if it replaced
a regular file a moment before.

Errors are the caller's own kind (``DatasetError``, ``ImageFileError``, ...):
each reader passes ``error(path, problem)`` and gets a one-line message that
names the file and the problem.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Callable

import numpy as np

from zsl_desktop.engine.errors import ZslError

GiB = 1 << 30
MiB = 1 << 20

# Generous limits: the largest real file of each kind we know of, with room to spare.
MAX_BYTES = {
    "image": 512 * MiB,  # a 100-megapixel TIFF is ~300 MB
    "table": 2 * GiB,  # CUB's image_attribute_labels.txt is 60 MB; SUN's text files are smaller
    "mat": 8 * GiB,  # xlsa17 res101.mat of AwA2 is ~0.3 GB
    "json": 64 * MiB,  # a class library of thousands of classes is a few MB
    "checkpoint": 8 * GiB,  # our checkpoints are 3-15 MB; a full backbone is ~0.2 GB
    "predictions": 8 * GiB,  # a model's kept scores (session/snapshot.py): 100,000 images x 50 classes is 20 MB
}
MAX_JSON_DEPTH = 64  # our JSON files nest 5 levels; Python's parser recurses and overflows near 1000

KIND_WORDS = {
    "image": "image",
    "table": "text file",
    "mat": "MATLAB file",
    "json": "JSON file",
    "checkpoint": "checkpoint",
    "predictions": "kept predictions file",
}

ErrorFactory = Callable[[Path, str], Exception]


TEXT_BYTES = frozenset(range(32, 127)) | {9, 10, 13}  # printable ASCII, tab and line breaks
ZIP_MAGIC = b"PK\x03\x04"  # zip archives: .xlsx/.docx, PyTorch's own checkpoint format
PDF_MAGIC = b"%PDF"


def file_head(path, size: int = 512) -> bytes:
    """The first bytes of a file a gate has refused or cannot place, to say what it is; empty if unreadable."""
    try:
        with open(path, "rb") as f:
            return f.read(size)
    except OSError:
        return b""


def looks_like_text(head: bytes) -> bool:
    """Plain ASCII text (a note, a CSV, JSON) rather than binary data, judged on a file's first bytes."""
    return bool(head) and all(b in TEXT_BYTES for b in head)


def shown_path(path) -> str:
    """A file name as a message can show it: bytes that are not UTF-8 (a name from an old camera or a
    Windows share, which Python keeps as lone surrogates) as ``\\xe9``, line breaks as ``\\n``.

    Why: such a name cannot be encoded, so a log file dropped the whole message and Qt silently dropped
    the character (``café.jpg`` became ``caf.jpg`` in the list of files that could not be used).
    """
    text = os.fsdecode(path) if isinstance(path, (bytes, os.PathLike)) else str(path)
    try:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that is no escaped byte
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text.replace("\r", "\\r").replace("\n", "\\n")


class UserFileError(ZslError, ValueError):
    """A user file refused by the gate (used when the caller has no error type of its own).

    A ValueError, so that every command-line door reports it as bad input (exit status 2)."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{shown_path(path)}: {problem}")


def _human(size: int) -> str:
    return f"{size / GiB:.1f} GB" if size >= GiB else f"{size / MiB:.0f} MB"


def _file_type(mode: int) -> str | None:
    """Words for a file that is not a regular file, or None for a regular one."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if stat.S_ISFIFO(mode):
        return "is a named pipe (FIFO), not a regular file; it was not read (reading it could wait forever)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, not a regular file; it was not read"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a regular file; it was not read"
    return "is not a regular file; it was not read"


def _check_stat(path: Path, st: os.stat_result, kind: str, error: ErrorFactory, max_bytes: int | None) -> int:
    problem = _file_type(st.st_mode)
    if problem:
        raise error(path, problem)
    limit = MAX_BYTES[kind] if max_bytes is None else max_bytes
    if st.st_size > limit:
        raise error(
            path,
            f"the {KIND_WORDS[kind]} is {_human(st.st_size)}, over the limit of {_human(limit)} "
            f"for this kind of file; it was not read",
        )
    return int(st.st_size)


def _os_problem(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, IsADirectoryError):
        return "is a folder, not a file"
    return f"cannot be read ({exc.strerror or exc})"


def check_file(path, kind: str, error: ErrorFactory = UserFileError, max_bytes: int | None = None) -> int:
    """The size of ``path`` if it is a readable regular file within the limit for ``kind``; else ``error``.

    Opens the file without blocking and checks the open descriptor, so the answer holds for the file
    the caller then reads (barring a rename in between, which is the user's own doing).
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        try:  # a FIFO with no writer opens fine; a socket does not open at all: say what it is
            problem = _file_type(os.stat(path).st_mode)
        except OSError:
            problem = None
        raise error(path, problem or _os_problem(exc)) from None
    try:
        return _check_stat(path, os.fstat(fd), kind, error, max_bytes)
    finally:
        os.close(fd)


def read_bytes(path, kind: str, error: ErrorFactory = UserFileError, max_bytes: int | None = None) -> bytes:
    """The whole content of a user file, through the gate (see :func:`check_file`)."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        try:
            problem = _file_type(os.stat(path).st_mode)
        except OSError:
            problem = None
        raise error(path, problem or _os_problem(exc)) from None
    try:
        size = _check_stat(path, os.fstat(fd), kind, error, max_bytes)
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(size + 1)
        if len(data) > size:  # grew while we read: still bounded by the limit
            limit = MAX_BYTES[kind] if max_bytes is None else max_bytes
            if len(data) > limit:
                raise error(path, f"the file grew past the limit of {_human(limit)} while it was read")
        return data
    except OSError as exc:
        raise error(path, _os_problem(exc)) from None
    finally:
        os.close(fd)


def check_writable(path, what: str = "output file", error: ErrorFactory = UserFileError) -> Path:
    """Refuse, before any work starts, an output path that cannot be written: a folder, a special file,
    or a place where no file can be created (read-only folder, missing permission). Nothing is left behind."""
    import tempfile

    path = Path(path)
    if path.is_dir():
        raise error(path, f"the {what} is a folder; give a file name")
    if path.exists() and not path.is_file():
        raise error(path, f"the {what} is not a regular file (a pipe or device); give a file name")
    parent = path.parent
    probe = parent
    while not probe.exists() and probe != probe.parent:  # the folders that would be created
        probe = probe.parent
    if not probe.is_dir():
        raise error(path, f"cannot write the {what}: {probe} is a file, not a folder")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".zsl-write-test.", dir=probe)
    except OSError as exc:
        raise error(path, f"cannot write the {what} in {probe}: {exc.strerror or exc}") from None
    os.close(fd)
    os.unlink(tmp)
    if path.exists() and not os.access(path, os.W_OK):
        raise error(path, f"the {what} exists and is read-only")
    return path


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


def json_depth(data: bytes) -> int:
    """How deeply arrays and objects nest in JSON text (strings ignored), without parsing it."""
    stripped = _JSON_STRING.sub(b'""', data)
    codes = np.frombuffer(stripped, np.uint8)
    steps = np.zeros(len(codes), np.int64)
    steps[(codes == ord("[")) | (codes == ord("{"))] = 1
    steps[(codes == ord("]")) | (codes == ord("}"))] = -1
    return int(np.cumsum(steps).max()) if len(steps) else 0


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a finite number")


def read_json(path, error: ErrorFactory = UserFileError, max_bytes: int | None = None, max_depth: int = MAX_JSON_DEPTH):
    """Parsed JSON of a user file: bounded size and nesting, UTF-8, NaN/Infinity refused.

    A number too large for a double (``1e999``) parses as infinity in Python: refused too.
    """
    path = Path(path)
    data = read_bytes(path, "json", error, max_bytes)
    depth = json_depth(data)
    if depth > max_depth:
        raise error(
            path,
            f"the JSON nests {depth} levels deep, more than the {max_depth} allowed; it is not a file this app wrote",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise error(path, "not a text (UTF-8) file") from None
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise error(path, f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    except ValueError as exc:
        raise error(path, f"not valid JSON: {exc}") from None
    except RecursionError:  # the depth check makes this unreachable; kept as the last line of defence
        raise error(path, "the JSON nests too deeply") from None


def _finite_float(text: str) -> float:
    value = float(text)
    if not np.isfinite(value):
        raise ValueError(f"{text} is too large for a number")
    return value


__all__ = [
    "MAX_BYTES",
    "MAX_JSON_DEPTH",
    "PDF_MAGIC",
    "TEXT_BYTES",
    "ZIP_MAGIC",
    "UserFileError",
    "check_file",
    "check_writable",
    "file_head",
    "json_depth",
    "looks_like_text",
    "read_bytes",
    "read_json",
    "shown_path",
]
