"""SGMA's crop-feature cache (``methods/sgma/crop_cache.py``): the byte cap, eviction oldest first, reading
only the rows asked for, two caches sharing a folder, the old layout, and the encoder recomputing what
was evicted. Small generated data; the backbone is a stand-in (no weights)."""

import numpy as np
import pytest
import torch
from PIL import Image

from zsl_desktop.engine.feature_source import ImageAccess
from zsl_desktop.engine.methods.sgma import crop_cache as cache_module
from zsl_desktop.engine.methods.sgma import crops as crops_module
from zsl_desktop.engine.methods.sgma.crop_cache import (
    CAP_ENV,
    DEFAULT_CAP_MB,
    CropCache,
    cache_folder,
    cap_bytes,
    open_caches,
    read_chunk_keys,
    shared_cache,
    write_chunk,
)

CHANNELS = 8


def keys_of(first: int, count: int) -> np.ndarray:
    """``count`` distinct keys (row, cx, cy, side) numbered from ``first``."""
    rows = np.arange(first, first + count)
    return np.stack([rows, rows % 32, (rows * 7) % 32, 1 + rows % 31], 1).astype(np.int32)


def features_of(keys: np.ndarray) -> np.ndarray:
    """A feature that says which key it belongs to (float16-exact small integers)."""
    return (keys[:, :1] + np.arange(CHANNELS)[None] % 4).astype(np.float16)


def folder_bytes(folder) -> int:
    return sum(p.stat().st_size for p in folder.iterdir())


def test_a_cache_persists_and_another_opening_reads_it(tmp_path):
    cache = CropCache(tmp_path / "c", 3)
    cache.put(np.array([[1, 2, 3, 4]]), np.array([[1.0, 2.0, 3.0]]))
    cache.put(np.array([[5, 6, 7, 8], [9, 9, 9, 9]]), np.ones((2, 3)))
    again = CropCache(tmp_path / "c", 3)
    out, found = again.get(np.array([[1, 2, 3, 4], [0, 0, 0, 0], [9, 9, 9, 9]]))
    assert found.tolist() == [True, False, True]
    np.testing.assert_array_equal(out, [[1, 2, 3], [0, 0, 0], [1, 1, 1]])
    assert (again.hits, again.misses) == (2, 1)
    assert len(CropCache(None, 3)) == 0  # in memory only


def test_small_chunks_are_merged_into_one(tmp_path, monkeypatch):
    monkeypatch.setattr(cache_module, "MERGE_AT", 2)
    cache = CropCache(tmp_path / "c", CHANNELS)
    for i in range(3):
        cache.put(keys_of(10 * i, 4), features_of(keys_of(10 * i, 4)))
    assert len(list((tmp_path / "c").glob("chunk-*.npy"))) == 1
    every = np.concatenate([keys_of(10 * i, 4) for i in range(3)])
    for reader in (cache, CropCache(tmp_path / "c", CHANNELS)):
        out, found = reader.get(every)
        assert found.all() and len(reader) == 12
        np.testing.assert_array_equal(out, features_of(every))


def test_the_cap_holds_after_many_puts_and_the_oldest_go_first(tmp_path):
    folder = tmp_path / "c"
    chunk = 10  # keys a put
    one = len(open_chunk_bytes(tmp_path, chunk))
    cache = CropCache(folder, CHANNELS, cap=5 * one)
    for i in range(60):
        keys = keys_of(chunk * i, chunk)
        cache.put(keys, features_of(keys))
        assert folder_bytes(folder) <= 5 * one
    out, found = CropCache(folder, CHANNELS).get(keys_of(0, 60 * chunk))
    kept = np.flatnonzero(found)
    assert 0 < len(kept) <= 5 * chunk and found[-chunk:].all()
    assert kept.tolist() == list(range(kept[0], 60 * chunk)), "what is kept is the newest puts, in one run"
    np.testing.assert_array_equal(out[kept], features_of(keys_of(0, 60 * chunk))[kept])


def open_chunk_bytes(tmp_path, count: int) -> bytes:
    """The bytes of one chunk file of ``count`` keys (its size sets the caps below)."""
    path = tmp_path / "one.npy"
    write_chunk(path, keys_of(0, count), features_of(keys_of(0, count)))
    return path.read_bytes()


def test_a_cache_reads_keys_on_opening_and_only_the_rows_asked_for(tmp_path):
    folder = tmp_path / "c"
    writer = CropCache(folder, CHANNELS)
    for i in range(20):
        writer.put(keys_of(100 * i, 100), features_of(keys_of(100 * i, 100)))
    assert folder_bytes(folder) > 2000 * CHANNELS * 2
    reader = CropCache(folder, CHANNELS)
    assert len(reader) == 2000 and reader.bytes_read == 0
    wanted = keys_of(0, 2000)[[3, 250, 1999, 1500, 7]]
    out, found = reader.get(wanted)
    assert found.all() and reader.bytes_read == 5 * CHANNELS * 2
    np.testing.assert_array_equal(out, features_of(wanted))


def test_two_caches_share_a_folder_and_survive_each_others_eviction(tmp_path):
    folder = tmp_path / "c"
    one = len(open_chunk_bytes(tmp_path, 10))
    first, second = CropCache(folder, CHANNELS, cap=2 * one), CropCache(folder, CHANNELS, cap=2 * one)
    first.put(keys_of(0, 10), features_of(keys_of(0, 10)))
    second.refresh()
    assert second.get(keys_of(0, 10))[1].all()
    second.put(keys_of(10, 10), features_of(keys_of(10, 10)))
    second.put(keys_of(20, 10), features_of(keys_of(20, 10)))  # evicts first's chunk
    out, found = first.get(keys_of(0, 10))  # still indexed by first, gone from disk: a miss, not a crash
    assert not found.any() and not out.any()
    first.refresh()
    assert first.get(keys_of(10, 20))[1].all()


def test_damaged_and_foreign_chunks_are_skipped_then_evicted(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    write_chunk(folder / "chunk-00000000000000000001-1-wide.npy", keys_of(0, 4), np.ones((4, 2 * CHANNELS)))
    good = folder / "chunk-00000000000000000002-1-cut.npy"
    write_chunk(good, keys_of(4, 4), features_of(keys_of(4, 4)))
    good.write_bytes(good.read_bytes()[:-3])
    (folder / "chunk-00000000000000000003-1-junk.npy").write_bytes(b"not a chunk")
    cache = CropCache(folder, CHANNELS)
    assert len(cache) == 0
    with pytest.raises(ValueError):
        read_chunk_keys(good, CHANNELS)
    cache.cap = 0
    cache.put(keys_of(8, 1), features_of(keys_of(8, 1)))
    assert not list(folder.iterdir()), "a cap of 0 keeps nothing, the damaged files included"


def test_the_cap_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(CAP_ENV, raising=False)
    assert cap_bytes() == DEFAULT_CAP_MB << 20
    monkeypatch.setenv(CAP_ENV, "0.5")
    assert cap_bytes() == 1 << 19
    for bad in ("lots", "-3", "nan"):
        monkeypatch.setenv(CAP_ENV, bad)
        assert cap_bytes() == DEFAULT_CAP_MB << 20


def test_an_in_memory_cache_keeps_to_the_cap_too():
    cache = CropCache(None, CHANNELS, cap=3 * 10 * (CHANNELS * 2 + 16))
    for i in range(10):
        cache.put(keys_of(10 * i, 10), features_of(keys_of(10 * i, 10)))
    found = cache.get(keys_of(0, 100))[1]
    assert found[-30:].all() and not found[:-30].any()


def test_the_old_layout_is_removed_unread(tmp_path):
    store = tmp_path / "store"
    old = store / "sgma-crops-128-q32"
    old.mkdir(parents=True)
    np.savez(old / "chunk-1-merged.npz", keys=keys_of(0, 500), features=np.ones((500, 64), np.float16))
    (old / ".chunk-2.npz.x1y2.tmp").write_bytes(b"half written")
    cache = shared_cache(store, 128, 32, 64)
    assert not old.exists() and len(cache) == 0 and cache.folder == cache_folder(store, 128, 32)
    assert shared_cache(store, 128, 32, 64) is cache and cache in open_caches()  # one per process
    kept = store / "sgma-crops-64-q16"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    shared_cache(store, 64, 16, 64)
    assert (kept / "notes.txt").exists(), "only the cache's own files are removed"


# -- the encoder over a capped cache ------------------------------------------------------------
class StandInBackbone(torch.nn.Module):
    """Deterministic (grid, pooled) of crops, pooled [B, 1280]: a fixed projection of the mean colour."""

    def __init__(self):
        super().__init__()
        self.project = torch.nn.Linear(3, 1280)
        torch.nn.init.normal_(self.project.weight, generator=torch.Generator().manual_seed(0))
        torch.nn.init.zeros_(self.project.bias)
        self.device = torch.device("cpu")

    def forward(self, x):
        pooled = self.project(x.mean((2, 3)))
        return None, pooled


def test_the_encoder_recomputes_evicted_crops_to_the_same_values(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(12):
        paths.append(tmp_path / f"image{i}.png")
        Image.fromarray(rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)).save(paths[-1])
    monkeypatch.setattr(crops_module, "load_backbone", lambda name, device="cpu": StandInBackbone())
    monkeypatch.setenv(CAP_ENV, "0.06")  # ~60 KB: 24 crops of 2.5 KB, one put of 8 images x 2 parts fits
    access = ImageAccess(lambda row: paths[row], "efficientnet_lite0", 224, tmp_path / "store")
    encoder = crops_module.CropEncoder(access, 1280, crop_size=16, quantum=8)
    rows = np.arange(12)
    first = np.tile([[0.1, 0.1, 0.5, 0.5], [0.4, 0.3, 0.9, 0.8]], (12, 1, 1))
    second = np.tile([[0.0, 0.0, 0.6, 0.6], [0.5, 0.5, 1.0, 1.0]], (12, 1, 1))
    before = encoder.features(rows, first)
    assert encoder.computed == 24
    encoder.features(rows, second)  # evicts first's crops
    assert folder_bytes(encoder.cache.folder) <= encoder.cache.cap
    again = encoder.features(rows, first)
    assert encoder.computed > 48, "evicted crops ran the backbone again"
    np.testing.assert_array_equal(again, before)


def test_an_empty_chunk_file_is_skipped_not_fatal(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    write_chunk(folder / "chunk-00000000000000000001-1-a.npy", keys_of(0, 4), features_of(keys_of(0, 4)))
    (folder / "chunk-00000000000000000002-1-empty.npy").write_bytes(b"")  # a crash before the first byte
    cache = CropCache(folder, CHANNELS)
    assert cache.get(keys_of(0, 4))[1].all()


def test_a_chunk_larger_than_the_cap_is_not_written(tmp_path):
    folder = tmp_path / "c"
    cache = CropCache(folder, CHANNELS, cap=10 * (CHANNELS * 2 + 16) + 1024)
    cache.put(keys_of(0, 2), features_of(keys_of(0, 2)))
    assert cache.get(keys_of(0, 2))[1].all()
    cache.put(keys_of(100, 1000), features_of(keys_of(100, 1000)))  # over the whole cap: kept nowhere
    assert cache.get(keys_of(0, 2))[1].all(), "the chunks already there stay"
    assert not cache.get(keys_of(100, 1000))[1].any()


def test_an_old_layout_folder_that_is_a_link_is_left_alone(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    np.savez(elsewhere / "chunk-1.npz", keys=keys_of(0, 5), features=np.ones((5, 64), np.float16))
    store = tmp_path / "store"
    store.mkdir()
    (store / "sgma-crops-128-q32").symlink_to(elsewhere, target_is_directory=True)
    shared_cache(store, 128, 32, 64)
    assert (elsewhere / "chunk-1.npz").exists()
