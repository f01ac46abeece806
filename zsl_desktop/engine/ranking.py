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

import numpy as np


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


class LiveRanker:
    """The calibrated log-probability of an edited class for every image, one column per slider move.

    While a slider moves only the edited class's column changes; the log-sum-exp of the
    other (calibrated) classes per image is cached and recomputed only when the other
    classes, their calibration or the images change. ``rank(...)`` returns
    ``log p(class | image)``: sort by it (exp of it is the probability shown to the user).
    """

    def __init__(self):
        self._key = None
        self._others_lse: np.ndarray | None = None
        self.recomputed = 0  # how often the other classes were scored (tests check the cache)

    def rank(self, score, codes, matrix: np.ndarray, column: int, boost: np.ndarray) -> np.ndarray:
        """``score(codes, class_matrix) -> [N, C]`` logits; ``boost`` [C] the calibration of each class."""
        matrix = np.asarray(matrix, np.float32)
        boost = np.asarray(boost, np.float64)
        others = np.delete(matrix, column, axis=0)
        other_boost = np.delete(boost, column)
        if not self._same(codes, others, other_boost):
            scored = np.asarray(score(codes, others), np.float64) if len(others) else np.zeros((len(codes), 0))
            self._others_lse = logsumexp(scored + other_boost)
            self._key = (codes, others.copy(), other_boost.copy())
            self.recomputed += 1
        others_lse = self._others_lse
        assert others_lse is not None  # set above whenever the key was not the same
        own = np.asarray(score(codes, matrix[column : column + 1]), np.float64)[:, 0] + boost[column]
        return own - np.logaddexp(own, others_lse)

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
