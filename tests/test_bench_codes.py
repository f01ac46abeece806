"""The live sections' codes: the base images repeated, each later copy a distinct jittered near-duplicate."""

import numpy as np

from zsl_desktop.bench.live_edits import JITTER, NOISE_ROWS, spread_codes


def test_spread_codes_are_distinct_near_duplicates_of_the_base():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(300, 8)).astype(np.float32)
    n = 300 + 2 * NOISE_ROWS + 500  # the noise block comes round twice
    codes = spread_codes(base, n)
    assert codes.shape == (n, 8) and codes.dtype == np.float32
    assert np.array_equal(codes[:300], base)  # the first copy is the base itself
    assert len(np.unique(codes, axis=0)) == n  # no image ties with another
    moved = (codes[300:] - base[np.arange(300, n) % 300]) / base.std(0)
    assert abs(float(moved.std()) - JITTER) < 0.1 * JITTER  # each copy moved by JITTER of the spread
    assert np.array_equal(spread_codes(base, n), codes)  # the same seed, the same codes


def test_spread_codes_of_no_more_rows_than_the_base_are_the_base():
    base = np.arange(12, dtype=np.float32).reshape(6, 2)
    assert np.array_equal(spread_codes(base, 4), base[:4])
