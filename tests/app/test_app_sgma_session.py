"""After an SGMA explanation, the rest of the session still works (issue 14, item 2).

The explanation runs the backbone on the part crops inside ``torch.inference_mode``; when that was the
process's first read of the backbone weights, the cached weights were inference tensors and every later
backbone ("Add photos", "Open dataset" on a folder without features) failed to load them.
"""

import shutil

import numpy as np
import pytest


@pytest.fixture(scope="module")
def sgma_model(small_birds, feature_home):
    """SGMA after two epochs on the small birds, the second training its crop heads; made once for the module.

    (The module-scoped ``_gui_thread_budget`` of conftest.py is already in force.)
    """
    from zsl_desktop.engine.session import Session
    from zsl_desktop.engine.training import TrainConfig, train
    from zsl_desktop.engine.events import run_to_end

    mp = pytest.MonkeyPatch()
    mp.setenv("ZSL_DESKTOP_HOME", str(feature_home.parent.parent))
    try:
        session = Session(small_birds)
        run_to_end(session.prepare_features())
        config = TrainConfig(method="sgma", epochs=2, seed=0, hparams={"attention_epochs": 1})
        finished = run_to_end(train(small_birds, session.features, config))
    finally:
        mp.undo()
    return finished.method, finished.header, "test sgma (2 epochs)"


def _folder_dataset(base, birds):
    """A tiny folder-format dataset (3 classes, 4 photos each, no features yet) cut from the small birds."""
    root = base / "three_birds"
    classes = [int(c) for c in birds.seen_classes[:2]] + [int(birds.unseen_classes[0])]
    lines = ["class,split," + ",".join(f"a{i}" for i in range(birds.num_attributes))]
    for k, c in enumerate(classes):
        name = f"bird{k}"
        lines.append(
            f"{name},{'seen' if k < 2 else 'unseen'}," + ",".join(f"{v:.3f}" for v in birds.class_attributes[c])
        )
        folder = root / "images" / name
        folder.mkdir(parents=True)
        for row in np.flatnonzero(birds.labels == c)[:4]:
            shutil.copy(birds.image_path(int(row)), folder / f"{row}.png")
    (root / "classes.csv").write_text("\n".join(lines) + "\n")
    return root


def test_after_an_sgma_explanation_photos_and_another_dataset_still_open(
    make_window, qtbot, small_birds, sgma_model, tmp_path, monkeypatch
):
    from zsl_desktop.engine import backbones

    model = sgma_model
    monkeypatch.setattr(backbones, "_cache", {})  # the weights are read for the first time below, as in a new session
    w = make_window(model=model)
    item = int(small_birds.splits["test_unseen"][0])
    w.controller.select(item)
    qtbot.waitUntil(lambda: w.image_view.explained is not None and w.image_view.explained.item == item, timeout=30000)
    assert w.image_view.explained.crops, "the explanation ran the backbone on its part crops"
    assert w.image_view.parts_strip.isVisibleTo(w.image_view)

    # Add photos: the app's backbone is built from the cached weights.
    failures = []
    w.bridge.short_failed.connect(lambda kind, message: failures.append((kind, message)))
    photo = shutil.copy(small_birds.image_path(0), tmp_path / "my_bird.png")
    w.add_photos([photo])
    qtbot.waitUntil(lambda: bool(w.controller.loose) or bool(failures), timeout=30000)
    assert not failures, failures
    assert [p.name for p in w.controller.loose] == ["my_bird.png"]
    qtbot.waitUntil(w.bridge.idle, timeout=30000)

    # Open another dataset: its features are extracted with a fresh backbone.
    finished = []
    w.bridge.long_finished.connect(lambda name, status: finished.append((name, status)))
    w.open_path(_folder_dataset(tmp_path, small_birds))
    qtbot.waitUntil(lambda: ("open", "ok") in finished or ("open", "failed") in finished, timeout=60000)
    assert ("open", "ok") in finished, getattr(w, "last_warning", None)
    assert w.controller.dataset.name == "three_birds"

    # The birds' part boxes and crops are gone with their dataset.
    assert not w.image_view.parts_strip.isVisibleTo(w.image_view)
    assert w.image_view.canvas._boxes is None


def test_loading_an_sgma_model_reports_a_count_and_a_rate_for_its_eta(small_birds, sgma_model, tmp_path):
    """SGMA's first load encodes every image's part crops (about a minute on the built-in birds): the
    job reports images done out of all, with a rate, instead of a bar with no count."""
    from zsl_desktop.engine.session.results import Progress
    from zsl_desktop.engine.checkpoints import save_checkpoint
    from zsl_desktop.engine.session import Session
    from zsl_desktop.engine.events import run_to_end

    method, header, _ = sgma_model
    path = save_checkpoint(tmp_path / "sgma_small.pt", header, method.state_dict())
    session = Session(small_birds)
    run_to_end(session.prepare_features())
    events = []
    summary = session.load_model(path, emit=events.append)
    assert session.model is not None and summary.source == str(path) and summary.method == "sgma"
    counts = [(e.done, e.total) for e in events if isinstance(e, Progress) and e.stage == "model"]
    assert counts and all(total == small_birds.num_samples for _, total in counts)
    assert [d for d, _ in counts] == sorted(d for d, _ in counts) and counts[-1][0] == small_birds.num_samples
    assert all(e.rate > 0 for e in events) and "part crops" in events[0].message
