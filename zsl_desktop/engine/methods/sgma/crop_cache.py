"""SGMA's disk cache of part-crop features: a byte cap, the oldest chunks evicted first, rows read on demand.

Keys are (row, quantised cx, cy, side) int32 [4] (``crops.py`` makes them); values float16 [C] feature
vectors. On disk (``<feature store>/sgma-crops-<crop size>-q<quantum>-v2/``) each chunk is one file
``chunk-<ns>-<pid>-<tag>.npy`` holding two .npy arrays one after the other: ``keys`` int32 [M, 4], then
``features`` float16 [M, C]. Why this layout: a process reads only the keys of every chunk (16 bytes a
row) and seeks to the feature rows a batch asks for, so its memory is what the run needs, not the folder's
history (layout 1, ``.npz`` chunks read whole: peak RSS 7.3 GB on a 3.5 GB folder, 1.3 GB now; the index
costs ~190 bytes a crop, ~76 MB at the cap; docs/history/sgma_crop_cache.md).

- The folder never holds more than ``cap`` bytes (``ZSL_DESKTOP_CROP_CACHE_MB``, default 1024 MB): after
  each write the oldest chunks (by the time in their names) are deleted until it fits. One SGMA run on the
  CUB subset (1,000 images) writes ~17 MB; a model's own crops (reused every epoch) must fit, so
  keep the cap above a few times the dataset's images x 2 parts x 2.5 KB.
- Chunks are written atomically and never modified; many small ones are merged into one (written first,
  then the small ones deleted). Two processes can share the folder: a chunk that vanished (evicted or
  merged by the other) is dropped from the index and its crops are computed again.
- A folder in layout 1 (``sgma-crops-<size>-q<quantum>``, no suffix) is deleted when the cache opens:
  its crops are only a cache, and reading it is what ran out of memory.
- Without a folder the cache lives in memory, under the same cap.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zsl_desktop.engine.atomic import STALE_SECONDS, atomic_open

CACHE_VERSION = 2  # 2: .npy pairs read row by row, a byte cap; 1: .npz chunks, read whole, no cap
CAP_ENV = "ZSL_DESKTOP_CROP_CACHE_MB"
DEFAULT_CAP_MB = 1024
MERGE_AT = 32  # small chunk files; more than this are merged into one
SMALL_CHUNK_BYTES = 4 << 20  # chunks under this size are merged; larger ones stay as they are
KEY_BYTES = 16  # int32 [4]

log = logging.getLogger(__name__)


def cap_bytes() -> int:
    """The cache's byte cap: ``ZSL_DESKTOP_CROP_CACHE_MB`` (0 keeps nothing on disk) or 1024 MB."""
    raw = os.environ.get(CAP_ENV, "").strip()
    if not raw:
        return DEFAULT_CAP_MB << 20
    try:
        megabytes = float(raw)
    except ValueError:
        megabytes = -1.0
    if not megabytes >= 0:  # also NaN
        log.warning("%s=%r is not a size in MB; using %d", CAP_ENV, raw, DEFAULT_CAP_MB)
        return DEFAULT_CAP_MB << 20
    return int(megabytes * (1 << 20))


def cache_folder(store_folder: Path, crop_size: int, quantum: int) -> Path:
    """This layout's folder for one (feature store, crop size, quantum)."""
    return Path(store_folder) / f"sgma-crops-{int(crop_size)}-q{int(quantum)}-v{CACHE_VERSION}"


def remove_old_layout(store_folder: Path, crop_size: int, quantum: int) -> int:
    """Delete layout 1's chunks (and its writers' leftover temp files) beside ``store_folder``; bytes freed.

    Only files the cache wrote are touched; the folder goes when nothing else is left in it.
    """
    old = Path(store_folder) / f"sgma-crops-{int(crop_size)}-q{int(quantum)}"
    if old.is_symlink() or not old.is_dir():  # a link points somewhere the cache did not make: left alone
        return 0
    freed = 0
    for path in [*old.glob("chunk-*.npz"), *old.glob(".chunk-*.tmp")]:
        with contextlib.suppress(OSError):
            size = path.stat().st_size
            path.unlink()
            freed += size
    with contextlib.suppress(OSError):
        old.rmdir()
    if freed:
        log.info(
            "removed the old-layout crop cache %s (%.0f MB; crops are computed again as needed)", old, freed / 2**20
        )
    return freed


# -- one chunk file -----------------------------------------------------------------------------
def write_chunk(path: Path, keys: np.ndarray, features: np.ndarray) -> int:
    """keys int32 [M, 4] then features float16 [M, C], as two .npy arrays in one atomically written file.

    Returns the byte offset of the features (where ``read_chunk_keys`` finds them).
    """
    features = np.ascontiguousarray(features, np.float16)
    with atomic_open(path, "wb") as f:
        np.save(f, np.ascontiguousarray(keys, np.int32))
        np.save(f, features)
        return f.tell() - features.nbytes


def read_chunk_keys(path: Path, channels: int) -> tuple[np.ndarray, int]:
    """(keys int32 [M, 4], byte offset of the features) of a chunk, reading the keys only.

    ValueError when the file is not a whole chunk of ``channels`` features (truncated, another width).
    """
    with open(path, "rb") as f:
        keys = np.load(f, allow_pickle=False)
        version = np.lib.format.read_magic(f)
        header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = header(f)
        offset = f.tell()
    size = os.path.getsize(path)
    if keys.dtype != np.int32 or keys.ndim != 2 or keys.shape[1] != 4:
        raise ValueError(f"{path.name}: keys are {keys.dtype} {keys.shape}")
    if dtype != np.float16 or fortran or tuple(shape) != (len(keys), channels):
        raise ValueError(f"{path.name}: features are {dtype} {shape}, expected float16 ({len(keys)}, {channels})")
    if size != offset + len(keys) * channels * 2:
        raise ValueError(f"{path.name}: {size} bytes, expected {offset + len(keys) * channels * 2}")
    return keys, offset


@dataclass
class Chunk:
    """One chunk the index knows: its file (or, in memory, its features) and where its features start."""

    name: str
    keys: list[bytes]  # the index's keys, in row order
    offset: int = 0
    nbytes: int = 0
    features: np.ndarray | None = None  # in-memory caches only


def key_bytes(keys: np.ndarray) -> list[bytes]:
    """int [M, 4] keys -> M hashable 16-byte strings (what the index is keyed by)."""
    keys = np.ascontiguousarray(np.asarray(keys, np.int32).reshape(-1, 4))
    return [row.tobytes() for row in keys]


# -- the cache ----------------------------------------------------------------------------------
class CropCache:
    """(row, qcx, qcy, qside) -> float16 feature vector: an index of keys in memory, features on disk.

    ``hits``, ``misses`` and ``bytes_read`` (feature bytes read from disk) count what ``get`` did.
    """

    def __init__(self, folder: Path | None, channels: int, cap: int | None = None):
        self.folder = None if folder is None else Path(folder)
        self.channels = int(channels)
        self.cap = cap_bytes() if cap is None else max(0, int(cap))
        self._lock = threading.Lock()  # the index
        self._tidy_lock = threading.RLock()  # one thread at a time scans, merges or evicts the folder
        self._index: dict[bytes, int] = {}  # key -> chunk serial << 32 | row
        self._chunks: dict[int, Chunk] = {}  # serial -> chunk, oldest first
        self._serial_of: dict[str, int] = {}  # chunk name -> serial
        self._next_serial = 0
        self._bad: set[str] = set()  # chunk files that are not whole chunks of this width
        self.hits = self.misses = self.bytes_read = 0
        self.refresh()

    def __len__(self) -> int:
        return len(self._index)

    @property
    def row_bytes(self) -> int:
        return self.channels * 2

    # -- the index ------------------------------------------------------------------------------
    def _add(self, chunk: Chunk) -> None:
        with self._lock:
            serial = self._next_serial
            self._next_serial += 1
            self._chunks[serial] = chunk
            self._serial_of[chunk.name] = serial
            for row, key in enumerate(chunk.keys):
                self._index[key] = serial << 32 | row  # the newest copy of a key: it is evicted last

    def _drop(self, name: str) -> None:
        with self._lock:
            serial = self._serial_of.pop(name, None)
            chunk = None if serial is None else self._chunks.pop(serial)
            if chunk is None:
                return
            for key in chunk.keys:
                if self._index.get(key, -1) >> 32 == serial:
                    del self._index[key]

    def refresh(self) -> None:
        """Index chunks written since the last look (by this or another process), forget vanished ones, tidy."""
        if self.folder is None or not self.folder.is_dir():
            return
        with self._tidy_lock:
            names = {p.name for p in self.folder.glob("chunk-*.npy")}
            with self._lock:
                known = set(self._serial_of)
            for name in known - names:
                self._drop(name)
            for name in sorted(names - known - self._bad):
                path = self.folder / name
                try:
                    keys, offset = read_chunk_keys(path, self.channels)
                    nbytes = path.stat().st_size
                except FileNotFoundError:  # merged or evicted by another process meanwhile
                    continue
                except (OSError, ValueError, EOFError) as exc:  # damaged (empty), or another width: skipped,
                    log.warning("crop cache: skipping %s: %s", path, exc)  # evicted in its turn
                    self._bad.add(name)
                    continue
                self._add(Chunk(name, key_bytes(keys), offset, nbytes))
            self._tidy()

    # -- reading and writing ----------------------------------------------------------------------
    def get(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(features float32 [M, C] with zeros where missing, found bool [M])."""
        wanted = key_bytes(keys)
        out = np.zeros((len(wanted), self.channels), np.float32)
        found = np.zeros(len(wanted), bool)
        by_chunk: dict[int, list[tuple[int, int]]] = {}
        with self._lock:
            for i, key in enumerate(wanted):
                where = self._index.get(key)
                if where is not None:
                    by_chunk.setdefault(where >> 32, []).append((i, where & 0xFFFFFFFF))
            chunks = {serial: self._chunks[serial] for serial in by_chunk}
        for serial, pairs in by_chunk.items():
            chunk = chunks[serial]
            targets = np.array([i for i, _ in pairs])
            rows = np.array([r for _, r in pairs])
            try:
                out[targets] = self._read_rows(chunk, rows)
            except (OSError, ValueError):  # evicted or merged by another process: computed again
                self._drop(chunk.name)
                continue
            found[targets] = True
        self.hits += int(found.sum())
        self.misses += int(len(found) - found.sum())
        return out, found

    def _read_rows(self, chunk: Chunk, rows: np.ndarray) -> np.ndarray:
        if chunk.features is not None:
            return chunk.features[rows]
        out = np.empty((len(rows), self.channels), np.float16)
        size = self.row_bytes
        order = np.argsort(rows, kind="stable")  # forward seeks
        with open(self.folder / chunk.name, "rb", buffering=0) as f:
            for i in order:
                f.seek(chunk.offset + int(rows[i]) * size)
                data = f.read(size)
                if len(data) != size:
                    raise ValueError(f"{chunk.name}: short read")
                out[i] = np.frombuffer(data, np.float16)
        self.bytes_read += len(rows) * size
        return out

    def put(self, keys: np.ndarray, feats: np.ndarray) -> None:
        """Add features for keys (a new chunk), then keep the cache under its cap."""
        keys = np.asarray(keys, np.int32).reshape(-1, 4)
        feats = np.asarray(feats, np.float16).reshape(len(keys), self.channels)
        if not len(keys):
            return
        if self.folder is not None and feats.nbytes + keys.nbytes > self.cap:
            self._tidy()  # not written: a chunk larger than the whole cap would evict everything, itself included
            return
        if self.folder is None:
            name = f"memory-{self._next_serial:012d}"
            self._add(Chunk(name, key_bytes(keys), nbytes=feats.nbytes + keys.nbytes, features=feats.copy()))
        else:
            self.folder.mkdir(parents=True, exist_ok=True)
            name = f"chunk-{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}.npy"
            offset = write_chunk(self.folder / name, keys, feats)
            self._add(Chunk(name, key_bytes(keys), offset))
        self._tidy()

    # -- merging and eviction -------------------------------------------------------------------
    def _tidy(self) -> None:
        if self.folder is None:
            self._evict_in_memory()
            return
        with self._tidy_lock:
            self._merge_small()
            self._evict()

    def _remove(self, name: str) -> bool:
        """Delete a chunk file and forget it; False when the OS refuses (Windows: another process has it open)."""
        try:
            (self.folder / name).unlink(missing_ok=True)
        except OSError as exc:
            log.debug("crop cache: %s kept for now: %s", name, exc)
            return False
        self._drop(name)
        return True

    def _chunk_files(self) -> list[tuple[str, int]]:
        """(name, bytes) of the folder's chunk files, oldest first."""
        files = []
        for path in self.folder.glob("chunk-*.npy"):
            with contextlib.suppress(FileNotFoundError):
                files.append((path.name, path.stat().st_size))
        return sorted(files)

    def _merge_small(self) -> None:
        """More than MERGE_AT small chunks -> one, named after the newest of them (so it is evicted as late)."""
        small = [name for name, size in self._chunk_files() if size < SMALL_CHUNK_BYTES and name not in self._bad]
        if len(small) <= MERGE_AT:
            return
        keys, feats, merged = [], [], []
        for name in small:
            try:
                k, offset = read_chunk_keys(self.folder / name, self.channels)
                with open(self.folder / name, "rb") as f:
                    f.seek(offset)
                    data = np.frombuffer(f.read(len(k) * self.row_bytes), np.float16)
                feats.append(data.reshape(len(k), self.channels))
                keys.append(k)
                merged.append(name)
            except (OSError, ValueError, EOFError):  # gone meanwhile, or damaged (left for eviction)
                continue
        if len(merged) < 2:
            return
        stamp = merged[-1].split("-")[1]
        name = f"chunk-{stamp}-{os.getpid()}-merged-{uuid.uuid4().hex[:8]}.npy"
        all_keys = np.concatenate(keys)
        offset = write_chunk(self.folder / name, all_keys, np.concatenate(feats))
        self._add(Chunk(name, key_bytes(all_keys), offset))
        for old in merged:
            self._remove(old)

    def _evict(self) -> None:
        """Delete the oldest chunk files (and writers' temp files over an hour old) until the folder fits the cap."""
        cutoff = time.time() - STALE_SECONDS
        for path in self.folder.glob(".chunk-*.tmp"):
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()
        files = self._chunk_files()
        total = sum(size for _, size in files)
        for name, size in files:
            if total <= self.cap:
                break
            if self._remove(name):
                self._bad.discard(name)
                total -= size

    def _evict_in_memory(self) -> None:
        with self._lock:
            chunks = list(self._chunks.values())
        total = sum(c.nbytes for c in chunks)
        for chunk in chunks:
            if total <= self.cap:
                break
            self._drop(chunk.name)
            total -= chunk.nbytes


_CACHES: dict[tuple, CropCache] = {}
_CACHES_LOCK = threading.Lock()


def shared_cache(store_folder: Path | None, crop_size: int, quantum: int, channels: int) -> CropCache:
    """The process-wide cache for one (feature store, crop size, quantum); a private in-memory one without a folder.

    The first time a store's cache opens in this process, layout 1's folder beside it is deleted.
    """
    if store_folder is None:  # nothing to share it by
        return CropCache(None, channels)
    folder = cache_folder(store_folder, crop_size, quantum)
    key = (str(folder), int(channels))
    with _CACHES_LOCK:
        cache = _CACHES.get(key)
        if cache is None:
            remove_old_layout(store_folder, crop_size, quantum)
            cache = _CACHES[key] = CropCache(folder, channels)
        else:
            cache.refresh()
        return cache


def open_caches() -> list[CropCache]:
    """The process-wide caches opened so far (for reports of their hit counters)."""
    with _CACHES_LOCK:
        return list(_CACHES.values())
