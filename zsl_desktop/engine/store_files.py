"""The feature store's files on disk: its manifest read and written, its memory-mapped arrays created
(their disk space reserved up front) and its rows committed.

Layout of one store folder::

    manifest.json   key, shapes, status ("partial" | "complete"), failed images
    grid.f16        float16 [N, C, h, w]   (np.memmap)
    pooled.f16      float16 [N, C]
    done.u8         uint8 [N]: 1 once a row is on disk

    sources.npy     int64 [N, 3]: size, mtime (ns) and a 64-bit hash of each image file

Why a done-mask: a killed extraction resumes where it stopped. Rows are
flushed before their done flag, so a row marked done is always complete.

Why a module of its own: ``features.py`` decides what to extract and serves the features (why
``sources.npy``: its docstring); this is the file format under it, the part a crash-safety review reads.
"""

from __future__ import annotations

import errno
import json
import os
import time
from pathlib import Path
from typing import Literal

import numpy as np

from zsl_desktop.engine.atomic import atomic_write_text
from zsl_desktop.engine.feature_source import release_pages
from zsl_desktop.engine.image_stamps import SOURCES_FILE

STORE_VERSION = 1


def start_store(folder: Path, manifest: dict) -> dict:
    """A new store: its folder, its manifest (status "partial") and no data files of an older one."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("grid.f16", "pooled.f16", "done.u8", SOURCES_FILE):
        (folder / name).unlink(missing_ok=True)
    atomic_write_text(folder / "manifest.json", json.dumps(manifest, indent=1))
    return manifest


def map_rows(folder: Path, n: int, grid_shape: list, channels: int, fresh: bool, is_main: bool):
    """(grid, pooled, done) memory maps of the store's files, created when ``fresh``; rank 0 reserves their
    disk space (a full disk: the files of a fresh store are removed and the error raised)."""
    mode: Literal["w+", "r+"] = "w+" if fresh else "r+"
    grid = np.memmap(folder / "grid.f16", np.float16, mode, shape=(n, *grid_shape))
    pooled = np.memmap(folder / "pooled.f16", np.float16, mode, shape=(n, channels))
    done = np.memmap(folder / "done.u8", np.uint8, mode, shape=(n,))
    try:
        if is_main:
            reserve_disk(folder, ("grid.f16", "pooled.f16", "done.u8"))
    except OSError:
        del grid, pooled, done  # unmapped before their files go
        if fresh:
            for name in ("grid.f16", "pooled.f16", "done.u8"):
                (folder / name).unlink(missing_ok=True)
        raise
    return grid, pooled, done


def reserve_disk(folder: Path, names) -> None:
    """Allocate the store's files now (they start sparse): a full disk is a clear error here,
    not a crash (SIGBUS) in the middle of writing a memory-mapped row."""
    if not hasattr(os, "posix_fallocate"):
        return
    for name in names:
        path = Path(folder) / name
        with open(path, "r+b") as f:
            size = os.fstat(f.fileno()).st_size
            try:
                os.posix_fallocate(f.fileno(), 0, size)
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                    raise OSError(
                        exc.errno,
                        f"not enough disk space for the feature store in {folder}: it needs "
                        f"{_total_mb(folder, names):.0f} MB ({os.strerror(exc.errno)})",
                    ) from None
                if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                    raise


def _total_mb(folder: Path, names) -> float:
    return sum((Path(folder) / n).stat().st_size for n in names) / 1e6


def commit_rows(grid, pooled, done, unflushed: list) -> None:
    """Flush feature rows to disk, then mark them done: a row marked done is always complete."""
    grid.flush()
    pooled.flush()
    for rows in unflushed:
        done[rows] = 1
    done.flush()
    if unflushed:
        written = np.concatenate([np.atleast_1d(np.asarray(r)) for r in unflushed])
        for array in (grid, pooled):  # on disk now: keep them out of this process's resident memory
            release_pages(array, int(written.min()), int(written.max()) + 1)
    unflushed.clear()


def write_status(folder: Path, manifest: dict, failed: dict, status: str) -> dict:
    """The manifest with these failures and this status ("partial" | "complete"), written atomically."""
    manifest = {**manifest, "failed": failed, "status": status, "updated": time.time()}
    atomic_write_text(folder / "manifest.json", json.dumps(manifest, indent=1))
    return manifest


def read_manifest(folder: Path) -> dict | None:
    """The store's manifest, or None when it (or a data file of the right size) is missing or damaged."""
    path = Path(folder) / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # damaged: extract again rather than crash
        return None
    if not isinstance(manifest, dict) or manifest.get("version") != STORE_VERSION:
        return None
    try:
        n, channels = int(manifest["num_images"]), int(manifest["channels"])
        expected = {
            "grid.f16": 2 * n * int(np.prod([int(s) for s in manifest["grid_shape"]])),
            "pooled.f16": 2 * n * channels,
        }
        if not isinstance(manifest.get("failed", {}), dict):
            return None
        sizes = {f: (Path(folder) / f).stat().st_size for f in expected}
    except (KeyError, TypeError, ValueError, OSError):
        return None
    if sizes != expected:  # a truncated or replaced data file: extract again rather than crash
        return None
    return manifest
