"""Loose photos outside the model's domain: the warning, and real bird photos going to the real-bird model."""

from pathlib import Path

import numpy as np
import pytest


def chelsea() -> Path:
    import skimage

    return Path(skimage.__file__).parent / "data" / "chelsea.png"


def select_photo(w, qtbot, paths):
    n = w.gallery.model.count
    w.add_photos([str(p) for p in paths])
    qtbot.waitUntil(lambda: w.gallery.model.count == n + len(paths), timeout=30000)
    w.controller.select(n)
    qtbot.waitUntil(
        lambda: w.controller.live is not None and w.controller.live.item == n and w.predictions.raw is not None,
        timeout=30000,
    )
    return n


def test_a_cat_photo_gets_the_out_of_domain_warning_and_a_drawing_does_not(make_window, qtbot, small_birds, tmp_path):
    from PIL import Image

    from zsl_desktop.app.panels.predictions import OUT_OF_DOMAIN

    w = make_window()
    drawing = tmp_path / "drawing.png"
    Image.open(small_birds.image_path(int(small_birds.splits["test_unseen"][0]))).save(drawing)
    select_photo(w, qtbot, [drawing])
    assert not w.controller.live.out_of_domain and not w.predictions.domain_warning.isVisibleTo(w.predictions)
    assert w.controller.live.predicted_by == ""  # a drawing stays with the drawings' model
    select_photo(w, qtbot, [chelsea()])
    live = w.controller.live
    assert live.out_of_domain and live.predicted_by == ""  # nobody knows cats: the current model, warned
    assert w.predictions.domain_warning.isVisibleTo(w.predictions)
    assert "does not know this kind of image" in OUT_OF_DOMAIN
    w.controller.select(0)  # a dataset image: no warning
    qtbot.waitUntil(lambda: w.controller.live is not None and w.controller.live.item == 0, timeout=30000)
    assert not w.predictions.domain_warning.isVisibleTo(w.predictions)


def test_a_real_bird_photo_gets_cub_species_from_the_real_bird_model(make_window, qtbot, shared_data):
    from zsl_desktop.engine.data import load_dataset
    from zsl_desktop.engine.real_birds import TITLE, load_real_bird_model

    if load_real_bird_model() is None:
        pytest.skip("the real-bird model is not installed")
    cub = load_dataset(shared_data / "CUB_200_2011")
    photo = cub.image_path(int(cub.splits["test_seen"][0]))
    w = make_window()
    select_photo(w, qtbot, [photo])
    live = w.controller.live
    assert live.predicted_by == TITLE and not live.out_of_domain
    assert len(live.class_names) >= 200 and "017.Cardinal" in live.class_names
    assert w.predictions.source_label.isVisibleTo(w.predictions) and TITLE in w.predictions.source_label.text()
    top = w.predictions.top_class()
    assert top in live.class_names[:200]
    offset = w.predictions.gamma_offset
    assert np.isfinite(offset)
