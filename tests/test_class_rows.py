"""Which trained column a class row is (``methods/class_rows.py``): duplicates, new rows, the prefix fast path."""

import numpy as np

from zsl_desktop.engine.methods.class_rows import KnownRows, match_rows


def test_match_rows_handles_duplicates_and_new_rows():
    known = [r.tobytes() for r in np.array([[1, 2], [3, 4], [1, 2]], np.float32)]
    got = match_rows(known, np.array([[1, 2], [5, 6], [1, 2], [3, 4]], np.float32))
    assert got.tolist() == [0, -1, 2, 1]


def _match_rows_one_key_per_row(known_rows, class_rows):
    """``match_rows`` as it was before ``KnownRows``: a key per row, duplicates matched in order."""
    table: dict = {}
    for i, row in enumerate(np.asarray(known_rows, np.float32)):
        table.setdefault(row.tobytes(), []).append(i)
    used: dict = {}
    out = []
    for row in np.asarray(class_rows, np.float32):
        cols, k = table.get(row.tobytes()), row.tobytes()
        n = used.get(k, 0)
        out.append(cols[min(n, len(cols) - 1)] if cols else -1)
        used[k] = n + 1
    return out


def test_known_rows_match_as_one_key_per_row_did():
    """The fast path (the known rows first, in order) gives the same columns, duplicates and -0.0 included."""
    rng = np.random.default_rng(0)
    for trial in range(300):
        pool = rng.integers(0, 4, (5, 3)).astype(np.float32)
        pool[0, 0] = -0.0 if trial % 2 else 0.0  # equal as floats, not as bytes: a different row
        known = pool[rng.integers(0, 5, rng.integers(0, 6))]
        extra = np.concatenate([pool, -pool])[rng.integers(0, 10, rng.integers(0, 4))]
        cases = [np.concatenate([known, extra]), extra, np.concatenate([extra, known]), known[::-1]]
        for class_rows in cases:
            class_rows = class_rows.reshape(-1, 3)
            expected = _match_rows_one_key_per_row(known, class_rows)
            assert match_rows(KnownRows(known.reshape(-1, 3)), class_rows).tolist() == expected, (known, class_rows)
            assert match_rows([r.tobytes() for r in known], class_rows).tolist() == expected


def test_known_rows_take_the_prefix_in_one_comparison():
    known = np.arange(12, dtype=np.float32).reshape(4, 3)
    rows = KnownRows(known)
    assert rows.prefix(np.vstack([known, [[9, 9, 9]]])) == 4
    assert rows.prefix(np.vstack([known[:3], [[9, 9, 9]]])) == 0
    assert rows.prefix(known.astype(np.float64)) == 4  # compared as float32, as the keys are
    assert rows.prefix(known[:, :2]) == 0
