"""Reading or writing a feature-store memory map does not leave its pages in the process's resident memory."""

import sys

import numpy as np
import pytest
import torch

from zsl_desktop.engine.feature_source import FeatureSource, release_pages


def _rss_file_kb() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("RssFile"))


def _store(tmp_path, rows=400):
    path = tmp_path / "grid.f16"
    data = np.random.default_rng(0).random((rows, 64, 7, 7)).astype(np.float16)  # 6.3 KB per row
    writer = np.memmap(path, np.float16, "w+", shape=data.shape)
    writer[:] = data
    writer.flush()
    del writer
    return path, data


def test_rows_are_exact_after_the_pages_are_released(tmp_path):
    path, data = _store(tmp_path)
    grid = np.memmap(path, np.float16, "r", shape=data.shape)
    source = FeatureSource(grid=grid)
    for _ in range(2):  # a second read after the release re-maps the same bytes
        got = source.rows("grid", np.array([399, 3, 250, 3]))
        np.testing.assert_array_equal(got.numpy(), data[[399, 3, 250, 3]].astype(np.float32))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_rows_of_plain_arrays_are_float32_in_the_order_asked(dtype):
    """Rows come back widened (or rounded) to float32 in the asked order, repeats included, as numpy's
    ``astype(np.float32)`` gives them (the rows are widened by torch since it is ~5x faster)."""
    data = np.random.default_rng(1).normal(size=(30, 5, 2, 2)).astype(dtype)
    source = FeatureSource(grid=data)
    index = np.array([29, 0, 7, 7, 12, 0])
    got = source.rows("grid", index)
    assert got.dtype == torch.float32 and got.is_contiguous()
    np.testing.assert_array_equal(got.numpy(), data[index].astype(np.float32))
    assert source.rows("grid", np.array([], np.int64)).shape == (0, 5, 2, 2)


def test_written_rows_survive_a_release(tmp_path):
    path, data = _store(tmp_path)
    grid = np.memmap(path, np.float16, "r+", shape=data.shape)
    grid[10:20] = 7
    release_pages(grid, 10, 20)  # before the flush: a shared map keeps dirty pages in the OS cache
    grid.flush()
    del grid
    again = np.memmap(path, np.float16, "r", shape=data.shape)
    assert (again[10:20] == 7).all() and np.array_equal(again[20:], data[20:])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_reading_a_whole_store_does_not_grow_resident_memory(tmp_path):
    path, data = _store(tmp_path, rows=4000)  # 25 MB
    grid = np.memmap(path, np.float16, "r", shape=data.shape)
    source = FeatureSource(grid=grid)
    before = _rss_file_kb()
    for start in range(0, 4000, 500):
        source.rows("grid", np.arange(start, start + 500))
    assert _rss_file_kb() - before < 5_000  # without the release: + 25,000 KB
    for start in range(0, 4000, 500):
        np.asarray(grid[start : start + 500], dtype=np.float32)  # a plain read keeps them mapped
    assert _rss_file_kb() - before > 20_000
