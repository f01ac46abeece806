"""What a method reads: rows of the feature store (``FeatureSource``) and, for methods that go back to the
pixels, the rows' original images (``ImageAccess``).

Why here and not in ``methods/base.py`` or ``features.py``: the feature store
makes these and the methods read them, and the store must not import the
methods (import-linter states it). This module sits below both.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch


@dataclass(frozen=True)
class ImageAccess:
    """Original images of a feature store's rows (what crop-based methods need besides the features)."""

    path: Callable[[int], Path]  # row -> image file
    backbone: str
    input_size: int
    cache_dir: Path | None = None  # the feature store's folder; crop caches go in sub-folders

    @classmethod
    def for_store(cls, dataset, store) -> "ImageAccess":
        """Images of ``dataset`` whose features are in ``store`` (a ``features.FeatureStore``)."""
        return cls(
            dataset.image_path, store.manifest["backbone"], int(store.manifest["input_size"]), Path(store.folder)
        )


@dataclass
class FeatureSource:
    """Rows of the feature store a method may read.

    ``grid`` is [N, C, h, w] and ``pooled`` is [N, C] (float16 memory maps,
    or plain arrays); either may be None when the backbone or the dataset
    cannot provide it (xlsa17 files carry pooled features only).
    """

    grid: Any = None
    pooled: Any = None
    images: ImageAccess | None = None  # the rows' original images, for methods that re-encode crops (SGMA)
    # The same images mirrored left-right (a FeatureSource of the same shape), or None. Its rows are
    # addressed as rows N..2N-1 of this source (``mirrored_rows``), so a method trains on flipped copies
    # by being handed their row numbers and reads them like any other row.
    mirrored: FeatureSource | None = None
    tta: bool = False  # score each image as the mean of its codes and its mirror's (scoring.encode_rows)

    @property
    def num_rows(self) -> int:
        array = self.grid if self.grid is not None else self.pooled
        return 0 if array is None else len(array)

    def mirrored_rows(self, index) -> np.ndarray:
        """The row numbers of the mirrored copies of rows ``index``."""
        if self.mirrored is None:
            raise ValueError("no mirrored features: extract them with --flips (zsl-desktop extract --flips both)")
        return np.asarray(index, np.int64) + self.num_rows

    def rows(self, kind: str, index, device="cpu") -> torch.Tensor:
        index = np.asarray(index, np.int64)
        n = self.num_rows
        if self.mirrored is not None and index.size and index.max() >= n:
            upper = index >= n
            plain = self.rows(kind, index[~upper], device) if (~upper).any() else None
            flipped = self.mirrored.rows(kind, index[upper] - n, device)
            merged = flipped.new_empty((len(index), *flipped.shape[1:]))
            merged[torch.from_numpy(np.flatnonzero(upper)).to(merged.device)] = flipped
            if plain is not None:
                merged[torch.from_numpy(np.flatnonzero(~upper)).to(merged.device)] = plain
            return merged
        array = self.grid if kind == "grid" else self.pooled
        if array is None:
            raise ValueError(f"no {kind} features available")
        order = np.argsort(index)  # memmaps read faster in order
        block = np.asarray(array[index[order]])
        if len(index):
            release_pages(array, int(index[order[0]]), int(index[order[-1]]) + 1)
        block = block[np.argsort(order)]  # back to the order asked for, still in the store's dtype
        if block.dtype not in (np.float16, np.float32, np.float64):
            block = block.astype(np.float32)
        # torch widens float16 with vector instructions, numpy one element at a time: an MSDN batch
        # (50 x 1280 x 7 x 7) took ~10 ms of CPU in numpy against ~2 ms here (the same values: float16 ->
        # float32 is exact).
        return torch.from_numpy(np.ascontiguousarray(block)).to(device, torch.float32)


def release_pages(array, first: int, stop: int) -> None:
    """Unmap rows ``first:stop`` of a file memory map from this process (the OS keeps them cached).

    Why: every page of a memory map once read or written counts in the process's
    resident memory; encoding a 10,000-image grid store would leave 1.25 GB of it
    there. Dropping the mapping costs a cheap re-map on the next read. Shared file
    maps ("r", "r+", "w+") lose nothing (dirty pages stay in the OS cache, to be
    written); copy-on-write maps ("c") would, so they are left alone.
    """
    handle = getattr(array, "_mmap", None)
    if handle is None or getattr(array, "mode", "r") == "c" or not hasattr(mmap, "MADV_DONTNEED"):
        return
    row_bytes = array.itemsize * int(np.prod(array.shape[1:], dtype=np.int64))
    base = getattr(array, "offset", 0) % mmap.ALLOCATIONGRANULARITY  # numpy maps from the aligned offset
    start = base + first * row_bytes
    end = min(len(handle), base + stop * row_bytes)
    start -= start % mmap.PAGESIZE
    if end > start:
        try:
            handle.madvise(mmap.MADV_DONTNEED, start, end - start)
        except (OSError, ValueError):
            pass
