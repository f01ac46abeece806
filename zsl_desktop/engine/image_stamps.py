"""What each feature-store row was extracted from: every image file's size, modification time and a cheap hash.

Why (see ``features.py``): the store's folder is keyed by the dataset's name and
listing, which say nothing about the pixels; these stamps find the images that
changed on disk, so that only their rows are extracted again.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
from pathlib import Path

import numpy as np

from zsl_desktop.engine.atomic import atomic_write_bytes
from zsl_desktop.engine.data.model import Dataset
from zsl_desktop.engine.quiet import pause_for_user

# -- what the rows were extracted from ----------------------------------------------------------------
SOURCES_FILE = "sources.npy"
HASH_BYTES = 16 * 1024  # from each end of the file: a re-saved, cropped or replaced image changes both
PAUSE_EVERY = 500  # files between two pauses for a scrolling user (~2 ms of GIL: 100,000 took ~0.4 s, busy machine)


def file_stamp(path, previous=None) -> tuple[int, int, int]:
    """(size, mtime_ns, 64-bit hash) of an image file; the hash is reused when size and time are unchanged.

    A missing file stamps as size -1, a special file (pipe, device) as -2: never hashed, never blocking.
    """
    try:
        st = os.stat(path)
    except OSError:
        return (-1, 0, 0)
    if not stat.S_ISREG(st.st_mode):
        return (-2, 0, 0)
    if previous is not None and previous[0] == st.st_size and previous[1] == st.st_mtime_ns:
        return (int(previous[0]), int(previous[1]), int(previous[2]))
    h = hashlib.blake2b(str(st.st_size).encode(), digest_size=8)
    try:
        with open(path, "rb") as f:
            h.update(f.read(HASH_BYTES))
            if st.st_size > 2 * HASH_BYTES:
                f.seek(-HASH_BYTES, os.SEEK_END)
            h.update(f.read(HASH_BYTES))
    except OSError:
        return (-1, 0, 0)
    return (int(st.st_size), int(st.st_mtime_ns), int.from_bytes(h.digest(), "little", signed=True))


def image_stamps(dataset: Dataset, previous: np.ndarray | None = None) -> np.ndarray:
    """int64 [N, 3] stamps of every image of ``dataset`` (see :func:`file_stamp`)."""
    out = np.empty((dataset.num_samples, 3), np.int64)
    root = os.fspath(dataset.image_root or "")
    prev = previous.tolist() if previous is not None else None  # plain ints: this loop runs on every open
    for i, rel in enumerate(dataset.image_paths or ()):
        if i % PAUSE_EVERY == 0:
            pause_for_user()  # the app's opening checks its images after the first predictions: not while scrolling
        out[i] = file_stamp(os.path.join(root, rel), None if prev is None else prev[i])
    return out


def read_sources(folder: Path, n: int) -> np.ndarray | None:
    try:
        sources = np.load(Path(folder) / SOURCES_FILE, allow_pickle=False)
    except (OSError, ValueError):
        return None
    return sources if sources.shape == (n, 3) and sources.dtype == np.int64 else None


def write_sources(folder: Path, stamps: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, stamps, allow_pickle=False)
    atomic_write_bytes(Path(folder) / SOURCES_FILE, buffer.getvalue())


def changed_rows(dataset: Dataset, folder: Path, write: bool = True) -> np.ndarray:
    """Rows whose image's size or content differs from what the store in ``folder`` was extracted from.

    Records new modification times of unchanged files (and the stamps of a store that had none), so the
    next open only stats the files.
    """
    if not dataset.has_images:
        return np.zeros(0, np.int64)
    old = read_sources(folder, dataset.num_samples)
    now = image_stamps(dataset, old)
    if old is None:
        changed = np.zeros(0, np.int64)  # a store from before stamps: adopted as it is
    else:
        changed = np.flatnonzero((old[:, 0] != now[:, 0]) | (old[:, 2] != now[:, 2]))
    if write and len(changed) == 0 and (old is None or not np.array_equal(old, now)):
        try:
            write_sources(folder, now)
        except OSError:
            pass  # a read-only store still opens; its files are stat'ed and hashed again next time
    return changed
