"""Hand-computed cases for the ZSL/GZSL protocol."""

import numpy as np
import pytest

from zsl_desktop.engine import evaluation as ev

SEEN = np.array([0, 1])
UNSEEN = np.array([2, 3])


def test_per_class_accuracy_is_the_mean_of_each_listed_present_class_hit_rate():
    """Against the definition, class by class: classes absent from the labels are left out, listed twice count
    twice, predictions may be any id (-1 for a loose photo)."""
    rng = np.random.default_rng(0)
    for trial in range(300):
        n, k = int(rng.integers(0, 40)), int(rng.integers(1, 9))
        labels, predicted = rng.integers(0, k, n), rng.integers(-1, k + 1, n)
        classes = None if trial % 3 == 0 else rng.choice(np.arange(-1, k + 2), int(rng.integers(0, k + 3)))
        listed = np.unique(labels) if classes is None else classes
        rates = [(predicted[labels == c] == c).mean() for c in listed if (labels == c).any()]
        assert ev.per_class_accuracy(predicted, labels, classes) == (np.mean(rates) if rates else 0.0)


def test_per_class_accuracy_weights_classes_equally():
    # class 0: 3 of 4 right, class 1: 0 of 1 right -> (0.75 + 0) / 2
    labels = np.array([0, 0, 0, 0, 1])
    predicted = np.array([0, 0, 0, 1, 0])
    assert ev.per_class_accuracy(predicted, labels) == pytest.approx(0.375)


def test_zsl_restricts_prediction_to_unseen_classes():
    # The seen class 0 has the top score, but ZSL only looks at classes 2 and 3.
    scores = np.array([[9.0, 0, 1.0, 0.5], [9.0, 0, 0.2, 0.3]])
    labels = np.array([2, 3])
    assert ev.zsl_accuracy(scores, labels, UNSEEN) == 1.0


def test_gzsl_and_calibrated_stacking():
    scores_seen = np.array([[2.0, 0, 1.5, 0], [0, 2.0, 0, 0.1]])
    labels_seen = np.array([0, 1])
    scores_unseen = np.array([[1.0, 0, 0.8, 0], [0, 1.0, 0, 0.9]])
    labels_unseen = np.array([2, 3])
    r0 = ev.gzsl_accuracy(scores_seen, labels_seen, scores_unseen, labels_unseen, SEEN, UNSEEN, 0.0)
    assert (r0.s, r0.u, r0.h) == (1.0, 0.0, 0.0)
    # gamma 0.3 lifts both unseen samples (gaps 0.2 and 0.1) but not the seen ones (gaps 0.5, 1.9).
    r = ev.gzsl_accuracy(scores_seen, labels_seen, scores_unseen, labels_unseen, SEEN, UNSEEN, 0.3)
    assert (r.s, r.u, r.h) == (1.0, 1.0, 1.0)
    # gamma 1.0 flips the first seen sample (gap 0.5) too: S = 0.5, H = 2*0.5/1.5
    r = ev.gzsl_accuracy(scores_seen, labels_seen, scores_unseen, labels_unseen, SEEN, UNSEEN, 1.0)
    assert r.s == 0.5 and r.u == 1.0 and r.h == pytest.approx(2 / 3)


def test_curve_matches_brute_force_sweep_and_ausuc():
    rng = np.random.default_rng(0)
    scores_seen = rng.normal(size=(40, 4))
    labels_seen = rng.integers(0, 2, 40)
    scores_unseen = rng.normal(size=(30, 4))
    labels_unseen = rng.integers(2, 4, 30)
    curve = ev.seen_unseen_curve(scores_seen, labels_seen, scores_unseen, labels_unseen, SEEN, UNSEEN)
    # Each curve point equals a direct evaluation at a gamma just above its start.
    for g, s, u in zip(curve.gammas[1:], curve.seen[1:], curve.unseen[1:]):
        r = ev.gzsl_accuracy(scores_seen, labels_seen, scores_unseen, labels_unseen, SEEN, UNSEEN, g + 1e-9)
        assert r.s == pytest.approx(s) and r.u == pytest.approx(u)
    assert curve.seen[0] == pytest.approx(ev.per_class_accuracy(SEEN[np.argmax(scores_seen[:, SEEN], 1)], labels_seen))
    assert curve.unseen[-1] == pytest.approx(ev.zsl_accuracy(scores_unseen, labels_unseen, UNSEEN))
    assert curve.seen[-1] == pytest.approx(0.0)
    assert 0.0 < curve.ausuc < 1.0
    best = curve.best()
    again = ev.gzsl_accuracy(scores_seen, labels_seen, scores_unseen, labels_unseen, SEEN, UNSEEN, best.gamma)
    assert again.h == pytest.approx(best.h)


def test_ausuc_of_a_perfect_model_is_one():
    scores_seen = np.array([[5.0, 0, 0, 0], [0, 5.0, 0, 0]])
    scores_unseen = np.array([[0, 0, 5.0, 0], [0, 0, 0, 5.0]])
    curve = ev.seen_unseen_curve(scores_seen, [0, 1], scores_unseen, [2, 3], SEEN, UNSEEN)
    # Seen samples flip at gamma 5, unseen at gamma -5: a plateau at (S=1, U=1).
    assert curve.ausuc == pytest.approx(1.0)
    assert curve.best().h == 1.0


def test_confusion_matrix_counts_true_by_predicted():
    m = ev.confusion_matrix(np.array([0, 1, 1]), np.array([0, 0, 1]), 2)
    assert m.tolist() == [[1, 1], [0, 1]]
