"""Ranking images by one class: which per-image number finds that class's images first.

Why not the class's raw score: a raw score mixes "this image looks like the class"
with "this image scores high for everything" (bright, large, close-up birds), so
the top of a raw-score ranking is full of other species. Comparing the class with
every other class on the same image removes that per-image offset; the ranking
study (``zsl_desktop/rank_study.py``) measures each candidate on real photos.

``RANKERS`` maps a name to a function ``(scores [N, C], column, boost [C]) -> [N]``
(higher ranks first); ``boost`` is the calibration added to each class (γ on every
class without training images). ``LiveRanker`` computes the chosen one for a class
being edited, caching what the other classes contribute so a slider move costs
one column. The app ranks by "probability", the best function of the study (README, "Ranking").
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from zsl_desktop.engine.live_page import (
    ColumnChange,
    Reference,
    exact_page,
    log_probability_of_key,
    provisional_ranking,
    reference,
)


def calibration(kinds, gamma: float) -> np.ndarray:
    """γ on every class without training images (unseen, user, draft), 0 on seen ones: the app's rule."""
    return np.array([float(gamma) if k != "seen" else 0.0 for k in kinds], np.float64)


def _others(scores: np.ndarray, column: int) -> np.ndarray:
    return np.delete(scores, column, axis=1)


def logsumexp(x: np.ndarray, axis: int = 1) -> np.ndarray:
    """log Σ exp(x) along ``axis``, without overflow; -inf for an empty axis."""
    x = np.asarray(x, np.float64)
    if x.shape[axis] == 0:
        return np.full(x.shape[:axis] + x.shape[axis + 1 :], -np.inf)
    top = np.max(x, axis=axis, keepdims=True)
    return np.squeeze(top, axis) + np.log(np.sum(np.exp(x - top), axis=axis))


LSE_ROWS = 8192  # rows at a time: float64 temporaries this small reuse memory instead of faulting in fresh pages


def calibrated_logsumexp(scores: np.ndarray, boost: np.ndarray) -> np.ndarray:
    """``logsumexp(scores + boost)`` per row [N] in float64, LSE_ROWS rows at a time: at 100,000 images x 49
    classes 22-27 CPU ms, against 40 ms whole (its four [N, C] float64 temporaries) and 200 ms on fresh pages."""
    scores, boost = np.asarray(scores), np.asarray(boost, np.float64)
    out = np.empty(len(scores), np.float64)
    for start in range(0, len(scores), LSE_ROWS):
        out[start : start + LSE_ROWS] = logsumexp(scores[start : start + LSE_ROWS].astype(np.float64) + boost)
    return out


def raw_score(scores, column, boost):
    """The class's own score (what "Rank by edited class" used before the study)."""
    return np.asarray(scores, np.float64)[:, column]


def log_probability(scores, column, boost):
    """log of the calibrated softmax probability of the class against all classes (γ included)."""
    s = np.asarray(scores, np.float64) + np.asarray(boost, np.float64)
    return s[:, column] - logsumexp(s)


def log_probability_no_gamma(scores, column, boost):
    """The same probability without the calibration γ."""
    s = np.asarray(scores, np.float64)
    return s[:, column] - logsumexp(s)


def margin(scores, column, boost):
    """Calibrated score minus the best other class's calibrated score."""
    s = np.asarray(scores, np.float64) + np.asarray(boost, np.float64)
    return s[:, column] - _others(s, column).max(axis=1)


def margin_no_gamma(scores, column, boost):
    s = np.asarray(scores, np.float64)
    return s[:, column] - _others(s, column).max(axis=1)


def z_score(scores, column, boost):
    """The class's score standardised over the image's scores for all classes."""
    s = np.asarray(scores, np.float64)
    sd = s.std(axis=1)
    return (s[:, column] - s.mean(axis=1)) / np.where(sd > 0, sd, 1.0)


def column_z_then_probability(scores, column, boost):
    """Each class's scores standardised over the images first, then the softmax probability.

    Removes per-class offsets (a class that scores high on every image) as well as per-image ones.
    """
    s = np.asarray(scores, np.float64)
    sd = s.std(axis=0)
    s = (s - s.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    return s[:, column] - logsumexp(s)


RANKERS = {
    "raw score": raw_score,
    "probability": log_probability,
    "probability, no γ": log_probability_no_gamma,
    "margin": margin,
    "margin, no γ": margin_no_gamma,
    "z-score over classes": z_score,
    "probability of class-standardised scores": column_z_then_probability,
}


@dataclass
class LiveColumn:
    """What ranking the gallery's page first needs: which rows, where to send them, and the method's hooks."""

    first: int  # rows of the ranking the gallery needs final first (its scroll offset plus a page)
    shown: np.ndarray | None  # item ids the gallery lists (its filters); None: every item
    on_page: Callable[[np.ndarray], None]  # hears the provisional ranking (the page exact, -inf below it)
    change: Callable[[np.ndarray, np.ndarray], ColumnChange | None]  # (old row, new row) -> bound of the move
    rows: Callable[[np.ndarray, np.ndarray], np.ndarray]  # (item ids, class row) -> exact scores
    whole: Callable  # (class row, stale) -> the whole column, None when ``stale()`` stopped it
    stale: Callable[[], bool] = lambda: False


class LiveRanker:
    """The calibrated log-probability of an edited class for every image, one column per slider move.

    While a slider moves only the edited class's column changes; the log-sum-exp of the
    other (calibrated) classes per image is cached and recomputed only when the other
    classes, their calibration or the images change. ``rank(...)`` returns
    ``log p(class | image)``: sort by it (exp of it is the probability shown to the user).

    With a ``LiveColumn`` (``rank_page_first``) the rows the gallery shows are ranked first
    (``engine/live_page.py``) from the last whole column, kept as the reference.
    """

    def __init__(self):
        self._key = None
        self._others_lse: np.ndarray | None = None
        self._reference: Reference | None = None
        self.recomputed = 0  # how often the other classes were scored (tests check the cache)
        self.pages = 0  # how many moves sent their page before the whole column (tests and the bench read it)

    def rank(self, score, codes, matrix: np.ndarray, column: int, boost: np.ndarray) -> np.ndarray:
        """``score(codes, class_matrix) -> [N, C]`` logits; ``boost`` [C] the calibration of each class."""
        matrix = np.asarray(matrix, np.float32)
        others_lse = self._others(score, codes, matrix, column, boost)
        own = np.asarray(score(codes, matrix[column : column + 1]), np.float64)[:, 0] + float(boost[column])
        return log_probability_of_key(own - others_lse)

    def rank_page_first(
        self, score, codes, matrix: np.ndarray, column: int, boost: np.ndarray, live: "LiveColumn"
    ) -> np.ndarray | None:
        """``rank``, with the gallery's page sent first to ``live.on_page``; None when ``live.stale()`` stopped it.

        ``live.change(old_row, new_row)`` bounds the column's move (None: no bound), ``live.rows(rows, row)``
        scores chosen rows exactly, ``live.whole(row, stale)`` the whole column (None when stopped).
        """
        matrix = np.asarray(matrix, np.float32)
        others_lse = self._others(score, codes, matrix, column, boost)
        row, offset = matrix[column], float(boost[column])
        page = self._page(live, row, offset, others_lse, len(codes))
        rows = values = own_rows = None
        if page is not None:
            rows, keys, own_rows = page
            values = log_probability_of_key(keys)
            self.pages += 1
            live.on_page(provisional_ranking(len(codes), rows, values))
        # Without a page the whole column is this move's only answer and the next move's reference: it is
        # finished even when a newer move waits (else a drag faster than one column would never get a page).
        whole = live.whole(row, live.stale if rows is not None else (lambda: False))
        if whole is None:
            return None
        own = np.asarray(whole, np.float64) + offset
        if rows is not None:
            own[rows] = own_rows  # the page the user saw is the final ranking's page
        self._reference = reference(row, own - offset, others_lse)
        ranking = log_probability_of_key(own - others_lse)
        if rows is not None:
            ranking[rows] = values
        return ranking

    def _page(self, live: "LiveColumn", row, offset: float, others_lse: np.ndarray, count: int) -> tuple | None:
        """(rows scored exactly, their keys, their own scores) holding the gallery's page (``exact_page``);
        None without a reference, a bound, or with too loose a bound."""
        ref = self._reference
        if ref is None or live.first <= 0 or len(ref.key) != count:
            return None
        change = live.change(ref.row, row)
        if change is None:
            return None
        change = replace(change, low=change.low + offset, high=change.high + offset)
        owns: list[np.ndarray] = []

        def keys_of(rows: np.ndarray) -> np.ndarray:
            own = np.asarray(live.rows(rows, row), np.float64) + offset
            owns.append(own)
            return own - others_lse[rows]

        found = exact_page(ref, change, live.first, keys_of, live.shown)
        if found is None:
            return None
        rows, keys = found
        return rows, keys, np.concatenate(owns) if owns else np.zeros(0)

    @property
    def held_codes(self):
        """The codes whose other classes' scores the ranker holds (None before any): one model's, never mixed."""
        return None if self._key is None else self._key[0]

    def prime(self, codes, matrix: np.ndarray, boost: np.ndarray, scores: np.ndarray) -> None:
        """Cache the log-sum-exp of ``scores`` [N, C] (``codes`` against every row of ``matrix``, just computed
        elsewhere: the session's every-image scores) as the other classes of a class drawn after them.

        Why: a session's first move on a drawn class scored every image against every other class (IPCE at
        100,000 images: ~0.5 CPU s); the every-image scores the app asks for once a model is live are those
        scores. Nothing changes when the cache already holds these classes (the reference stays)."""
        matrix = np.asarray(matrix, np.float32)
        boost = np.asarray(boost, np.float64)
        if len(scores) != len(codes) or self._same(codes, matrix, boost):  # other items (a photo added meanwhile)
            return
        self._others_lse = calibrated_logsumexp(scores, boost)
        self._key = (codes, matrix.copy(), boost.copy())
        self._reference = None

    def _others(self, score, codes, matrix, column, boost) -> np.ndarray:
        """The other classes' calibrated log-sum-exp per image (cached; a change drops the reference)."""
        boost = np.asarray(boost, np.float64)
        others = np.delete(matrix, column, axis=0)
        other_boost = np.delete(boost, column)
        if not self._same(codes, others, other_boost):
            scored = score(codes, others) if len(others) else np.zeros((len(codes), 0))
            self._others_lse = calibrated_logsumexp(scored, other_boost)
            self._key = (codes, others.copy(), other_boost.copy())
            self._reference = None
            self.recomputed += 1
        others_lse = self._others_lse
        assert others_lse is not None  # set above whenever the key was not the same
        return others_lse

    def _same(self, codes, others, other_boost) -> bool:
        if self._key is None:
            return False
        k_codes, k_others, k_boost = self._key
        return (
            k_codes is codes
            and k_others.shape == others.shape
            and np.array_equal(k_others, others)
            and np.array_equal(k_boost, other_boost)
        )


def order_of(values: np.ndarray) -> np.ndarray:
    """Indices from the highest value down; ties keep their original order (stable, reproducible)."""
    return np.argsort(-np.asarray(values, np.float64), kind="stable")


def precision_at(values: np.ndarray, relevant: np.ndarray, k: int) -> float:
    """Share of the top ``k`` (by ``values``) that are relevant."""
    top = order_of(values)[:k]
    return float(np.asarray(relevant, bool)[top].mean()) if len(top) else 0.0


def average_precision(values: np.ndarray, relevant: np.ndarray) -> float:
    """Mean of the precision at the rank of each relevant item (1.0: all relevant ones first)."""
    hits = np.asarray(relevant, bool)[order_of(values)]
    if not hits.any():
        return 0.0
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision[hits].mean())
