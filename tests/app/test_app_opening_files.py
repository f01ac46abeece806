"""Through the real window: datasets and checkpoints opened from files and menus, broken or foreign ones refused.

Every test drives real widgets on the small built-in birds with a real (briefly trained) MSDN
model; threads are real too, so the tests wait on results with ``qtbot.waitUntil``.
"""

import numpy as np
import pytest

from window_steps import select_item


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
    select_item(w, qtbot, 1)  # everything still works with the previous model
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
