"""Refining a class from marked images, on made-up linear codes (an attribute method's score)."""

import numpy as np
import pytest

from zsl_desktop.engine.ranking import average_precision, log_probability
from zsl_desktop.engine.refinement import central_differences, refine

ATTRIBUTES, CLASSES, PER_CLASS = 12, 6, 30


def _normalised_score(codes, rows):
    """MSDN's score: codes · the L2-normalised, clipped class rows."""
    rows = np.clip(np.asarray(rows, np.float64), 0, None)
    rows = rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-8)
    return np.asarray(codes, np.float64) @ rows.T


def _world(seed=0, attributes=ATTRIBUTES, noise=3.0):
    """Classes with sparse 0-100 attributes; each image's code is its class's attributes plus noise."""
    rng = np.random.default_rng(seed)
    truth = (rng.random((CLASSES, attributes)) < 0.35) * rng.uniform(40, 100, (CLASSES, attributes))
    labels = np.repeat(np.arange(CLASSES), PER_CLASS)
    unit = truth / np.linalg.norm(truth, axis=1, keepdims=True)
    codes = 8 * unit[labels] + rng.normal(0, noise, (len(labels), attributes))
    return truth.astype(np.float32), labels, codes


def _ap(matrix, column, codes, labels, boost):
    return average_precision(log_probability(_normalised_score(codes, matrix), column, boost), labels == column)


def test_confirming_true_positives_raises_the_average_precision_of_a_rough_class():
    truth, labels, codes = _world()
    boost = np.zeros(CLASSES)
    column = 2
    matrix = truth.copy()
    rng = np.random.default_rng(5)
    matrix[column] = np.clip(truth[column] + rng.normal(0, 50, ATTRIBUTES), 0, 100)  # a rough definition
    before = _ap(matrix, column, codes, labels, boost)
    positives = np.nonzero(labels == column)[0][:3]
    refined = refine(_normalised_score, codes[positives], codes[:0], matrix, column, boost, (0.0, 100.0))
    matrix[column] = refined.values
    after = _ap(matrix, column, codes, labels, boost)
    unmarked = np.setdiff1d(np.arange(len(labels)), positives)
    assert refined.after > refined.before and refined.steps > 0
    assert after > before + 0.05
    assert _ap(matrix, column, codes[unmarked], labels[unmarked], boost) > before  # not only the marked images
    assert refined.values.dtype == np.float32 and refined.values.shape == (ATTRIBUTES,)


def test_values_stay_in_the_value_range():
    truth, labels, codes = _world(1)
    boost = np.zeros(CLASSES)
    for value_range in ((0.0, 100.0), (10.0, 60.0)):
        matrix = truth.copy()
        matrix[0] = 200.0  # even a start outside the range comes back inside it
        refined = refine(
            _normalised_score, codes[labels == 0][:5], codes[labels == 1][:5], matrix, 0, boost, value_range, steps=20
        )
        assert refined.values.min() >= value_range[0] and refined.values.max() <= value_range[1]


def test_rejecting_an_image_moves_the_class_away_from_it():
    truth, labels, codes = _world(2)
    boost = np.zeros(CLASSES)
    column = 3
    matrix = truth.copy()
    matrix[column] = 0.5 * truth[column] + 0.5 * truth[4]  # a definition that also fits class 4
    rejected = np.nonzero(labels == 4)[0][:3]
    before = log_probability(_normalised_score(codes, matrix), column, boost)
    refined = refine(_normalised_score, codes[:0], codes[rejected], matrix, column, boost, (0.0, 100.0))
    matrix[column] = refined.values
    after = log_probability(_normalised_score(codes, matrix), column, boost)
    assert after[rejected].mean() < before[rejected].mean() - 0.1  # the rejected images' probability fell
    others_of_4 = np.setdiff1d(np.nonzero(labels == 4)[0], rejected)
    assert after[others_of_4].mean() < before[others_of_4].mean()  # and so did their unmarked class mates'
    # the class's own images gained on class 4's, as the rejection asks
    gap_before = before[labels == column].mean() - before[others_of_4].mean()
    gap_after = after[labels == column].mean() - after[others_of_4].mean()
    assert gap_after > gap_before


def test_no_marks_change_nothing_and_a_bad_range_is_refused():
    truth, labels, codes = _world(3)
    refined = refine(_normalised_score, codes[:0], codes[:0], truth, 1, np.zeros(CLASSES), (0.0, 100.0))
    np.testing.assert_array_equal(refined.values, truth[1])
    assert refined.steps == 0
    with pytest.raises(ValueError, match="range"):
        refine(_normalised_score, codes[:1], codes[:0], truth, 1, np.zeros(CLASSES), (1.0, 1.0))


def test_central_differences_match_the_gradient_of_a_quadratic_and_respect_the_bounds():
    target = np.array([0.2, 0.5, 0.9])

    def objective(rows):
        return -((rows - target) ** 2).sum(axis=1)

    values = np.array([0.0, 0.5, 0.5])
    g = central_differences(objective, values, 0.01, 0.0, 1.0)
    # at the lower bound the difference is one-sided, so the slope is measured over [0, 0.01]
    np.testing.assert_allclose(g, [-2 * (0.005 - 0.2), 0.0, -2 * (0.5 - 0.9)], atol=1e-9)


def test_the_session_refines_the_draft_from_item_ids():
    from types import SimpleNamespace

    from zsl_desktop.engine.session.refining import refine_draft
    from zsl_desktop.engine.session.results import ClassSet, RefineRequest

    truth, labels, codes = _world(6, noise=1.0)
    method = SimpleNamespace(score=_normalised_score)
    session = SimpleNamespace(active=lambda: SimpleNamespace(method=method), all_codes=lambda: codes)
    column = 1
    start = np.clip(truth[column] + np.random.default_rng(0).normal(0, 50, ATTRIBUTES), 0, 100).astype(np.float32)
    kinds = ("seen",) * CLASSES
    classes = ClassSet(tuple(f"c{i}" for i in range(CLASSES)), kinds, truth.copy(), column)  # the draft row is ignored
    mine = tuple(int(i) for i in np.flatnonzero(labels == column)[:3])
    request = RefineRequest(classes, start, mine + (10_000,), (), (0.0, 100.0), generation=4)
    refined = refine_draft(session, request)
    direct = refine(
        _normalised_score,
        codes[list(mine)],
        codes[:0],
        _with_row(truth, column, start),
        column,
        np.zeros(CLASSES),
        (0, 100),
    )
    np.testing.assert_array_equal(refined.values, direct.values)  # the item beyond the codes is ignored
    np.testing.assert_array_equal(refined.start, start)
    assert refined.positives == mine + (10_000,) and refined.generation == 4
    assert not np.array_equal(refined.values, start)
    with pytest.raises(ValueError, match="class editor"):
        refine_draft(session, RefineRequest(ClassSet(classes.names, kinds, truth), start, mine, (), (0.0, 100.0)))


def _with_row(matrix, column, row):
    out = np.array(matrix, np.float32)
    out[column] = row
    return out
