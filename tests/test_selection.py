"""Choosing the epoch and operating point from folds of pseudo-unseen classes (engine/selection.py)."""

import numpy as np
import pytest

from zsl_desktop.engine import evaluation as ev
from zsl_desktop.engine.selection import (
    REJECTION_RATES,
    choose_operating_point,
    gamma_at_rate,
    gammas_by_rejection_rate,
    h_by_rejection_rate,
    seen_class_folds,
    shares_sent_to_unseen,
    smooth_epochs,
)


def test_folds_are_disjoint_seeded_groups_of_seen_classes():
    seen = np.arange(100, 140)
    folds = seen_class_folds(seen, 3, seed=4)
    assert [len(f) for f in folds] == [8, 8, 8]
    assert len(np.unique(np.concatenate(folds))) == 24 and np.isin(np.concatenate(folds), seen).all()
    assert all(np.array_equal(a, b) for a, b in zip(folds, seen_class_folds(seen, 3, seed=4)))
    assert not np.array_equal(np.concatenate(folds), np.concatenate(seen_class_folds(seen, 3, seed=5)))
    assert len(seen_class_folds(seen, 9, seed=0)) == 5  # 5 groups of 8 use all 40 classes
    assert [len(f) for f in seen_class_folds(np.arange(4), 3, seed=0)] == [1, 1, 1]


def test_small_sets_of_seen_classes_hold_out_two_classes_when_three_are_left_to_train_on():
    """One pseudo-unseen class makes validation ZSL 100% at every epoch: two when the seen classes allow."""
    assert [len(f) for f in seen_class_folds(np.arange(7), 3, seed=0)] == [2, 2, 2]  # 20% of 7 would be 1
    assert [len(f) for f in seen_class_folds(np.arange(5), 3, seed=0)] == [2, 2]
    assert all(len(f) == 1 for f in seen_class_folds(np.arange(4), 3, seed=0))
    assert all(len(f) == 8 for f in seen_class_folds(np.arange(40), 3, seed=0))


def test_gamma_at_rate_sends_that_share_to_unseen():
    flips = np.random.default_rng(0).normal(size=200)
    for rate in (0.0, 0.1, 0.37, 1.0):
        assert np.mean(gamma_at_rate(flips, rate) > flips) == pytest.approx(rate, abs=0.005)


def test_h_by_rate_reads_the_exact_curve():
    rng = np.random.default_rng(1)
    seen, unseen = np.arange(6), np.arange(6, 8)
    ys, yu = rng.integers(0, 6, 120), rng.integers(6, 8, 60)
    ss = rng.normal(size=(120, 8)) + 3 * np.eye(8)[ys] + 1.0 * np.isin(np.arange(8), seen)
    su = rng.normal(size=(60, 8)) + 3 * np.eye(8)[yu] + 1.0 * np.isin(np.arange(8), seen)
    curve = h_by_rejection_rate(ss, ys, su, yu, seen, unseen)
    assert curve.shape == REJECTION_RATES.shape
    flips = ss[:, seen].max(1) - ss[:, unseen].max(1)
    for i in (0, 30, 100):  # each point: H at the gamma rejecting that share of the seen images
        gamma = gamma_at_rate(flips, REJECTION_RATES[i])
        assert curve[i] == pytest.approx(ev.gzsl_accuracy(ss, ys, su, yu, seen, unseen, gamma).h)
    assert curve[100] < curve.max() and curve[0] < curve.max()  # biased scores: the best lies inside
    # The best point of the rate curve is close to the best of the exact curve (same images).
    assert curve.max() <= ev.seen_unseen_curve(ss, ys, su, yu, seen, unseen).best().h + 1e-9
    assert curve.max() >= ev.seen_unseen_curve(ss, ys, su, yu, seen, unseen).best().h - 0.05


def test_operating_point_is_the_best_of_the_smoothed_fold_mean():
    rates = np.array([0.0, 0.5, 1.0])
    quiet = np.array([[0.1, 0.2, 0.1]] * 6)
    a, b = quiet.copy(), quiet.copy()
    a[1, 1] = 0.9  # one fold's lucky epoch
    a[3:6, 2] = b[3:6, 2] = 0.5  # a plateau both folds share
    unsmoothed = choose_operating_point([a, b], window=1, rates=rates)
    assert (unsmoothed["epoch"], unsmoothed["rate"]) == (2, 0.5)  # the spike, epochs are 1-based
    smoothed = choose_operating_point([a, b], window=3, rates=rates)
    assert (smoothed["epoch"], smoothed["rate"]) == (5, 1.0) and smoothed["fold_h"] == [0.5, 0.5]
    assert choose_operating_point([a, b[:4]], window=1, rates=rates)["epoch"] <= 4  # cut to the shortest


def test_tolerance_takes_the_earliest_epoch_the_folds_cannot_tell_from_the_best():
    rates = np.array([0.0, 0.5, 1.0])
    rise = np.array([0.1, 0.3, 0.50, 0.52, 0.51, 0.53])  # a plateau from epoch 3, its top at 6 by noise
    a, b = np.zeros((6, 3)), np.zeros((6, 3))
    a[:, 1], b[:, 1] = rise + 0.02, rise - 0.02  # fold H at the best point: 0.55 / 0.51, standard error 0.02
    a[:, 2] = b[:, 2] = 0.05
    assert choose_operating_point([a, b], window=1, rates=rates)["epoch"] == 6  # tolerance 0: the top
    point = choose_operating_point([a, b], window=1, rates=rates, tolerance=1.0)
    assert (point["epoch"], point["rate"]) == (4, 0.5)  # the first epoch at 0.53 - 0.02 or more: 0.52
    assert choose_operating_point([a, b], window=1, rates=rates, tolerance=2.0)["epoch"] == 3  # 0.50 >= 0.49
    assert choose_operating_point([a], window=1, rates=rates, tolerance=1.0)["epoch"] == 6  # one fold: no error


def test_last_epochs_takes_the_last_epoch_and_the_best_rate_of_the_last_epochs_mean():
    rates = np.array([0.0, 0.5, 1.0])
    a, b = np.zeros((6, 3)), np.zeros((6, 3))
    a[1, 0] = b[1, 0] = 0.9  # an early peak: the default choice, ignored here
    a[3:, 1], b[3:, 1] = [0.50, 0.50, 0.40], [0.50, 0.50, 0.40]  # rate 0.5 best over epochs 4-6 on average
    a[5, 2] = b[5, 2] = 0.45  # rate 1.0 best at the last epoch alone
    assert choose_operating_point([a, b], window=1, rates=rates)["epoch"] == 2
    point = choose_operating_point([a, b], window=3, rates=rates, last_epochs=3)
    assert (point["epoch"], point["rate"]) == (6, 0.5)
    assert point["h"] == pytest.approx(np.mean([0.5, 0.5, 0.4])) and point["fold_h"] == [0.4, 0.4]
    assert choose_operating_point([a, b], window=1, rates=rates, last_epochs=1)["rate"] == 1.0


def test_gammas_by_rate_are_the_gammas_of_the_h_curve():
    rng = np.random.default_rng(2)
    seen, unseen = np.arange(5), np.arange(5, 7)
    scores = rng.normal(size=(80, 7)) + 2.0 * np.isin(np.arange(7), seen)
    gammas = gammas_by_rejection_rate(scores, seen, unseen)
    flips = scores[:, seen].max(1) - scores[:, unseen].max(1)
    assert gammas.shape == REJECTION_RATES.shape and np.all(np.diff(gammas) >= 0)  # more rejection, more gamma
    for i in (0, 25, 60, 100):
        assert gammas[i] == pytest.approx(gamma_at_rate(flips, REJECTION_RATES[i]))
        assert np.mean(gammas[i] > flips) == pytest.approx(REJECTION_RATES[i], abs=1 / 80)


def test_final_gamma_is_the_fold_mean_at_the_chosen_point():
    rates = np.array([0.0, 0.5, 1.0])
    a = np.array([[0.1, 0.2, 0.1], [0.1, 0.6, 0.1], [0.1, 0.2, 0.1]])
    b = np.array([[0.1, 0.2, 0.1], [0.1, 0.4, 0.1], [0.1, 0.2, 0.1]])
    ga = np.arange(9.0).reshape(3, 3)  # each fold model's gamma at each epoch and rate
    gb = 10 + np.arange(9.0).reshape(3, 3)
    point = choose_operating_point([a, b], window=1, rates=rates, fold_gammas=[ga, gb])
    assert (point["epoch"], point["rate"]) == (2, 0.5)
    assert point["fold_gamma"] == [4.0, 14.0] and point["gamma"] == pytest.approx(9.0)
    assert "gamma" not in choose_operating_point([a, b], window=1, rates=rates)
    sa, sb = ga / 100, gb / 100  # each fold model's share of its own training images sent to unseen classes
    point = choose_operating_point([a, b], window=1, rates=rates, fold_shares=[sa, sb])
    assert point["fold_share"] == [0.04, 0.14] and point["share"] == pytest.approx(0.09)
    assert "share" not in choose_operating_point([a, b], window=1, rates=rates)


def test_shares_sent_to_unseen_counts_rows_below_each_gamma():
    # columns 0, 1 seen, 2 unseen; flip points (best seen - best unseen): 1, -1, 3, 0
    scores = np.array([[2.0, 0.0, 1.0], [0.0, 1.0, 2.0], [3.0, 1.0, 0.0], [1.0, 0.5, 1.0]])
    shares = shares_sent_to_unseen(scores, [0, 1], [2], [-2.0, 0.5, 2.0, 5.0])
    assert shares.tolist() == [0.0, 0.5, 0.75, 1.0]
    # the same convention as the rejection rates: the gamma for a rate sends exactly that share
    gammas = gammas_by_rejection_rate(scores, [0, 1], [2], rates=np.array([0.0, 0.25, 0.5, 1.0]))
    assert shares_sent_to_unseen(scores, [0, 1], [2], gammas).tolist() == [0.0, 0.25, 0.5, 1.0]


def test_smoothing_keeps_length_and_constants():
    x = np.arange(10.0)[:, None] * np.ones((1, 3))
    assert smooth_epochs(x, 3).shape == x.shape
    assert np.allclose(smooth_epochs(np.ones((7, 2)), 5), 1.0)
    assert np.allclose(smooth_epochs(x, 3)[1:-1], x[1:-1])  # linear in the middle
