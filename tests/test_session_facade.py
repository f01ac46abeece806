"""The session facade's small rules: one calibration, the class set a live request scores against."""

import numpy as np

from zsl_desktop.engine.evaluation import calibrate, predict
from zsl_desktop.engine.session.class_set import with_draft
from zsl_desktop.engine.session.results import ClassSet


def test_calibrate_adds_gamma_to_the_shifted_columns_only_and_copies():
    scores = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]], np.float32)
    by_mask = calibrate(scores, np.array([False, True, True]), 0.25)
    by_index = calibrate(scores, np.array([1, 2]), 0.25)
    np.testing.assert_array_equal(by_mask, by_index)
    np.testing.assert_array_equal(by_mask, scores + np.float32(0.25) * np.array([0, 1, 1], np.float32))
    assert by_mask.dtype == np.float32 and scores[0, 1] == 2.0  # the input is untouched
    row = calibrate(scores[0], np.array([False, False, True]), -1.0)  # one image's row, as the panel has it
    np.testing.assert_array_equal(row, [1.0, 2.0, -0.5])
    np.testing.assert_array_equal(calibrate(scores, np.zeros(0, np.int64), 5.0), scores)


def test_predict_is_the_argmax_of_the_calibrated_scores():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(50, 6))
    unseen = np.array([1, 4])
    for gamma in (-1.0, 0.0, 0.7):
        np.testing.assert_array_equal(
            predict(scores, unseen, gamma), np.argmax(calibrate(scores, unseen, gamma, dtype=np.float64), axis=1)
        )


def test_the_draft_replaces_the_class_it_edits_else_comes_last():
    saved = ClassSet(("a", "b", "mine"), ("seen", "unseen", "user"), np.eye(3, dtype=np.float32))
    values = np.array([0.5, 0.25, 0.5], np.float32)  # not every value the same: a blank draft is not scored
    edited = with_draft(saved, "mine v2", values, "mine", dirty=True)
    assert edited.names == ("a", "b", "mine v2") and edited.kinds == ("seen", "unseen", "draft")
    assert edited.draft_column == 2 and np.array_equal(edited.matrix[2], values)
    assert np.array_equal(saved.matrix[2], [0, 0, 1]), "the saved matrix is not changed in place"
    clean = with_draft(saved, "mine", saved.matrix[2], "mine", dirty=False)
    assert clean.kinds[2] == "user"
    new = with_draft(saved, "New class", values, None, dirty=True)
    assert new.names[-1] == "New class" and new.kinds[-1] == "draft" and new.draft_column == 3
    assert new.matrix.shape == (4, 3) and new.matrix.dtype == np.float32


def test_a_live_column_is_scored_over_every_image_in_one_call_so_method_caches_hold():
    from zsl_desktop.engine.session.chunked_scores import LIVE_COLUMNS, SCORE_CHUNK, score_in_chunks

    codes = np.ones((2 * SCORE_CHUNK + 5, 3), np.float32)
    seen = []

    def score(c, classes):
        seen.append(c)
        return c @ np.asarray(classes, np.float32).T

    column = score_in_chunks(score, codes, np.ones((1, 3)))
    assert len(seen) == 1 and seen[0] is codes and column.shape == (len(codes), 1)
    seen.clear()
    everything = score_in_chunks(score, codes, np.ones((LIVE_COLUMNS + 1, 3)))
    assert len(seen) == 3 and everything.shape == (len(codes), LIVE_COLUMNS + 1)  # all classes: chunked
    np.testing.assert_array_equal(everything[:, :1], column)


def test_the_gallery_predictions_are_the_calibrated_argmax_among_the_dataset_classes():
    from types import SimpleNamespace

    from zsl_desktop.engine.evaluation import gallery_predictions

    rng = np.random.default_rng(1)
    dataset = SimpleNamespace(num_classes=5, unseen_classes=np.array([3, 4]), num_samples=40)
    scores = rng.normal(size=(43, 7)).astype(np.float32)  # 3 loose photos; 2 user classes after the dataset's
    for gamma in (-0.5, 0.0, 0.8):
        predicted = gallery_predictions(scores, dataset, gamma)
        expected = np.argmax(calibrate(scores[:, :5], np.array([3, 4]), gamma), axis=1)
        np.testing.assert_array_equal(predicted[:40], expected[:40])
        assert (predicted[40:] == -1).all() and predicted.max() < 5
    assert (gallery_predictions(scores, dataset, 5.0)[:40] >= 3).all()  # a large gamma: every image unseen
