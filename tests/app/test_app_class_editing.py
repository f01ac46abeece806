"""Through the real window: a class edited live, the user's class library, its files.

Every test drives real widgets on the small built-in birds with a real (briefly trained) MSDN
model; threads are real too, so the tests wait on results with ``qtbot.waitUntil``.
"""

import json

import numpy as np
import pytest

from window_steps import first_unseen, select_item
from zsl_desktop.engine.classes import attribute_identity
from zsl_desktop.engine.paths import data_dir


def test_moving_a_slider_changes_the_prediction_live(make_window, qtbot, small_birds):
    w = make_window()
    item = first_unseen(small_birds)
    select_item(w, qtbot, item)
    qtbot.waitUntil(lambda: w.predictions.raw is not None, timeout=10000)
    # draw a class: start from the image's own (unseen) class, then change it
    label = int(small_birds.labels[item])
    w.editor.start_from("dataset", label)
    w.editor.name_edit.setText("Mine")
    qtbot.waitUntil(lambda: "Mine" in w.predictions.names, timeout=10000)
    column = w.predictions.names.index("Mine")
    assert w.predictions.kinds[column] == "draft"
    own = w.predictions.names.index(small_birds.classes[label])
    assert w.predictions.raw[column] == pytest.approx(w.predictions.raw[own], abs=1e-4)  # same attributes
    before = float(w.predictions.raw[column])
    sent_before = w.controller.live_requests
    # drag one slider through many values: requests are throttled, the last state wins
    scores = w.image_view.explained.attribute_scores
    strongest = int(np.argmax(scores))
    slider = w.editor.sliders[strongest]
    current = slider.value()
    target = 0.0 if current > 50 else 100.0
    slider.slider.setSliderDown(True)  # a mouse drag: one undo step however many moves
    for v in np.linspace(current, target, 40):
        slider.slider.setValue(slider._to_steps(v))
    slider.slider.setSliderDown(False)
    qtbot.waitUntil(
        lambda: abs(float(w.predictions.raw[w.predictions.names.index("Mine")]) - before) > 1e-3, timeout=10000
    )
    assert w.controller.live_requests - sent_before < 40  # debounced, not one per move
    assert w.editor.values()[strongest] == pytest.approx(target)
    # undo restores the slider and the score
    w.editor.undo()
    qtbot.waitUntil(
        lambda: abs(float(w.predictions.raw[w.predictions.names.index("Mine")]) - before) < 1e-4, timeout=10000
    )
    assert slider.value() == pytest.approx(current)
    w.editor.redo()
    assert w.editor.values()[strongest] == pytest.approx(target)


def test_user_class_survives_a_restart(make_window, qtbot, small_birds):
    w = make_window()
    w.editor.start_from("dataset", 2)
    w.editor.set_value(0, 42.0)
    assert w.editor.save("Forest hookbill")
    saved = w.editor.values()
    path = data_dir() / "class_library.json"
    data = json.loads(path.read_text())
    assert data["sets"][attribute_identity(small_birds.attribute_names)]["classes"][0]["name"] == "Forest hookbill"
    qtbot.waitUntil(
        lambda: "Forest hookbill" in (w.controller.all_scores.class_names if w.controller.all_scores else ()),
        timeout=10000,
    )
    # rename and save again: one class, new name
    w.editor.name_edit.setText("Forest hook-bill")
    assert w.editor.save()
    assert w.store.names() == ["Forest hook-bill"]
    w.close()

    w2 = make_window()
    assert w2.store.names() == ["Forest hook-bill"]
    box = w2.editor.class_box
    assert box.findData("Forest hook-bill") >= 0
    w2.editor.edit_class("Forest hook-bill")
    np.testing.assert_allclose(w2.editor.values(), saved, atol=1e-4)
    select_item(w2, qtbot, 0)
    qtbot.waitUntil(lambda: "Forest hook-bill" in w2.predictions.names, timeout=10000)
    # deleting removes it from the library and the predictions
    w2.editor.delete_current()
    assert w2.store.names() == []
    qtbot.waitUntil(lambda: "Forest hook-bill" not in w2.predictions.names, timeout=10000)


def test_duplicate_or_dataset_names_are_refused(make_window, small_birds):
    w = make_window()
    w.editor.start_from("dataset", 0)
    assert not w.editor.save(small_birds.classes[1])
    assert "already" in w.editor.status.text()
    assert w.editor.save("Unique")
    w.editor.new_class()
    w.editor.start_from("dataset", 1)
    assert not w.editor.save("unique")


def test_corrupt_library_is_kept_aside_with_a_warning(make_window, qtbot):
    from zsl_desktop.app.widgets import messages

    path = data_dir() / "class_library.json"
    path.write_text('{"format": "zsl-desktop-class-library/1", "sets": [')
    w = make_window()
    aside = list(path.parent.glob("class_library.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_text().startswith('{"format"')
    qtbot.waitUntil(lambda: any("could not be read" in t for _, t in messages.LAST), timeout=5000)
    assert "could not be read" in w.message.text() or w.store.warnings
    assert w.store.names() == []
    w.editor.start_from("dataset", 0)
    assert w.editor.save("After the crash")
    assert aside[0].exists() and path.exists()


def test_import_export_classes(make_window, qtbot, tmp_path):
    from zsl_desktop.app.widgets import messages

    w = make_window()
    w.editor.start_from("dataset", 0)
    w.editor.save("Exported one")
    out = w.editor.export_file(tmp_path / "mine.json")
    assert json.loads(out.read_text())["classes"][0]["name"] == "Exported one"
    assert w.editor.import_file(out) == ["Exported one (2)"]
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "zsl-desktop-classes/1", "attribute_names": ["x"], "classes": []}')
    assert w.editor.import_file(bad) == []
    title, text = messages.LAST[-1]
    assert title == "Import classes" and str(bad) in text and "do not match" in text


def test_import_export_classes_as_csv(make_window, qtbot, tmp_path):
    """The CSV form: one row per class, attribute columns named as in the dataset; a bad cell is named."""
    from zsl_desktop.app.widgets import messages

    w = make_window()
    w.editor.start_from("dataset", 0)
    w.editor.save("Spreadsheet one")
    out = w.editor.export_file(tmp_path / "mine.csv")
    lines = out.read_text().splitlines()
    assert lines[0].split(",")[1:-1] == list(w.controller.dataset.attribute_names)
    assert lines[1].startswith("Spreadsheet one,") and len(lines) == 2
    assert w.editor.import_file(out) == ["Spreadsheet one (2)"]
    np.testing.assert_allclose(
        w.store.get("Spreadsheet one (2)").array(), w.store.get("Spreadsheet one").array(), atol=1e-4
    )
    bad = tmp_path / "bad.csv"
    bad.write_text(lines[0] + "\n" + lines[1].replace("Spreadsheet one", "Too big", 1).rsplit(",", 2)[0] + ",1000,\n")
    assert w.editor.import_file(bad) == []
    title, text = messages.LAST[-1]
    last_attribute = w.controller.dataset.attribute_names[-1]
    assert title == "Import classes" and str(bad) in text and "line 2" in text and repr(last_attribute) in text
