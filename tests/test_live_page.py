"""The gallery's page first (engine/live_page.py): the page is the full ranking's page, whatever the bound allows."""

import numpy as np

from zsl_desktop.engine import live_page
from zsl_desktop.engine.live_page import (
    CodeProjection,
    ColumnChange,
    exact_page,
    log_probability_of_key,
    page_candidates,
    reference,
)
from zsl_desktop.engine.ranking import LiveColumn, LiveRanker, logsumexp


def _top(values, k, shown=None):
    rows = np.arange(len(values)) if shown is None else np.asarray(shown)
    return rows[np.argsort(-values[rows], kind="stable")][:k]


def _page_is_exact(old, new, others_lse, change, k, shown=None):
    ref = reference(np.zeros(3), old, others_lse)
    rows = page_candidates(ref, change, k, shown)
    assert rows is not None
    full = log_probability_of_key(new - others_lse)
    page = np.full(len(new), -np.inf, np.float32)
    page[rows] = full[rows]
    assert np.array_equal(_top(page, k, shown), _top(full, k, shown))
    return rows


def test_a_move_inside_the_bound_keeps_the_page_exact_and_scores_few_rows():
    rng = np.random.default_rng(0)
    n, k = 20_000, 50
    others_lse = rng.normal(size=n) * 2
    old = rng.normal(size=n) * 5
    for _ in range(20):
        low, high = sorted(rng.normal(size=2) * 0.5)
        new = old + rng.uniform(low, high, size=n)  # anywhere inside the bound, differently per row
        rows = _page_is_exact(old, new, others_lse, ColumnChange(low, high), k)
        assert len(rows) < n // 10  # the point: far fewer rows than the column


def test_a_bound_that_differs_per_row_and_a_filtered_gallery():
    rng = np.random.default_rng(1)
    n, k = 5000, 30
    others_lse = rng.normal(size=n)
    old = rng.normal(size=n) * 4
    spread = rng.uniform(0, 2, size=n)
    shown = np.sort(rng.choice(n, 1200, replace=False))
    for _ in range(20):
        scale = rng.uniform(0, 0.3)
        shift = rng.normal() * 0.2
        new = old + shift + scale * spread * rng.uniform(-1, 1, size=n)
        _page_is_exact(old, new, others_lse, ColumnChange(shift, shift, scale, spread), k, shown)


def test_a_bound_centred_per_row_keeps_the_page_exact_with_and_without_filters():
    rng = np.random.default_rng(7)
    n, k = 6000, 40
    others_lse = rng.normal(size=n)
    old = rng.normal(size=n) * 3
    spread = rng.uniform(0, 1, size=n)
    shown = np.sort(rng.choice(n, 2000, replace=False))
    for case in range(30):
        centre = rng.normal(size=n) * rng.uniform(0.1, 3)  # large per-row moves: the old top sinks, others rise
        low, high = sorted(rng.normal(size=2) * 0.1)
        scale = rng.uniform(0, 0.5)
        new = old + centre + rng.uniform(low, high, size=n) + scale * spread * rng.uniform(-1, 1, size=n)
        if case % 5 == 0:  # rows at the very edge of their interval
            new = old + centre + np.where(rng.random(n) < 0.5, low - scale * spread, high + scale * spread)
        change = ColumnChange(low, high, scale, spread, centre)
        _page_is_exact(old, new, others_lse, change, k, shown if case % 2 else None)


def _branch_and_bound_is_exact(old, new, others_lse, change, k, shown=None):
    """``exact_page``'s rows hold the full ranking's top ``k``; returns (rows scored, candidates)."""
    ref = reference(np.zeros(3), old, others_lse)
    asked = []

    def keys_of(rows):
        assert np.all(np.diff(rows) > 0)  # each chunk in memory order
        asked.append(len(rows))
        return new[rows] - others_lse[rows]

    found = exact_page(ref, change, k, keys_of, shown)
    assert found is not None
    rows, keys = found
    assert len(rows) == sum(asked) == len(set(rows.tolist()))
    np.testing.assert_array_equal(keys, new[rows] - others_lse[rows])
    full = log_probability_of_key(new - others_lse)
    page = np.full(len(new), -np.inf, np.float32)
    page[rows] = log_probability_of_key(keys)
    assert np.array_equal(_top(page, k, shown), _top(full, k, shown))
    candidates = page_candidates(ref, change, k, shown)
    assert candidates is not None and set(rows.tolist()) <= set(candidates.tolist())
    return len(rows), len(candidates)


def test_branch_and_bound_keeps_the_page_exact_and_scores_fewer_rows_than_the_candidates(monkeypatch):
    monkeypatch.setattr(live_page, "CHUNK_ROWS", 64)  # finer steps than the app's (the page's 100 rows set the step)
    rng = np.random.default_rng(8)
    n, k = 20_000, 100
    others_lse = rng.normal(size=n)
    old = rng.normal(size=n)  # dense near the top: the bound lets through thousands of rows
    shown = np.sort(rng.choice(n, 6000, replace=False))
    scored, candidates = [], []
    for case in range(20):
        low, high = -1.0, 1.0
        new = old + rng.uniform(low / 4, high / 4, size=n)  # a loose bound: the real move about its middle
        if case % 4 == 0:  # the worst case: the low half moves up by the whole bound, the high half down
            median = np.median(old)
            new = old + np.where(old < median, high, low)
        counts = _branch_and_bound_is_exact(
            old, new, others_lse, ColumnChange(low, high), k, shown if case % 2 else None
        )
        if case % 4:
            scored.append(counts[0])
            candidates.append(counts[1])
    assert sum(scored) < 0.5 * sum(candidates)  # the point: far fewer rows scored than the bound lets through


def test_branch_and_bound_with_bounds_per_row_and_saturated_ties():
    rng = np.random.default_rng(9)
    n, k = 6000, 40
    others_lse = rng.normal(size=n)
    old = rng.normal(size=n) * 3
    old[:300] = 85.0 + rng.uniform(0, 5, size=300)  # log-odds past float32's resolution: every one a candidate
    spread = rng.uniform(0, 1, size=n)
    for case in range(20):
        centre = rng.normal(size=n) * rng.uniform(0.1, 2) if case % 2 else None
        low, high = sorted(rng.normal(size=2) * 0.2)
        scale = rng.uniform(0, 0.5)
        new = old + (0 if centre is None else centre)
        new = new + rng.uniform(low, high, size=n) + scale * spread * rng.uniform(-1, 1, size=n)
        change = ColumnChange(low, high, scale, spread, centre)
        ref = reference(np.zeros(3), old, others_lse)
        rows, _ = exact_page(ref, change, k, lambda r, new=new: new[r] - others_lse[r])
        assert set(range(300)) <= set(rows.tolist())
        _branch_and_bound_is_exact(old, new, others_lse, change, k)


def test_branch_and_bound_gives_up_before_scoring_too_many_rows(monkeypatch):
    rng = np.random.default_rng(10)
    n = 4000
    old = rng.normal(size=n) * 0.1
    new = old + rng.uniform(-50, 50, size=n)
    ref = reference(np.zeros(3), old, np.zeros(n))
    asked = []

    def keys_of(rows):
        asked.append(len(rows))
        return new[rows]

    monkeypatch.setattr(live_page, "CHUNK_ROWS", 100)
    assert exact_page(ref, ColumnChange(-50.0, 50.0), 10, keys_of) is None
    assert sum(asked) <= live_page.MOST_CANDIDATES * n  # it stopped at the share where the whole column costs less


def test_code_projection_bounds_a_linear_column_and_is_tighter_than_the_whole_code(monkeypatch):
    """c . w + b: each code's move lies inside its interval, and far fewer rows need their exact score
    than with Cauchy-Schwarz on the whole of c - m (codes with a few strong directions, like real ones)."""
    monkeypatch.setattr(live_page, "MOST_CANDIDATES", 1.0)  # both bounds give their candidates, however many
    rng = np.random.default_rng(8)
    n, r, k = 20_000, 60, 50
    directions = rng.normal(size=(6, r))
    strong = rng.normal(size=(n, 6)) @ directions * 3
    codes = (strong + rng.normal(size=(n, r)) * 0.3 + 1.0).astype(np.float32)
    others_lse = rng.normal(size=n)
    projection = CodeProjection(dimensions=8)
    w = rng.normal(size=r) / 20  # logits of a few units: float margins (1e-3 of the largest) stay small
    fewer = 0
    for _ in range(15):
        # a class row's move shifts its weights mostly where the codes vary (as GSMFlow's prototypes do)
        dw = (rng.normal(size=6) @ directions / 8 + rng.normal(size=r) / 200) * rng.uniform(0.05, 1) / 20
        db = float(rng.normal())
        old = codes.astype(np.float64) @ w
        new = codes.astype(np.float64) @ (w + dw) + db
        change = projection.change(codes, dw, db)
        moved = new - old
        assert np.all(moved >= change.low + change.centres() - change.scale * change.spread - 1e-9)
        assert np.all(moved <= change.high + change.centres() + change.scale * change.spread + 1e-9)
        rows = _page_is_exact(old, new, others_lse, change, k)
        mean = codes.astype(np.float64).mean(0)
        shift = float(mean @ dw) + db
        whole = ColumnChange(shift, shift, float(np.linalg.norm(dw)), np.linalg.norm(codes - mean, axis=1))
        plain = page_candidates(reference(np.zeros(3), old, others_lse), whole, k)
        fewer += len(rows) * 3 < len(plain)
        w = w + dw
    assert fewer >= 12  # the point: most moves score a third of the rows or fewer
    assert projection.of(codes)[0] is projection.of(codes)[0]  # cached for the same codes array


def test_code_projection_computes_the_centres_of_few_rows_and_keeps_the_page_exact():
    """The projected move's centres are computed for the rows the cheap bounds could not rule out only:
    far fewer than every row, with the page still exact, with and without the gallery's filters."""
    rng = np.random.default_rng(9)
    n, r, k = 30_000, 40, 60
    directions = rng.normal(size=(5, r))
    codes = (rng.normal(size=(n, 5)) @ directions * 2 + rng.normal(size=(n, r)) * 0.3).astype(np.float32)
    others_lse = rng.normal(size=n)
    shown = np.sort(rng.choice(n, n // 3, replace=False))
    projection = CodeProjection(dimensions=6)
    w = rng.normal(size=r) / 10
    asked = []
    for case in range(16):
        dw = (rng.normal(size=5) @ directions / 10 + rng.normal(size=r) / 300) * rng.uniform(0.05, 1) / 10
        old = codes.astype(np.float64) @ w
        new = codes.astype(np.float64) @ (w + dw)
        change = projection.change(codes, dw)
        counted = live_page.ProjectedMove(
            change.centre.projected, change.centre.norms, change.centre.largest, change.centre.along
        )
        at = counted.at

        def at_counting(rows, at=at):
            asked.append(len(np.arange(n)[rows]))
            return at(rows)

        object.__setattr__(counted, "at", at_counting)
        change = ColumnChange(change.low, change.high, change.scale, change.spread, counted)
        _page_is_exact(old, new, others_lse, change, k, shown if case % 2 else None)
        w = w + dw
    # the point: every row's centre was computed n times a move before; now 1 in 40 all told (measured 2.5%)
    assert sum(asked) < len(asked) * n // 20 and max(asked) < n // 5


def test_the_worst_case_inside_the_bound_and_ties_among_saturated_probabilities():
    rng = np.random.default_rng(2)
    n, k = 3000, 40
    others_lse = np.zeros(n)
    old = rng.normal(size=n) * 3
    old[:200] = 90.0 + rng.uniform(0, 5, size=200)  # log-odds past float32's resolution: ties in item order
    order = np.argsort(old)
    new = old.copy()
    new[order[: n // 2]] += 1.0  # the low half moves up by the whole bound, the high half not at all
    rows = _page_is_exact(old, new, others_lse, ColumnChange(0.0, 1.0), k)
    assert set(range(200)) <= set(rows.tolist())  # every saturated row was a candidate


def test_too_loose_a_bound_gives_up():
    rng = np.random.default_rng(3)
    old = rng.normal(size=1000)
    ref = reference(np.zeros(3), old, np.zeros(1000))
    assert page_candidates(ref, ColumnChange(-50.0, 50.0), 10) is None


class _Linear:
    """A made-up method: score = codes . prepared row, with the exact per-row bound |c| |dw|."""

    def __init__(self, codes):
        self.codes = codes
        self.whole_calls = 0

    def score(self, codes, rows):
        return codes @ np.asarray(rows, np.float64).T

    def change(self, old, new):
        return ColumnChange(0.0, 0.0, float(np.linalg.norm(new - old)), np.linalg.norm(self.codes, axis=1))

    def rows(self, rows, row):
        return self.codes[rows] @ row

    def whole(self, row, stale):
        self.whole_calls += 1
        return None if stale() else self.codes @ row


def _column(method, pages, stale=lambda: False, shown=None):
    return LiveColumn(20, shown, pages.append, method.change, method.rows, method.whole, stale)


def test_live_ranker_sends_the_page_first_and_the_final_ranking_agrees():
    rng = np.random.default_rng(4)
    codes = rng.normal(size=(4000, 8))
    matrix = rng.normal(size=(6, 8))
    boost = np.array([0.0, 0.0, 0.5, 0.5, 0.0, 0.5])
    method, ranker = _Linear(codes), LiveRanker()
    pages: list = []
    first = ranker.rank_page_first(method.score, codes, matrix, 5, boost, _column(method, pages))
    assert not pages  # no reference yet: the whole column at once
    for _ in range(10):
        matrix[5, rng.integers(8)] += rng.normal() * 0.2
        final = ranker.rank_page_first(method.score, codes, matrix, 5, boost, _column(method, pages))
        full = LiveRanker().rank(method.score, codes, matrix, 5, boost)
        np.testing.assert_allclose(final, full, atol=1e-5)
        top = _top(final, 20)
        assert np.array_equal(_top(pages[-1], 20), top)  # the page sent first is the final one
        assert np.array_equal(_top(full, 20), top)  # and the one of a ranking computed from scratch
        assert np.isneginf(pages[-1]).sum() > len(codes) // 2  # most rows were never scored before the page
    assert ranker.pages == 10 and first is not None


def test_a_stale_move_stops_after_its_page():
    rng = np.random.default_rng(5)
    codes = rng.normal(size=(2000, 4))
    matrix = rng.normal(size=(3, 4))
    method, ranker, pages = _Linear(codes), LiveRanker(), []
    ranker.rank_page_first(method.score, codes, matrix, 2, np.zeros(3), _column(method, pages))
    matrix[2, 0] += 0.1
    stopped = ranker.rank_page_first(
        method.score, codes, matrix, 2, np.zeros(3), _column(method, pages, stale=lambda: True)
    )
    assert stopped is None and len(pages) == 1  # the page went out, the rest of the column was not kept


def test_without_a_page_the_whole_column_is_finished_even_when_stale():
    """No reference yet (or too loose a bound): the whole column is the only answer and the next reference."""
    rng = np.random.default_rng(6)
    codes = rng.normal(size=(2000, 4))
    matrix = rng.normal(size=(3, 4))
    method, ranker, pages = _Linear(codes), LiveRanker(), []
    first = ranker.rank_page_first(
        method.score, codes, matrix, 2, np.zeros(3), _column(method, pages, stale=lambda: True)
    )
    assert first is not None and not pages
    matrix[2, 0] += 0.05
    ranker.rank_page_first(method.score, codes, matrix, 2, np.zeros(3), _column(method, pages))
    assert len(pages) == 1  # the finished column became the reference of the next move


def test_priming_with_the_classes_already_cached_keeps_the_reference():
    """The every-image scores asked for again mid-drag (same classes, same γ): the next move still gets its page."""
    rng = np.random.default_rng(7)
    codes = rng.normal(size=(2000, 4))
    matrix = rng.normal(size=(3, 4))
    method, ranker, pages = _Linear(codes), LiveRanker(), []
    ranker.rank_page_first(method.score, codes, matrix, 2, np.zeros(3), _column(method, pages))
    ranker.prime(codes, matrix[:2], np.zeros(2), np.full((2000, 2), np.nan))  # the same others: nothing read
    matrix[2, 0] += 0.05
    final = ranker.rank_page_first(method.score, codes, matrix, 2, np.zeros(3), _column(method, pages))
    assert len(pages) == 1 and ranker.recomputed == 1
    np.testing.assert_allclose(final, LiveRanker().rank(method.score, codes, matrix, 2, np.zeros(3)), atol=1e-5)


def test_log_probability_of_key_is_the_softmax_probability():
    scores = np.array([[1.0, 2.0, 3.0], [40.0, -3.0, 0.5]])
    key = scores[:, 0] - logsumexp(scores[:, 1:])
    expected = scores[:, 0] - logsumexp(scores)
    np.testing.assert_allclose(
        log_probability_of_key(key), expected, rtol=1e-6, atol=1e-12
    )  # exact where the old form rounded to 0
    assert log_probability_of_key(key)[1] < 0


def test_branch_and_bound_doubles_its_chunks_so_a_late_page_costs_few_calls(monkeypatch):
    """A page that closes only deep in the candidates: a few scoring calls (each costs a model call), not one per
    ``CHUNK_ROWS`` (session 16: a fixed chunk made a 100,000-image IPCE move pay ~100 calls)."""
    rng = np.random.default_rng(11)
    n, k = 50_000, 100
    old = rng.normal(size=n)
    new = old + rng.uniform(-2.0, 2.0, size=n)  # a bound 4 wide, the moves spread over all of it: a late close
    asked = []

    def keys_of(rows):
        asked.append(len(rows))
        return new[rows]

    monkeypatch.setattr(live_page, "CHUNK_ROWS", 64)
    rows, _ = exact_page(reference(np.zeros(3), old, np.zeros(n)), ColumnChange(-2.0, 2.0), k, keys_of)
    assert sum(asked) > 20 * 64  # the page closed late, past many fixed-size chunks
    assert len(asked) <= int(np.ceil(np.log2(sum(asked) / 128 + 1))) + 1
    assert asked == sorted(asked) and all(b == 2 * a for a, b in zip(asked, asked[1:-1]))
    assert np.array_equal(np.sort(rows[np.argsort(-new[rows])[:k]]), np.sort(np.argsort(-new)[:k]))
