"""Through the real window: a new class with no attribute set is not scored, says what to do and is not saved;
a drawn copy of a dataset class says that it shares that class's photos.

Before: "New class" starts at all zeros, and once named, that draft was scored like any class; with IPCE it took
nearly every photo unlike the training images (docs/history/degenerate-classes.md).
"""

import numpy as np

from zsl_desktop.app import theme
from zsl_desktop.app.class_draft import NO_ATTRIBUTE_SET, NOT_SAVED_BLANK, TWIN_START, twin_class, twin_words


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


def test_a_drawn_copy_of_a_dataset_class_says_so_until_a_slider_moves(make_window, small_birds):
    w = make_window()
    w.editor.start_from("dataset", 2)  # a copy: it would split class 2's photos with it
    name = theme.display_name(small_birds.classes[2])  # as the editor shows class names
    assert w.editor.status.text().endswith(twin_words(name))
    strongest = int(np.argmax(small_birds.class_attributes[2]))
    w.editor.set_value(strongest, 0.0)  # its own class now
    assert TWIN_START not in w.editor.status.text()
    w.editor.undo()
    assert w.editor.status.text() == twin_words(name)


def test_twin_class_is_a_copy_up_to_scale_and_rounding_not_a_near_class(small_birds):
    row = np.asarray(small_birds.class_attributes[4], np.float64)
    assert twin_class(row, small_birds) == small_birds.classes[4]
    assert twin_class(row * 0.5 + 1e-9, small_birds) == small_birds.classes[4]  # the same unit row
    near = row.copy()
    near[int(np.argmax(row))] *= 0.9
    assert twin_class(near, small_birds) is None
    assert twin_class(np.zeros_like(row), small_birds) is None
