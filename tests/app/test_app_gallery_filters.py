"""Through the real window: the gallery's filters, search, ranking by a drawn class, thumbnails.

Every test drives real widgets on the small built-in birds with a real (briefly trained) MSDN
model; threads are real too, so the tests wait on results with ``qtbot.waitUntil``.
"""

import numpy as np

from window_steps import select_item
from zsl_desktop.engine.ranking import calibration, log_probability


def test_filters_and_search(make_window, qtbot, small_birds):
    w = make_window()
    g = w.gallery
    g.split_filter.setCurrentIndex(g.split_filter.findData("unseen"))
    assert g.model.rowCount() == int(np.isin(small_birds.labels, small_birds.unseen_classes).sum())
    g.split_filter.setCurrentIndex(0)
    g.class_filter.setCurrentIndex(g.class_filter.findData(1))
    assert g.model.rowCount() == int((small_birds.labels == 1).sum())
    g.class_filter.setCurrentIndex(0)
    name = g.model.names[7]
    g.search.setText(name)
    assert 7 in g.model.order and g.model.rowCount() >= 1
    g.search.clear()
    qtbot.waitUntil(lambda: w.controller.all_scores is not None, timeout=10000)
    assert g.result_filter.isEnabled()
    g.result_filter.setCurrentIndex(g.result_filter.findData("correct"))
    correct = g.model.rowCount()
    g.result_filter.setCurrentIndex(g.result_filter.findData("wrong"))
    assert correct + g.model.rowCount() == small_birds.num_samples


def test_rank_gallery_by_the_edited_class(make_window, qtbot, small_birds):
    w = make_window()
    label = int(small_birds.unseen_classes[0])
    w.editor.start_from("dataset", label)
    w.gallery.rank_button.setChecked(True)
    qtbot.waitUntil(lambda: w.gallery.model.rank_scores is not None, timeout=10000)
    order = w.gallery.model.order
    scores = w.gallery.model.rank_scores[order]
    assert np.all(np.diff(scores) <= 1e-6)  # sorted best first
    assert w.gallery.delegate.show_rank
    # the ranking is the drawn class's calibrated log-probability against every class (engine/ranking.py)
    qtbot.waitUntil(lambda: w.controller.all_scores is not None, timeout=10000)
    live = w.controller.live
    every = np.concatenate([w.controller.all_scores.scores, w.controller.all_scores.scores[:, label : label + 1]], 1)
    boost = calibration(live.class_kinds, w.predictions.gamma)
    expected = log_probability(every, live.draft_column, boost)
    np.testing.assert_allclose(w.gallery.model.rank_scores, expected, atol=1e-3)
    assert not np.allclose(np.argsort(-expected), np.argsort(-every[:, label]))  # not the raw score's order
    w.gallery.rank_button.setChecked(False)
    assert np.array_equal(w.gallery.model.order, np.arange(small_birds.num_samples))


def test_clicking_a_predicted_class_filters_the_gallery(make_window, qtbot, small_birds):
    w = make_window()
    select_item(w, qtbot, 0)
    qtbot.waitUntil(lambda: len(w.predictions.bars.rows) > 0, timeout=10000)
    top = w.predictions.bars.rows[0].name
    w.predictions.bars.row_clicked.emit(top)
    label = small_birds.classes.index(top)
    assert w.gallery.class_filter.currentData() == label
    assert set(small_birds.labels[w.gallery.model.order]) == {label}


def test_thumbnails_of_a_previous_dataset_are_ignored(make_window, qtbot):
    w = make_window()
    m = w.gallery.model
    qtbot.waitUntil(lambda: len(m._cache) > 0, timeout=10000)
    m._cache.clear()
    tiny = np.full((4, 4, 3), 200, np.uint8)
    m.set_thumbnails([((m.token - 1, 0), tiny)])  # decoded for the dataset shown before
    assert 0 not in m._cache
    m.set_thumbnails([((m.token, 0), tiny), ((m.token, 10**6), tiny)])  # current; and out of range
    assert list(m._cache) == [0]
