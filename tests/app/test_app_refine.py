"""Refining the edited class from marked images: the sliders move, one undo reverts it, marks show, ranking follows."""

import numpy as np

from zsl_desktop.app.widgets.thumbnails import MarkRole


def _start_rough(w, qtbot, small_birds, label):
    """A rough version of an unseen class (its 5 strongest attributes only) on the editor, ranked live."""
    w.editor.start_from("dataset", label)
    values = np.asarray(small_birds.class_attributes[label], np.float32)
    for i in np.argsort(-values)[5:]:
        if values[i] > 0:
            w.editor.set_value(int(i), 0.0)
    w.gallery.rank_button.setChecked(True)
    qtbot.waitUntil(lambda: w.bridge.idle() and w.gallery.model.rank_scores is not None, timeout=20000)


def test_marking_an_image_moves_the_sliders_and_undo_restores_them(make_window, qtbot, small_birds):
    w = make_window()
    label = int(small_birds.unseen_classes[0])
    _start_rough(w, qtbot, small_birds, label)
    before = w.editor.values()
    slider_before = [s.value() for s in w.editor.sliders]
    ranking_before = w.gallery.model.rank_scores.copy()
    item = int(np.flatnonzero(np.asarray(small_birds.labels) == label)[0])
    w.gallery.select_item(item)
    w.gallery.is_this_button.click()
    assert w.refiner.marks == {item: 1}
    row = w.gallery.model.row_of(item)
    assert w.gallery.model.index(row).data(MarkRole) == 1  # the thumbnail shows the mark
    qtbot.waitUntil(lambda: not w.refiner.pending and w.bridge.idle(), timeout=20000)
    after = w.editor.values()
    assert not np.array_equal(after, before)
    lo, hi = w.store.scale
    assert after.min() >= lo and after.max() <= hi
    np.testing.assert_allclose([s.value() for s in w.editor.sliders], after, atol=0.5)  # the sliders show it
    assert "refine from 1" in w.editor.history.undo_text
    assert "Ctrl+Z" in w.editor.status.text()
    # the ranking follows the refined class, and the confirmed image rose
    qtbot.waitUntil(lambda: not np.allclose(w.gallery.model.rank_scores, ranking_before), timeout=20000)
    assert w.gallery.model.rank_scores[item] > ranking_before[item]
    w.editor.undo()  # one step reverts the refinement
    np.testing.assert_array_equal(w.editor.values(), before)
    np.testing.assert_allclose([s.value() for s in w.editor.sliders], slider_before, atol=1e-6)
    w.editor.redo()
    w.gallery.choose_mark(item, 0)  # removing the only mark removes its pull
    np.testing.assert_array_equal(w.editor.values(), before)
    assert w.refiner.marks == {} and w.gallery.model.index(row).data(MarkRole) is None
    qtbot.waitUntil(w.bridge.idle, timeout=20000)


def test_rejecting_marks_and_clearing(make_window, qtbot, small_birds):
    w = make_window()
    label = int(small_birds.unseen_classes[0])
    _start_rough(w, qtbot, small_birds, label)
    ranking = w.gallery.model.rank_scores
    labels = np.asarray(small_birds.labels)
    wrong = [int(i) for i in np.argsort(-ranking) if labels[i] != label][:2]  # ranked high, another class
    before = ranking[wrong].copy()
    for item in wrong:
        w.gallery.choose_mark(item, -1)  # what the context menu's "Is not this" does
    assert w.refiner.marks == {wrong[0]: -1, wrong[1]: -1}
    menu = w.gallery.context_menu_for(wrong[0])
    enabled = {a.data(): a.isEnabled() for a in menu.actions() if a.data() is not None}
    assert enabled == {1: True, -1: False, 0: True, "clear": True}
    qtbot.waitUntil(lambda: not w.refiner.pending and w.bridge.idle(), timeout=20000)
    qtbot.waitUntil(lambda: np.all(w.gallery.model.rank_scores[wrong] < before), timeout=20000)
    w.gallery.clear_marks_button.click()
    assert w.refiner.marks == {} and w.gallery.model.marks == {}
    assert not w.gallery.clear_marks_button.isEnabled()
    w.gallery.choose_mark(wrong[0], 1)
    w.editor.new_class()  # another class on the editor: the marks were for the last one
    assert w.refiner.marks == {} and w.gallery.model.marks == {}
    qtbot.waitUntil(w.bridge.idle, timeout=20000)


def test_marking_without_a_class_says_what_to_do(make_window, qtbot):
    w = make_window()
    with qtbot.waitSignal(w.refiner.status, timeout=5000) as said:
        w.gallery.choose_mark(0, 1)
    assert "class editor" in said.args[0]
    assert w.refiner.marks == {}
