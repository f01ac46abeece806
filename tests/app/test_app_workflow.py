"""Workflows through the real window: open, select, edit a class live, save and restart, export.

Every test drives real widgets on the small built-in birds with a real (briefly trained) MSDN
model; threads are real too, so the tests wait on results with ``qtbot.waitUntil``.
"""

import json

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from zsl_desktop.app.panels.predictions import NO_MODEL
from zsl_desktop.engine.classes import attribute_identity
from zsl_desktop.engine.paths import data_dir
from zsl_desktop.engine.ranking import calibration, log_probability

PNG = b"\x89PNG\r\n\x1a\n"


def _select(window, qtbot, item):
    window.controller.select(item)
    qtbot.waitUntil(lambda: window.image_view.canvas.has_image and window.image_view.item == item, timeout=10000)


def _first_unseen(dataset):
    return int(dataset.splits["test_unseen"][0])


def test_open_select_shows_image_attention_and_predictions(make_window, qtbot, small_birds):
    w = make_window()
    assert w.windowTitle() == "ZSL Desktop — builtin-small"
    assert w.gallery.model.rowCount() == small_birds.num_samples
    qtbot.waitUntil(lambda: len(w.gallery.model._cache) > 0, timeout=10000)  # thumbnails load lazily
    item = _first_unseen(small_birds)
    w.gallery.select_item(item)  # through the gallery, as a click would
    qtbot.waitUntil(lambda: w.image_view.canvas.has_image, timeout=10000)
    assert w.controller.item == item
    assert w.image_view.image.rgb.shape[2] == 3 and w.image_view.image.rgb.mean() > 10  # real pixels
    qtbot.waitUntil(lambda: w.image_view.explained is not None, timeout=10000)
    e = w.image_view.explained
    assert e.attention.shape[0] == small_birds.num_attributes
    assert w.image_view.attributes.count() > 0
    # clicking another attribute shows its map
    second = w.image_view.attributes.item(1)
    w.image_view.attributes.setCurrentItem(second)
    assert w.image_view.attribute == int(second.data(Qt.UserRole + 11))
    np.testing.assert_array_equal(w.image_view.canvas._map, e.attention[w.image_view.attribute])
    qtbot.waitUntil(lambda: len(w.predictions.bars.rows) > 0, timeout=10000)
    rows = w.predictions.bars.rows
    assert len(rows) == min(8, small_birds.num_classes)
    assert abs(sum(p for *_, p in w.predictions.ranking()) - 1.0) < 1e-5
    assert {r.kind for r in rows} <= {"seen", "unseen"}
    truth = small_birds.classes[small_birds.labels[item]]
    assert truth in [r.name for r in rows]
    # the overlay is really drawn: the exported view differs from the plain image where the map is hot
    composed = w.image_view.canvas.composed()
    k = w.image_view.canvas.export_scale()  # small images are exported scaled up by a whole factor
    assert composed.width() == k * w.image_view.image.rgb.shape[1]
    w.image_view.opacity.setValue(100)
    hot = w.image_view.canvas.composed().convertToFormat(composed.Format.Format_RGB888)
    plain = np.repeat(np.repeat(w.image_view.image.rgb, k, axis=0), k, axis=1)
    pixels = np.frombuffer(hot.constBits(), np.uint8).reshape(hot.height(), hot.bytesPerLine())
    pixels = pixels[:, : 3 * hot.width()].reshape(hot.height(), hot.width(), 3)
    assert np.abs(pixels.astype(int) - plain.astype(int)).mean() > 5
    # ground-truth part locations on request
    w.image_view.parts_box.setChecked(True)
    assert len(w.image_view.canvas._points) > 1
    w.image_view.parts_box.setChecked(False)  # only the shown attribute's own part stays marked
    assert {name for *_, name in w.image_view.canvas._points} <= set(w.image_view.focus_parts())


def test_without_a_model_the_app_is_still_usable(make_window, qtbot, small_birds):
    w = make_window(with_model=False)
    assert w.predictions.bars.message == NO_MODEL
    assert w.predictions.train_button.isVisible()
    assert not w.gallery.result_filter.isEnabled()
    _select(w, qtbot, 5)
    assert "No model" in w.image_view.side_hint.text()
    w.editor.start_from("dataset", 0)
    assert w.editor.save("Copy of the first")
    assert "Copy of the first" in w.store.names()
    assert w.training.start_button.isEnabled()


def test_moving_a_slider_changes_the_prediction_live(make_window, qtbot, small_birds):
    w = make_window()
    item = _first_unseen(small_birds)
    _select(w, qtbot, item)
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
    _select(w2, qtbot, 0)
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


def test_own_photos_are_predicted_but_never_added_to_the_dataset(make_window, qtbot, small_birds, tmp_path):
    from PIL import Image

    w = make_window()
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(2):
        Image.open(small_birds.image_path(i)).save(photos / f"mine_{i}.png")
    (photos / "notes.txt").write_text("not an image")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not really a jpeg")
    n = small_birds.num_samples
    w.add_photos([photos, broken])
    qtbot.waitUntil(lambda: w.gallery.model.count == n + 2, timeout=20000)
    assert w.gallery.model.kinds[n:] == ["loose", "loose"]
    qtbot.waitUntil(lambda: w.controller.item == n and w.predictions.raw is not None, timeout=10000)
    assert w.predictions.truth is None
    qtbot.waitUntil(lambda: w.image_view.explained is not None and w.image_view.explained.item == n, timeout=10000)
    # the photo is a copy of dataset image 0, so its scores match that image's
    qtbot.waitUntil(
        lambda: w.controller.all_scores is not None and len(w.controller.all_scores.scores) == n + 2, timeout=10000
    )
    a = w.controller.all_scores.scores
    np.testing.assert_allclose(a[n], a[0], atol=0.05)
    assert small_birds.num_samples == n  # the dataset itself is untouched
    # the split filter shows them apart
    w.gallery.split_filter.setCurrentIndex(w.gallery.split_filter.findData("loose"))
    assert w.gallery.model.rowCount() == 2
    # the broken file was reported by name
    from zsl_desktop.app.widgets import messages

    qtbot.waitUntil(lambda: any(str(broken) in t for _, t in messages.LAST), timeout=5000)


def test_drop_photos_on_the_window(make_window, qtbot, small_birds, tmp_path):
    from PIL import Image

    w = make_window()
    path = tmp_path / "dropped.png"
    Image.open(small_birds.image_path(3)).save(path)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(50, 50), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    w.dropEvent(event)
    qtbot.waitUntil(lambda: w.gallery.model.count == small_birds.num_samples + 1, timeout=20000)
    assert w.gallery.model.names[-1] == "dropped"


def test_gamma_slider_recalibrates(make_window, qtbot, small_birds):
    w = make_window()
    _select(w, qtbot, int(small_birds.splits["test_seen"][0]))
    qtbot.waitUntil(lambda: w.predictions.raw is not None, timeout=10000)
    assert w.predictions.gamma == pytest.approx(w.controller.model.gamma, abs=1e-2)
    w.predictions.set_gamma(-w.predictions._span)  # strongly favour seen classes
    assert w.predictions.ranking()[0][1] == "seen"
    w.predictions.set_gamma(w.predictions._span)  # strongly favour unseen classes
    assert w.predictions.ranking()[0][1] == "unseen"
    w.predictions.reset_gamma.click()
    assert w.predictions.gamma == pytest.approx(w.controller.model.gamma, abs=1e-2)


def test_feature_view_click_selects_an_image(make_window, qtbot, small_birds):
    w = make_window()
    qtbot.waitUntil(lambda: w.features.projection is not None and w.features.projection.final, timeout=20000)
    p = w.features.projection
    assert len(p.rows) == small_birds.num_samples and p.points.shape == (len(p.rows), 2)
    assert "showing" in w.features.caption.text()
    points = w.features.scatter_points()
    assert len(points) == len(p.rows)
    target = points[5]
    w.features.on_point_clicked(None, [target])  # what a click on that point emits
    qtbot.waitUntil(lambda: w.controller.item == int(target.data()), timeout=5000)
    assert len(w.features.marker.points()) == 1
    # generative methods can add synthesised points
    w.features.set_synthesized(np.zeros((3, 2), np.float32), np.array([0, 1, 2]))
    assert len(w.features.synth.points()) == 3
    assert p.method == "tsne" and w.features.space() == "codes"  # the default: t-SNE of the model's codes
    # PCA of the backbone features on request
    w.features.method_box.setCurrentIndex(w.features.method_box.findData("pca"))
    w.features.space_box.setCurrentIndex(w.features.space_box.findData("features"))
    w.features.request()
    qtbot.waitUntil(lambda: w.features.projection.method == "pca", timeout=20000)
    assert "PC1" in w.features.caption.text()


def test_exports(make_window, qtbot, small_birds, tmp_path, monkeypatch):
    from zsl_desktop.app import export

    w = make_window()
    _select(w, qtbot, 4)
    qtbot.waitUntil(lambda: w.image_view.explained is not None and w.predictions.raw is not None, timeout=10000)
    png = export.export_overlay(w.image_view.canvas, tmp_path / "overlay.png")
    assert png.read_bytes()[:8] == PNG
    csv_path = export.predictions_csv(w.predictions.ranking(), tmp_path / "pred.csv", {"image": "x"})
    lines = csv_path.read_text().splitlines()
    assert lines[0] == "# image: x" and lines[1].startswith("rank,class,kind,raw_score")
    assert len(lines) == 2 + small_birds.num_classes
    bars = export.export_bars(w.predictions.bars, tmp_path / "bars.svg")
    assert b"<svg" in bars.read_bytes()[:400]
    assert export.export_bars(w.predictions.bars, tmp_path / "bars.png").read_bytes()[:8] == PNG
    plot = w.export_plot_to(w.features.plot.getPlotItem(), tmp_path / "features.png")
    assert plot.read_bytes()[:8] == PNG and plot.stat().st_size > 1000
    svg = w.export_plot_to(w.training.loss_plot.getPlotItem(), tmp_path / "loss.svg")
    assert b"<svg" in svg.read_bytes()[:400]
    # the menu's Training plot > Validation exports that plot, whichever sub-tab is on show
    asked = []
    monkeypatch.setattr(
        w, "_ask_path", lambda title, name, filters: asked.append((title, name)) or str(tmp_path / name)
    )
    w.training.tabs.setCurrentIndex(0)
    w.export_validation_plot()
    assert asked == [("Export the Validation plot", "validation.png")]
    assert (tmp_path / "validation.png").read_bytes()[:8] == PNG
    rows = w.controller.gallery_predictions()
    out = export.all_predictions_csv(rows, tmp_path / "all.csv")
    assert len(out.read_text().splitlines()) == 1 + small_birds.num_samples


def test_layout_and_settings_are_restored(make_window, qtbot):
    w = make_window(open_dataset=False)
    w.docks["features"].hide()
    w.image_view.opacity.setValue(20)
    w.image_view.cmap.setCurrentText("viridis")
    w.resize(1520, 870)
    size = w.width()
    w.close()
    w2 = make_window(open_dataset=False)
    assert not w2.docks["features"].isVisible()
    assert w2.image_view.opacity.value() == 20
    assert w2.image_view.cmap.currentText() == "viridis"
    # the geometry is saved (offscreen's 800x800 screen makes Qt adjust a restored 1500 px window)
    assert w2.settings.bytes("window/geometry") is not None and size >= 1400
    assert w2.settings.path.parent == data_dir().parent / "config"


def test_opening_a_broken_dataset_reports_the_file_and_keeps_the_app(make_window, qtbot, tmp_path):
    from zsl_desktop.app.widgets import messages

    w = make_window()
    bad = tmp_path / "bad_cub"
    bad.mkdir()
    (bad / "images.txt").write_text("1 a.jpg\nnot-a-number b.jpg\n")
    with qtbot.waitSignal(w.bridge.long_finished, timeout=20000):
        assert w.open_path(bad)
    qtbot.waitUntil(lambda: bool(messages.LAST) and messages.LAST[-1][0] == "Could not open the dataset", timeout=5000)
    assert "images.txt" in messages.LAST[-1][1]
    assert w.controller.dataset.name == "builtin-small"  # the previous dataset stays open
    with qtbot.waitSignal(w.bridge.long_finished, timeout=20000):
        w.open_path(tmp_path)  # not a dataset at all
    assert "cannot tell the dataset format" in messages.LAST[-1][1]


def test_foreign_or_corrupt_checkpoints_are_refused(make_window, qtbot, tmp_path):
    from zsl_desktop.app.widgets import messages

    w = make_window()
    model_before = w.controller.model
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"definitely not a checkpoint")
    with qtbot.waitSignal(w.bridge.long_finished, timeout=20000):
        w.load_checkpoint(junk)
    assert messages.LAST[-1][0] == "Could not load the checkpoint"
    assert str(junk) in messages.LAST[-1][1]
    assert w.controller.model is model_before


def test_save_and_load_a_checkpoint(make_window, qtbot, tmp_path):
    w = make_window()
    path = tmp_path / "saved.pt"
    w.bridge.save_checkpoint(path)
    qtbot.waitUntil(path.exists, timeout=10000)
    with qtbot.waitSignal(w.bridge.model_changed, timeout=30000):
        w.load_checkpoint(path)
    assert w.controller.model.source == str(path)
    assert w.settings.checkpoint_for(w.controller.dataset.fingerprint) == str(path)


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


def test_clicking_a_predicted_class_filters_the_gallery(make_window, qtbot, small_birds):
    w = make_window()
    _select(w, qtbot, 0)
    qtbot.waitUntil(lambda: len(w.predictions.bars.rows) > 0, timeout=10000)
    top = w.predictions.bars.rows[0].name
    w.predictions.bars.row_clicked.emit(top)
    label = small_birds.classes.index(top)
    assert w.gallery.class_filter.currentData() == label
    assert set(small_birds.labels[w.gallery.model.order]) == {label}


def test_checkpoint_for_features_not_extracted_is_refused_without_side_effects(
    make_window, qtbot, tmp_path, trained_model
):
    from zsl_desktop.app.widgets import messages
    from zsl_desktop.engine.checkpoints import save_checkpoint

    method, header, _ = trained_model
    other = save_checkpoint(
        tmp_path / "resnet.pt", {**header, "backbone": "resnet50", "input_size": 448}, method.state_dict()
    )
    w = make_window()
    session = w.bridge.session
    before = (session.backbone, session.input_size, session.store, session.model)
    with qtbot.waitSignal(w.bridge.long_finished, timeout=20000):
        w.load_checkpoint(other)
    assert "resnet50" in messages.LAST[-1][1] and "not extracted" in messages.LAST[-1][1]
    assert (session.backbone, session.input_size, session.store, session.model) == before
    _select(w, qtbot, 1)  # everything still works with the previous model
    qtbot.waitUntil(lambda: w.image_view.explained is not None and w.image_view.explained.item == 1, timeout=10000)


def _toy_xlsa17(folder):
    """A feature-only dataset (xlsa17 res101.mat + att_splits.mat): 5 classes, 4 attributes, 40 images."""
    import scipy.io

    folder.mkdir()
    rng = np.random.default_rng(0)
    k, a, per = 5, 4, 8
    labels = np.repeat(np.arange(k), per)
    centres = rng.normal(size=(k, 32)) * 3
    features = (centres[labels] + rng.normal(size=(len(labels), 32))).T  # D x N, as in the real files
    names = np.empty((k, 1), dtype=object)
    for i in range(k):
        names[i, 0] = np.array([f"animal{i}"])

    def locs(idx):
        return (np.asarray(idx, np.uint16) + 1).reshape(-1, 1)

    seen_rows = np.flatnonzero(labels < 3)
    original = rng.uniform(0, 100, size=(a, k))
    scipy.io.savemat(
        folder / "att_splits.mat",
        {
            "att": original / np.linalg.norm(original, axis=0),
            "original_att": original,
            "allclasses_names": names,
            "trainval_loc": locs(seen_rows[seen_rows % per < 6]),
            "test_seen_loc": locs(seen_rows[seen_rows % per >= 6]),
            "test_unseen_loc": locs(np.flatnonzero(labels >= 3)),
        },
    )
    scipy.io.savemat(folder / "res101.mat", {"features": features, "labels": (labels + 1.0).reshape(-1, 1)})
    return folder


def test_feature_only_dataset(make_window, qtbot, tmp_path):
    w = make_window(open_dataset=False)
    folder = _toy_xlsa17(tmp_path / "toy")
    with qtbot.waitSignal(w.bridge.long_finished, timeout=30000) as done:
        w.open_path(folder)
    assert done.args == ["open", "ok"]
    d = w.controller.dataset
    assert d.features is not None and not d.has_images
    assert w.gallery.empty.isVisibleTo(w.gallery) and "no images" in w.gallery.empty.text()
    assert len(w.editor.sliders) == 4
    method = w.training.method_box.currentData()
    from zsl_desktop.engine.methods import get_method

    assert get_method(method).feature_kind == "pooled"  # attention methods need image grids
    assert w.predictions.bars.message.startswith("No model")
    qtbot.waitUntil(lambda: w.features.projection is not None and w.features.projection.final, timeout=30000)
    assert len(w.features.projection.rows) == d.num_samples


def test_shipped_models_menu(make_window, qtbot):
    from zsl_desktop.app.widgets import messages
    from zsl_desktop.engine.session.opening import shipped_checkpoints

    w = make_window()
    w.fill_shipped_menu()
    actions = [a for a in w.shipped_menu.actions() if a.data()]
    assert [a.data() for a in actions] == [str(p) for p in shipped_checkpoints()]
    if not actions:
        pytest.skip("no shipped models in trained/")
    assert actions[0].text() == "MSDN"
    before = w.controller.model
    with qtbot.waitSignal(w.bridge.long_finished, timeout=30000):
        actions[0].trigger()  # made for the full built-in birds: the small variant refuses it, saying why
    assert "builtin" in messages.LAST[-1][1] and w.controller.model is before


def test_open_dataset_menu_passes_the_format(make_window, monkeypatch, tmp_path):
    from zsl_desktop.app import window_actions

    w = make_window(open_dataset=False)
    monkeypatch.setattr(window_actions.QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path))
    opened = []
    monkeypatch.setattr(w, "open_path", lambda path, fmt=None: opened.append((path, fmt)))
    menu = next(a.menu() for a in w.menuBar().actions() if a.text() == "&File")
    sub = next(a.menu() for a in menu.actions() if a.menu() is not None and a.text() == "Open dataset")
    for action in sub.actions():
        action.trigger()
    assert [fmt for _, fmt in opened] == [None, "cub", "awa2", "sun", "xlsa17", "folder"]
    assert all(path == str(tmp_path) for path, _ in opened)
