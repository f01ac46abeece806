"""Ranking functions, their metrics, the live ranker's cache and the rank study on small made-up scores."""

import numpy as np
import pytest

from zsl_desktop.engine import ranking
from zsl_desktop.engine.ranking import LiveRanker, average_precision, precision_at
from zsl_desktop.rank_study import format_table, study


def test_precision_and_average_precision_by_hand():
    values = np.array([0.9, 0.8, 0.7, 0.6])
    relevant = np.array([True, False, True, False])
    assert precision_at(values, relevant, 2) == 0.5
    assert average_precision(values, relevant) == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert average_precision(-values, relevant) == pytest.approx((1 / 2 + 2 / 4) / 2)
    assert average_precision(values, np.zeros(4, bool)) == 0.0


def test_probability_removes_a_per_image_offset_that_fools_the_raw_score():
    # Image 0 scores high for everything (bright, close-up); image 1 prefers class 0 clearly.
    scores = np.array([[5.0, 5.5, 5.2], [1.0, -2.0, -2.0]])
    boost = np.zeros(3)
    assert ranking.raw_score(scores, 0, boost).argmax() == 0
    assert ranking.log_probability(scores, 0, boost).argmax() == 1
    assert ranking.margin(scores, 0, boost).argmax() == 1
    assert ranking.z_score(scores, 0, boost).argmax() == 1


def test_gamma_only_changes_the_calibrated_functions():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(30, 5))
    boost = np.array([0, 0, 2.0, 2.0, 0])
    with_gamma = ranking.log_probability(scores, 0, boost)
    assert not np.allclose(with_gamma, ranking.log_probability(scores, 0, np.zeros(5)))
    assert np.allclose(
        ranking.log_probability_no_gamma(scores, 0, boost), ranking.log_probability(scores, 0, 0 * boost)
    )
    assert np.allclose(
        np.exp(ranking.log_probability(scores, 2, boost)), np.exp(scores + boost)[:, 2] / np.exp(scores + boost).sum(1)
    )


def _linear_score(codes, matrix):
    return np.asarray(codes, np.float64) @ np.asarray(matrix, np.float64).T


def test_live_ranker_equals_the_full_probability_and_caches_the_other_classes():
    rng = np.random.default_rng(1)
    codes = rng.normal(size=(50, 4))
    matrix = rng.normal(size=(6, 4)).astype(np.float32)
    boost = np.array([0, 0, 0, 1.5, 1.5, 1.5])
    ranker = LiveRanker()
    for step in range(4):  # a slider moves: only the draft column (5) changes
        matrix[5] += np.float32(0.1 * step)
        live = ranker.rank(_linear_score, codes, matrix, 5, boost)
        full = ranking.log_probability(_linear_score(codes, matrix), 5, boost)
        np.testing.assert_allclose(live, full, atol=1e-9)
    assert ranker.recomputed == 1
    matrix[0] += 1  # another class changed (a saved class edited): recomputed
    ranker.rank(_linear_score, codes, matrix, 5, boost)
    assert ranker.recomputed == 2
    ranker.rank(_linear_score, codes, matrix, 5, boost * 2)  # γ moved
    assert ranker.recomputed == 3
    ranker.rank(_linear_score, codes.copy(), matrix, 5, boost * 2)  # other images (a photo added)
    assert ranker.recomputed == 4


def test_a_primed_ranker_scores_no_other_class_and_ranks_as_an_unprimed_one():
    """The session's every-image scores prime the ranker: a class drawn after them scores only its own column."""
    rng = np.random.default_rng(2)
    codes = rng.normal(size=(60, 4))
    saved = rng.normal(size=(5, 4)).astype(np.float32)
    saved_boost = np.array([0, 0, 1.5, 1.5, 1.5])
    drawn = np.vstack([saved, rng.normal(size=(1, 4)).astype(np.float32)])
    boost = np.append(saved_boost, 1.5)
    asked = []

    def score(c, m):
        asked.append(len(m))
        return _linear_score(c, m).astype(np.float32)

    primed = LiveRanker()
    primed.prime(codes, saved, saved_boost, score(codes, saved))
    asked.clear()
    live = primed.rank(score, codes, drawn, 5, boost)
    assert asked == [1] and primed.recomputed == 0  # the drawn class's column only
    np.testing.assert_allclose(live, LiveRanker().rank(score, codes, drawn, 5, boost), atol=1e-9)
    np.testing.assert_allclose(live, ranking.log_probability(_linear_score(codes, drawn), 5, boost), atol=1e-5)
    primed.rank(score, codes, drawn, 5, boost * 2)  # another γ than the one primed: scored again
    assert primed.recomputed == 1
    other = LiveRanker()
    other.prime(codes, saved, saved_boost, score(codes[:-1], saved))  # scores of other items: not taken
    np.testing.assert_allclose(other.rank(score, codes, drawn, 5, boost), live, atol=1e-9)
    assert other.recomputed == 1


@pytest.mark.parametrize("rows", [0, 5, ranking.LSE_ROWS + 3])
def test_calibrated_logsumexp_in_row_blocks_is_the_whole_one(rows):
    scores = np.random.default_rng(4).normal(size=(rows, 7)).astype(np.float32) * 30
    boost = np.linspace(0, 2, 7)
    expected = ranking.logsumexp(scores.astype(np.float64) + boost)
    np.testing.assert_allclose(ranking.calibrated_logsumexp(scores, boost), expected, rtol=1e-12)


def test_live_ranker_with_one_class_gives_certainty():
    codes = np.ones((3, 2))
    out = LiveRanker().rank(_linear_score, codes, np.ones((1, 2), np.float32), 0, np.zeros(1))
    np.testing.assert_allclose(out, 0.0)


def test_study_prefers_probability_when_images_have_offsets():
    # 4 classes, 2 unseen (2, 3); each image scores its own class +1 above the rest, plus a big
    # per-image offset unrelated to the class: the raw score ranks by offset, the probability by class.
    rng = np.random.default_rng(2)
    labels = np.repeat(np.arange(4), 25)
    scores = rng.normal(0, 0.3, size=(100, 4)) + rng.normal(0, 5, size=(100, 1))
    scores[np.arange(100), labels] += 1.0
    precision, ap = study(scores, labels, [2, 3], np.zeros(4), k=10)
    assert set(precision) == set(ranking.RANKERS)
    assert precision["probability"] > precision["raw score"] + 0.3
    assert ap["probability"] > ap["raw score"] + 0.3
    table = format_table([_result(precision, ap)], 10)
    assert "| probability |" in table and "msdn P@10" in table


def _result(precision, ap):
    from zsl_desktop.rank_study import StudyResult

    return StudyResult("msdn", 0.0, 100, 2, precision, ap)
