"""Every image's predictions for the gallery's badges are made on the worker, with the scores, at the current γ."""

import numpy as np

from zsl_desktop.engine.evaluation import gallery_predictions


def test_the_badges_come_from_the_worker_and_follow_a_new_gamma(make_window, qtbot, small_birds):
    w = make_window()
    qtbot.waitUntil(
        lambda: w.controller.all_scores is not None and w.gallery.model.predicted is not None, timeout=20000
    )
    a = w.controller.all_scores
    assert a.predicted is not None and a.gamma == w.predictions.gamma  # made on the worker, at this γ
    np.testing.assert_array_equal(w.gallery.model.predicted[: len(a.predicted)], a.predicted)
    np.testing.assert_array_equal(a.predicted, gallery_predictions(a.scores, small_birds, w.predictions.gamma))
    w.predictions.set_gamma(-w.predictions._span)  # a new γ: the GUI works the badges out from the same scores
    expected = gallery_predictions(a.scores, small_birds, w.predictions.gamma)
    np.testing.assert_array_equal(w.gallery.model.predicted[: len(expected)], expected)
    assert not np.array_equal(expected, a.predicted)  # strongly favouring seen classes changes some
