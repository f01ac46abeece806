"""The gallery's visible page of a live ranking first, exact, before the rest of the column.

Why: the gallery lists every image sorted by the edited class's log-probability, and a
slider move changes that class's column for every image. With 100,000 images the column
costs 20-60 ms of CPU for the generative methods (GSMFlow reads every image's 179-number
code, CE-GZSL and IPCE pass 512 comparator units of every image through a LeakyReLU),
while the user sees about a hundred thumbnails. So a move ranks the rows the gallery needs
first, exactly, and the rest of the column follows.

How the page stays exact. The last full column (the reference, computed for an earlier
row of the edited class) and a bound of how far the column can have moved since
(``ColumnChange``, from the method: a cheap function of the two class rows, computed in
microseconds) give every image an interval that holds its new score. Every image whose
upper end reaches the ``first``-th largest lower end is scored exactly (the candidates);
every other image is provably below all of the top ``first`` rows, so the top ``first``
rows of the candidates are the top ``first`` rows of everything, in the same order. The
comparison is on the key ``own score - log-sum-exp of the other classes``, which the
log-probability is a monotone function of, with a margin for float rounding; log-odds
above ``SATURATED_KEY``, where float32 log-probabilities round to the same number and
ties fall back to item order, make every image that could reach them a candidate.
The whole column computed afterwards keeps the candidates' values, so the page the user
saw is the page of the final ranking (tests check both).

When the bound is too loose (the class changed a lot since the reference, or the
reference is missing: the first move on a class) the whole column is scored at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SATURATED_KEY = 80.0  # log-odds beyond which float32 log-probabilities round together (exp(-80) ~ 2e-35)
MOST_CANDIDATES = 0.25  # share of the rows beyond which scoring them one by one gains too little
ROUNDING = 1e-3  # margin for float32 rounding of one key, relative to the largest score (30x the worst case)


@dataclass(frozen=True)
class ColumnChange:
    """For every row i: new column_i - reference column_i lies in [low - scale * spread_i, high + scale * spread_i].

    ``spread`` None means 0 for every row (a bound that is the same for every image).
    """

    low: float
    high: float
    scale: float = 0.0
    spread: np.ndarray | None = None


@dataclass
class Reference:
    """The last whole column of the edited class: its class row, its scores and keys for every image."""

    row: np.ndarray  # [A] the class row it was computed for
    own: np.ndarray  # [N] float64 scores (without the class's calibration)
    key: np.ndarray  # [N] own - log-sum-exp of the other classes
    order: np.ndarray  # [N] rows by key, highest first
    sorted_key: np.ndarray  # [N] key[order]
    margin: float  # float rounding of scores of this size


def reference(row, own: np.ndarray, others_lse: np.ndarray) -> Reference:
    """Made after a whole column (the sort of 100,000 keys is paid once there, not per move)."""
    own = np.asarray(own, np.float64)
    key = own - others_lse
    order = np.argsort(-key)  # not stable: ties need no order here, and numpy's SIMD sort is ~5x faster
    size = max(float(np.max(np.abs(own), initial=0.0)), float(np.max(np.abs(others_lse), initial=0.0)))
    return Reference(np.array(row, np.float32, copy=True), own, key, order, key[order], ROUNDING * (1.0 + size))


def log_probability_of_key(key: np.ndarray) -> np.ndarray:
    """log p = -log(1 + exp(-key)): the calibrated log-probability against the other classes, as float32.

    Written on the key so that it is accurate up to log-odds ~700 (own - logaddexp(own, rest) rounds to 0
    from log-odds ~35 on), which keeps the ranking's order strict as far as float32 can show it.
    """
    return (-np.logaddexp(0.0, -np.asarray(key, np.float64))).astype(np.float32)


def page_candidates(ref: Reference, change: ColumnChange, first: int, shown=None) -> np.ndarray | None:
    """Rows (item ids, sorted, among ``shown``) that could be among the top ``first`` after ``change``.

    None when too many. ``shown``: the item ids the gallery lists (its filters), None for every row.
    Costs O(first + candidates) on the reference's sorted keys (O(N) more with ``shown``).
    """
    order, sorted_key = ref.order, ref.sorted_key
    if shown is not None:
        listed = np.zeros(len(ref.key), bool)
        listed[np.asarray(shown, np.int64)] = True
        keep = listed[order]
        order, sorted_key = order[keep], sorted_key[keep]
    if len(order) == 0 or first <= 0:
        return np.zeros(0, np.int64)
    top = order[: min(int(first), len(order))]
    # Each of these rows ends at least at its lower end, so the first-th largest score of the new column is
    # at least the smallest of them: a row whose upper end stays below that cannot be on the page.
    threshold = min(float((ref.key[top] + change.low - _spread(change, top)).min()), SATURATED_KEY)
    # Each computed key is within ``margin`` of its exact value, the reference's too: 6 margins leave every
    # row left out at least 2 margins below every row of the page, far more than float32 can merge.
    threshold -= 6 * ref.margin
    widest = change.high + (change.scale * float(change.spread.max()) if change.spread is not None else 0.0)
    prefix = int(np.searchsorted(-sorted_key, -(threshold - widest), side="right"))
    rows = order[:prefix]
    if change.spread is not None and change.scale:
        rows = rows[ref.key[rows] + change.high + _spread(change, rows) >= threshold]
    if len(rows) > max(first, MOST_CANDIDATES * len(ref.key)):
        return None
    return np.sort(rows)  # in memory order: gathering their codes reads less


def _spread(change: ColumnChange, rows: np.ndarray):
    if change.spread is None or not change.scale:
        return 0.0
    return change.scale * change.spread[rows]


class CodeSpread:
    """How far each code lies from the mean code, cached for the last codes array: the bound of a linear column.

    A column c . w + b moves by c . dw + db = m . dw + db + (c - m) . dw, and |(c - m) . dw| <= |c - m| |dw|
    (Cauchy-Schwarz, m the mean code): one pass over the codes per codes array, then a few numbers per move.
    """

    def __init__(self):
        self._cached: tuple | None = None

    def change(self, codes: np.ndarray, dw: np.ndarray, db: float = 0.0) -> ColumnChange:
        """The bound of a linear column's move by weights ``dw`` [r] and bias ``db``."""
        mean, spread = self.of(codes)
        dw = np.asarray(dw, np.float64).reshape(-1)
        shift = float(mean @ dw) + float(db)
        return ColumnChange(shift, shift, float(np.linalg.norm(dw)), spread)

    def of(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cached = self._cached
        if cached is not None and cached[0] is codes:
            return cached[1], cached[2]
        flat = np.asarray(codes).reshape(len(codes), -1)
        mean = np.asarray(np.mean(flat, axis=0, dtype=np.float64))
        spread = np.empty(len(flat))
        for start in range(0, len(flat), 8192):  # chunks: a float64 copy of 100,000 codes would be 140 MB
            part = np.asarray(flat[start : start + 8192], np.float64) - mean
            spread[start : start + len(part)] = np.sqrt(np.einsum("ij,ij->i", part, part))
        self._cached = (codes, mean, spread)
        return mean, spread


def provisional_ranking(count: int, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The ranking sent before the rest of the column: exact ``values`` on ``rows``, -inf elsewhere.

    Every other row is below the page (``page_candidates``), so the gallery's sort shows the page final;
    the rows below it follow in item order until the whole column arrives.
    """
    out = np.full(count, -np.inf, np.float32)
    out[rows] = values
    return out
