"""Through the real window: a new class with no attribute set is not scored, says what to do and is not saved.

Before: "New class" starts at all zeros, and once named, that draft was scored like any class; with IPCE it took
nearly every photo unlike the training images (docs/history/degenerate-classes.md).
"""

import numpy as np

from zsl_desktop.app.class_draft import NO_ATTRIBUTE_SET, NOT_SAVED_BLANK


def test_a_blank_new_class_is_not_scored_until_an_attribute_is_set(make_window, qtbot, small_birds):
    w = make_window()
    w.gallery.rank_button.setChecked(True)
    w.editor.new_class()
    qtbot.keyClicks(w.editor.name_edit, "Half drawn")  # typed: the draft is active, its values still all zero
    assert w.editor.draft().active
    assert w.controller.class_set().draft_column is None
    assert w.controller.class_set().names == w.controller.saved_classes().names
    assert w.editor.status.text() == NO_ATTRIBUTE_SET
    assert not w.editor.save()
    assert w.editor.status.text() == NOT_SAVED_BLANK and w.store.names() == []

    w.editor.set_value(3, 60.0)
    assert w.controller.class_set().draft_column == small_birds.num_classes
    assert w.editor.status.text() != NO_ATTRIBUTE_SET
    qtbot.waitUntil(lambda: w.gallery.model.rank_scores is not None, timeout=10000)

    w.editor.undo()  # back to nothing set: the ranking goes, the gallery keeps its own order
    assert np.all(w.editor.values() == 0)
    assert w.editor.status.text() == NO_ATTRIBUTE_SET
    qtbot.waitUntil(lambda: w.gallery.model.rank_scores is None, timeout=10000)
    assert w.controller.live.draft_column is None


def test_undoing_a_saved_class_back_from_blank_clears_the_warning(make_window, small_birds):
    w = make_window()
    w.editor.new_class()
    w.editor.name_edit.setText("Red crown")
    w.editor.set_value(2, 80.0)
    assert w.editor.save()
    w.editor.set_value(2, 0.0)  # every attribute back at zero: not scored, and the editor says so
    assert w.editor.status.text() == NO_ATTRIBUTE_SET
    w.editor.undo()  # the saved values again: scored, and the warning goes
    assert w.editor.values()[2] == 80.0 and not w.editor.is_dirty()
    assert w.editor.status.text() == "Editing your class “Red crown”."
