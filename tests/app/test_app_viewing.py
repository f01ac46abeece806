"""Through the real window: an image, its attention maps, its predictions, gamma, the feature view.

Every test drives real widgets on the small built-in birds with a real (briefly trained) MSDN
model; threads are real too, so the tests wait on results with ``qtbot.waitUntil``.
"""

import numpy as np
import pytest
from PySide6.QtCore import Qt

from window_steps import first_unseen, select_item
from zsl_desktop.app.panels.predictions import NO_MODEL


def test_open_select_shows_image_attention_and_predictions(make_window, qtbot, small_birds):
    w = make_window()
    assert w.windowTitle() == "ZSL Desktop — builtin-small"
    assert w.gallery.model.rowCount() == small_birds.num_samples
    qtbot.waitUntil(lambda: len(w.gallery.model._cache) > 0, timeout=10000)  # thumbnails load lazily
    item = first_unseen(small_birds)
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
    select_item(w, qtbot, 5)
    assert "No model" in w.image_view.side_hint.text()
    w.editor.start_from("dataset", 0)
    assert w.editor.save("Copy of the first")
    assert "Copy of the first" in w.store.names()
    assert w.training.start_button.isEnabled()


def test_gamma_slider_recalibrates(make_window, qtbot, small_birds):
    w = make_window()
    select_item(w, qtbot, int(small_birds.splits["test_seen"][0]))
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
