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
A bound may also give each image its own centre (``CodeProjection``: a linear column's move
along the codes' principal directions, exact, plus a radius for the rest); the candidates are
then found on every image's interval, coarse to fine: a cheap bound of each centre (Cauchy-Schwarz,
|z_i| |along|) rules out most rows, and only the rest have their centre computed.
The candidates are scored by branch and bound (``exact_page``): in descending order of their
upper ends, a chunk at a time, until the ``first``-th largest exact key is above the next
candidate's upper end; every row left is then below the page too. A loose bound costs the rows
it lets through only down to where the real scores close the page. The whole column computed
afterwards keeps the scored rows' values, so the page the user saw is the page of the final
ranking (tests check both).

When the bound is too loose (more than ``MOST_CANDIDATES`` of the rows would be scored), or the
reference is missing (the first move on a class), the whole column is scored at once.
"""

from __future__ import annotations

import bisect
import operator
from dataclasses import dataclass
from typing import Callable

import numpy as np

SATURATED_KEY = 80.0  # log-odds beyond which float32 log-probabilities round together (exp(-80) ~ 2e-35)
# Share of the rows beyond which scoring them one by one gains too little (session 12, when every candidate was
# scored: 0.4 instead of 0.25 gave a page to 97 moves of 98 instead of 92). ``exact_page`` applies it to the rows
# it has scored: since session 16's branch and bound no move of the bench's 100 (IPCE, 10,000 images) reaches it.
MOST_CANDIDATES = 0.4
# Candidates ``exact_page`` scores before its first check of the page's bar; each later chunk is twice the last.
# A chunk costs one scoring call (IPCE ~0.1 CPU ms, GSMFlow more) besides its rows (~1-2 us a row): 128 and 512
# scored about as many rows in the bench's moves. Doubling keeps a page that closes late to a few calls: with a
# fixed 256, a 100,000-image IPCE move that scored thousands of rows paid ~100 calls (page p95 10.7 ms, quiet).
CHUNK_ROWS = 256
SAMPLED = 4  # the per-row threshold is read off the reference's top SAMPLED x first rows (``_candidates_per_row``)
ROUNDING = 1e-3  # margin for float32 rounding of one key, relative to the largest score (30x the worst case)


@dataclass(frozen=True)
class ProjectedMove:
    """Every row's centre z_i . along (``CodeProjection``), computed only for the rows that need it.

    Why not the [N] array: at 100,000 rows the product reads 6.4 MB per slider move (0.7 ms), while
    the reference's sorted keys and |z_i . along| <= |z_i| |along| rule out all but a few hundred
    rows first (``_candidates_per_row``).
    """

    projected: np.ndarray  # [N, k] float32: each row's coordinates along the principal directions
    norms: np.ndarray  # [N] float32: |z_i|
    largest: float  # max |z_i|
    along: np.ndarray  # [k] float32: the move of the column's weights along the same directions

    def at(self, rows) -> np.ndarray:
        return self.projected[rows] @ self.along

    def bound(self, rows) -> np.ndarray:
        """|centre_i| or more (Cauchy-Schwarz; its float32 rounding is inside ``CodeProjection.FLOAT_SLACK``)."""
        return self.norms[rows] * np.float32(np.linalg.norm(self.along))

    def widest(self) -> float:
        return self.largest * float(np.linalg.norm(self.along))


@dataclass(frozen=True)
class ColumnChange:
    """For every row i: new column_i - reference column_i lies in
    [low + centre_i - scale * spread_i, high + centre_i + scale * spread_i].

    ``spread`` None means 0 for every row, ``centre`` None 0 for every row (a bound the same for every image).
    """

    low: float
    high: float
    scale: float = 0.0
    spread: np.ndarray | None = None
    centre: np.ndarray | ProjectedMove | None = None  # [N] or computed on demand: a per-row estimate of the move

    def centres(self, rows=None) -> np.ndarray | np.float32:
        """centre_i for ``rows`` (every row when None) as float32; a scalar 0 without a centre."""
        centre = self.centre
        if isinstance(centre, ProjectedMove):
            return centre.at(slice(None) if rows is None else rows)
        if centre is None:
            return np.float32(0.0)
        centre = np.asarray(centre, np.float32)
        return centre if rows is None else centre[rows]

    def centre_bound(self, rows) -> np.ndarray:
        """|centre_i| or more for ``rows``, as float32: cheaper than the centres themselves."""
        if isinstance(self.centre, ProjectedMove):
            return self.centre.bound(rows)
        return np.abs(self.centres(rows))

    def centre_widest(self) -> float:
        """The largest ``centre_bound`` of any row (0 without a centre)."""
        if isinstance(self.centre, ProjectedMove):
            return self.centre.widest()
        return 0.0 if self.centre is None else float(np.max(np.abs(self.centre), initial=0.0))


@dataclass
class Reference:
    """The last whole column of the edited class: its class row, its scores and keys for every image."""

    row: np.ndarray  # [A] the class row it was computed for
    own: np.ndarray  # [N] float64 scores (without the class's calibration)
    key: np.ndarray  # [N] own - log-sum-exp of the other classes
    order: np.ndarray  # [N] rows by key, highest first
    sorted_key: np.ndarray  # [N] key[order]
    margin: float  # float rounding of scores of this size
    key32: np.ndarray  # [N] key as float32: per-row bounds are summed in float32 (half the memory traffic)


def reference(row, own: np.ndarray, others_lse: np.ndarray) -> Reference:
    """Made after a whole column (the sort of 100,000 keys is paid once there, not per move)."""
    own = np.asarray(own, np.float64)
    key = own - others_lse
    order = np.argsort(-key)  # not stable: ties need no order here, and numpy's SIMD sort is ~5x faster
    size = max(float(np.max(np.abs(own), initial=0.0)), float(np.max(np.abs(others_lse), initial=0.0)))
    margin = ROUNDING * (1.0 + size)
    return Reference(np.array(row, np.float32, copy=True), own, key, order, key[order], margin, key.astype(np.float32))


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
    rows, _ = _reachable(ref, change, first, shown)
    if len(rows) > max(first, MOST_CANDIDATES * len(ref.key)):
        return None
    return np.sort(rows)  # in memory order: gathering their codes reads less


def exact_page(
    ref: Reference, change: ColumnChange, first: int, keys_of: Callable[[np.ndarray], np.ndarray], shown=None
) -> tuple[np.ndarray, np.ndarray] | None:
    """(rows, their exact keys) holding the top ``first`` rows after ``change``: branch and bound.

    ``keys_of(rows)`` scores rows exactly (their keys, own score - log-sum-exp of the others). The
    candidates (``page_candidates``) are scored in descending order of their upper ends, ``CHUNK_ROWS``
    first and then twice as many each time (each chunk in memory order), and the scoring stops once the
    ``first``-th largest exact key so far is above the next candidate's upper end: no row left can reach the page (margins and
    saturation as in ``page_candidates``). Why: the bound of a five-model IPCE is loose (an interval 0.5
    wide in log-odds at p50, up to 1.7, the real move about its middle), so up to half the images were
    candidates; in the bench's moves the exact scores stop it after a quarter to a half of them (p95 ~1,000
    rows of 3,800; docs/history/performance.md, session 16). None when more than ``MOST_CANDIDATES`` of the rows would be scored: the whole column
    costs less then.
    """
    rows, upper = _reachable(ref, change, first, shown)
    most = max(first, MOST_CANDIDATES * len(ref.key))
    step = max(CHUNK_ROWS, int(first))
    if len(rows) > step:  # more than one chunk: the order matters
        by_upper = np.argsort(-upper, kind="stable")  # ~linear: the common bound's rows come in this order already
        rows, upper = rows[by_upper], upper[by_upper]
    done, scored, keys = 0, [], []
    while done < len(rows):
        if done + min(step, len(rows) - done) > most:
            return None
        part = np.sort(rows[done : done + step])  # in memory order: gathering their codes reads less
        scored.append(part)
        keys.append(np.asarray(keys_of(part), np.float64))
        done += len(part)
        step *= 2  # a page that closes late costs a few calls, never more than twice its rows
        if done < len(rows) and done >= first:
            so_far = np.concatenate(keys) if len(keys) > 1 else keys[0]
            kth = float(np.partition(so_far, len(so_far) - first)[len(so_far) - first])
            if upper[done] < min(kth, SATURATED_KEY) - 6 * ref.margin:
                break
    if not scored:
        return np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate(scored), np.concatenate(keys)


def _reachable(ref: Reference, change: ColumnChange, first: int, shown) -> tuple[np.ndarray, np.ndarray]:
    """(rows whose upper end reaches the page's lowest lower end, their upper ends), in any order."""
    order, sorted_key = _listed(ref, shown)
    if len(order) == 0 or first <= 0:
        return np.zeros(0, np.int64), np.zeros(0)
    if change.centre is not None:
        return _candidates_per_row(ref, change, first, order, sorted_key)
    top = order[: min(int(first), len(order))]
    # Each of these rows ends at least at its lower end, so the first-th largest score of the new column is
    # at least the smallest of them: a row whose upper end stays below that cannot be on the page.
    threshold = min(float((ref.key[top] + change.low - _spread(change, top)).min()), SATURATED_KEY)
    # Each computed key is within ``margin`` of its exact value, the reference's too: 6 margins leave every
    # row left out at least 2 margins below every row of the page, far more than float32 can merge.
    threshold -= 6 * ref.margin
    widest = change.high + (change.scale * float(change.spread.max()) if change.spread is not None else 0.0)
    prefix = _count_at_least(sorted_key, threshold - widest)
    rows = order[:prefix]
    if change.spread is None or not change.scale:
        return rows, sorted_key[:prefix] + change.high  # the same bound for every row
    upper = sorted_key[:prefix] + change.high + _spread(change, rows)
    keep = upper >= threshold
    return rows[keep], upper[keep]


def _candidates_per_row(
    ref: Reference, change: ColumnChange, first: int, order: np.ndarray, sorted_key: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``_reachable`` for a bound whose centre differs per row: coarse to fine, mostly O(candidates).

    The threshold: the ``first``-th largest lower end among the reference's top ``SAMPLED`` x ``first``
    rows (a subset, so it is at most the same over every row: the page stays exact; the reference's top
    holds the new top's near neighbours, so it is seldom lower). Then three filters, each on what the one
    before kept: the reference's sorted keys with the widest interval of any row (a prefix, by bisection);
    each row's interval with |centre_i| replaced by its cheap bound; each row's exact interval. Measured
    at 100,000 real-bird codes (GSMFlow, 16 directions, 35 slider moves): the prefix kept 1,727 rows
    (p50; p95 8,527), the cheap bound 638 (3,065), the exact one 313 (709). The margins are those of
    ``page_candidates``. Summed in float32: the key's rounding is far inside the margin, and the
    centre's and the spread's must be inside ``low`` and ``high`` (``CodeProjection``'s slack is).
    ``order`` and ``sorted_key``: the reference's, already restricted to the rows shown (``_listed``).
    """
    spread = None if change.spread is None or not change.scale else np.asarray(change.spread, np.float32)
    scale = np.float32(change.scale)

    def reach(rows):
        return np.float32(0.0) if spread is None else scale * spread[rows]

    top = order[: min(len(order), SAMPLED * int(first))]
    lower = ref.key32[top] + change.centres(top) - reach(top)
    count = min(int(first), len(top))
    threshold = float(np.partition(lower, len(lower) - count)[len(lower) - count]) + change.low
    threshold = min(threshold, SATURATED_KEY) - 6 * ref.margin - change.high
    widest = change.centre_widest() + (0.0 if spread is None else change.scale * float(spread.max()))
    prefix = _count_at_least(sorted_key, threshold - widest)
    rows = order[:prefix]
    bar = np.float32(threshold)
    rows = rows[sorted_key[:prefix].astype(np.float32) + change.centre_bound(rows) + reach(rows) >= bar]
    upper = ref.key32[rows] + change.centres(rows) + reach(rows)
    keep = upper >= bar
    return rows[keep], upper[keep].astype(np.float64) + change.high


def _listed(ref: Reference, shown) -> tuple[np.ndarray, np.ndarray]:
    """The reference's order and sorted keys restricted to the ``shown`` item ids (None: every row)."""
    if shown is None:
        return ref.order, ref.sorted_key
    listed = np.zeros(len(ref.key), bool)
    listed[np.asarray(shown, np.int64)] = True
    keep = listed[ref.order]
    return ref.order[keep], ref.sorted_key[keep]


def _count_at_least(descending: np.ndarray, bar: float) -> int:
    """How many of the ``descending`` values are >= ``bar``: a bisection, without np.searchsorted's
    negated copy of the array (~0.2 ms at 100,000 rows, paid per move)."""
    return bisect.bisect_right(descending, -bar, key=operator.neg)


def _spread(change: ColumnChange, rows):
    if change.spread is None or not change.scale:
        return 0.0
    return change.scale * change.spread[rows]


class CodeProjection:
    """Where each code lies around the mean code, cached for the last codes array: the bound of a linear column.

    A column c . w + b moves by c . dw + db = m . dw + db + (c - m) . dw (m the mean code). Split c - m
    into its part in the codes' ``DIMENSIONS`` principal directions U and the rest e: (c - m) . dw =
    z . (U^T dw) + e . (dw - U U^T dw), with z = U^T (c - m) kept per row (``DIMENSIONS`` numbers) and
    |e . dw'| <= |e| |dw'| (Cauchy-Schwarz). The first term is each row's centre (one small product
    per move), the second its radius. Why not Cauchy-Schwarz on the whole c - m: with real codes of
    179 numbers it let a large slider move through up to a fifth of 100,000 images (thousands scored
    one by one, or the whole column); the principal directions carry most of both c - m and dw, and
    the bound of the rest is several times tighter (measured in the commit that added this).
    """

    DIMENSIONS = 16
    SAMPLE = 5000  # codes the principal directions are estimated on (any orthonormal U keeps the bound exact)
    # float32 projections, products and sums (also page_candidates'): their error relative to |c - m| |dw|, which
    # bounds |centre| + radius (Cauchy-Schwarz on the two orthogonal parts); ~10x the worst case
    FLOAT_SLACK = 1e-5

    def __init__(self, dimensions: int | None = None):
        self.dimensions = self.DIMENSIONS if dimensions is None else int(dimensions)
        self._cached: tuple | None = None
        self._largest = 0.0  # max |z_i| of the cached codes

    def change(self, codes: np.ndarray, dw: np.ndarray, db: float = 0.0) -> ColumnChange:
        """The bound of a linear column's move by weights ``dw`` [r] and bias ``db``."""
        mean, basis, projected, norms, residual, widest = self.of(codes)
        dw = np.asarray(dw, np.float64).reshape(-1)
        along = basis.T @ dw
        rest = float(np.linalg.norm(dw - basis @ along))
        shift = float(mean @ dw) + float(db)
        slack = self.FLOAT_SLACK * widest * float(np.linalg.norm(dw))
        centre = ProjectedMove(projected, norms, self._largest, along.astype(np.float32))
        return ColumnChange(shift - slack, shift + slack, rest, residual, centre)

    def of(self, codes: np.ndarray) -> tuple:
        """(mean [r], basis U [r, k], projections z [N, k], their norms |z| [N] and residual norms |e| [N] as
        float32, largest |c - m|)."""
        cached = self._cached
        if cached is not None and cached[0] is codes:
            return cached[1:]
        flat = np.asarray(codes).reshape(len(codes), -1)
        mean = np.asarray(np.mean(flat, axis=0, dtype=np.float64))
        basis = self._directions(flat, mean)
        projected = np.empty((len(flat), basis.shape[1]), np.float32)
        norms = np.empty(len(flat), np.float32)
        residual = np.empty(len(flat), np.float32)
        widest = 0.0
        for start in range(0, len(flat), 8192):  # chunks: a float64 copy of 100,000 codes would be 140 MB
            part = np.subtract(flat[start : start + 8192], mean, dtype=np.float64)
            along = part @ basis
            whole = np.einsum("ij,ij->i", part, part)
            squared = np.einsum("ij,ij->i", along, along)
            # |e|^2 = |c - m|^2 - |z|^2 (U orthonormal): in float64 its rounding is ~1e-8 |c - m|, inside the slack
            rest = np.maximum(whole - squared, 0.0)
            projected[start : start + len(part)] = along
            norms[start : start + len(part)] = np.sqrt(squared)
            residual[start : start + len(part)] = np.sqrt(rest)
            widest = max(widest, float(np.sqrt(whole.max(initial=0.0))))
        self._largest = float(norms.max(initial=0.0))
        self._cached = (codes, mean, basis, projected, norms, residual, widest)
        return self._cached[1:]

    def _directions(self, flat: np.ndarray, mean: np.ndarray) -> np.ndarray:
        """The top principal directions of an evenly spaced sample of the codes, orthonormal [r, k]."""
        k = min(self.dimensions, flat.shape[1])
        if k == 0 or len(flat) == 0:
            return np.zeros((flat.shape[1], 0))
        sample = np.asarray(flat[:: max(1, len(flat) // self.SAMPLE)], np.float64) - mean
        _, vectors = np.linalg.eigh(sample.T @ sample)
        return np.ascontiguousarray(vectors[:, ::-1][:, :k])


def provisional_ranking(count: int, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The ranking sent before the rest of the column: exact ``values`` on ``rows``, -inf elsewhere.

    Every other row is below the page (``page_candidates``), so the gallery's sort shows the page final;
    the rows below it follow in item order until the whole column arrives.
    """
    out = np.full(count, -np.inf, np.float32)
    out[rows] = values
    return out
