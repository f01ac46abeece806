"""The panels with the other kinds of method: part-based (SGMA) and generative (GSMFlow)."""

import numpy as np

# What the two GSMFlow tests need is a trained flow (the clusters are its samples) and a classifier: the boundary
# mining before the first epoch (a relation network, 30 epochs, and 40 mining steps) and the final classifier's
# average of 5 softmaxes change no assertion here (tests/test_gsmflow*.py and test_gsmflow_draws.py check them).
# With the defaults, training took 56 of this file's 66 CPU s (one thread, busy machine); with these, 13.5.
GSMFLOW_QUICK = {"relation_epochs": 1, "mining_steps": 1, "classifier_draws": 1}


def test_part_based_model_fills_the_parts_slot(make_window, qtbot, small_birds, train_quickly):
    model = train_quickly("sgma", epochs=2)
    w = make_window(model=model)
    item = int(small_birds.splits["test_unseen"][0])
    w.controller.select(item)
    qtbot.waitUntil(lambda: w.image_view.explained is not None and w.image_view.explained.item == item, timeout=20000)
    e = w.image_view.explained
    assert e.part_boxes is not None and e.part_boxes.shape[1] == 4
    assert np.all((e.part_boxes >= 0) & (e.part_boxes <= 1))
    assert len(e.crops) == len(e.part_boxes) and e.crops[0].ndim == 3
    assert w.image_view.parts_strip.isVisibleTo(w.image_view)
    assert w.image_view.canvas._boxes is e.part_boxes
    assert "Discriminative parts" in w.image_view.parts_title.text()
    composed = w.image_view.canvas.composed()  # boxes are burnt into the exported view too
    assert composed is not None


def test_generative_model_shows_synthesised_clusters(make_window, qtbot, small_birds, train_quickly):
    model = train_quickly("gsmflow", epochs=2, **GSMFLOW_QUICK)
    w = make_window(model=model)
    assert w.features.space() == "features"  # synthetic features live in the backbone's space
    qtbot.waitUntil(lambda: w.features.projection is not None and w.features.projection.final, timeout=60000)
    p = w.features.projection
    assert p.extra_points is not None and len(p.extra_points) > 0
    assert set(np.unique(p.extra_labels)) <= set(small_birds.unseen_classes.tolist())
    assert len(w.features.synth.points()) == len(p.extra_points)
    w.controller.select(0)
    qtbot.waitUntil(lambda: w.predictions.raw is not None, timeout=10000)
    # the explanation is its own job, after the predictions: "computing…" until it answers (a failure seen once)
    qtbot.waitUntil(
        lambda: "no attention" in w.image_view.side_hint.text().lower() or w.image_view.explained is not None,
        timeout=10000,
    )


def test_the_class_being_drawn_gets_a_synthetic_cluster_that_follows_the_sliders(
    make_window, qtbot, small_birds, train_quickly
):
    """GSMFlow + PCA of backbone features: the draft's synthesised features sit on the map and move with it."""
    model = train_quickly("gsmflow", epochs=2, **GSMFLOW_QUICK)
    w = make_window(model=model)
    w.features.method_box.setCurrentIndex(w.features.method_box.findData("pca"))
    w.features.request()
    qtbot.waitUntil(lambda: w.features.draft_map() is not None, timeout=60000)
    unseen = int(small_birds.unseen_classes[0])
    w.editor.start_from("dataset", unseen)
    w.editor.name_edit.setText("Mine")
    qtbot.waitUntil(lambda: w.features.draft_points is not None, timeout=20000)
    first = w.features.draft_points
    assert first.shape == (60, 2) and np.isfinite(first).all()
    assert len(w.features.draft_synth.points()) == 60
    # the cluster sits among the drawn class's real images rather than the other classes' (on average)
    p = w.features.projection
    labels = small_birds.labels[p.rows]
    centres = {int(c): p.points[labels == c].mean(0) for c in np.unique(labels)}
    distance = {c: float(np.linalg.norm(first.mean(0) - centre)) for c, centre in centres.items()}
    assert distance[unseen] < np.median(list(distance.values()))
    # moving sliders moves the cluster (same seed: it shifts, it is not redrawn at random)
    for i in range(small_birds.num_attributes):
        w.editor.set_value(i, 0.0 if small_birds.class_attributes[unseen, i] > 50 else 100.0)
    qtbot.waitUntil(
        lambda: w.features.draft_points is not None and not np.allclose(w.features.draft_points, first), timeout=20000
    )
    # t-SNE has no map for new points: the crosses go
    w.features.method_box.setCurrentIndex(w.features.method_box.findData("tsne"))
    w.features.request()
    qtbot.waitUntil(
        lambda: (
            w.features.projection is not None and w.features.projection.method == "tsne" and w.features.projection.final
        ),
        timeout=60000,
    )
    qtbot.waitUntil(
        lambda: len(w.features.draft_synth.points()) == 0 and w.features.draft_points is None, timeout=20000
    )
