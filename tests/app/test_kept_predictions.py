"""The model's kept predictions at start-up (issue #19): shown before torch only when proven current, then the
live model takes over with the same selection; a stale snapshot is never shown, and edits made meanwhile count.
"""

from __future__ import annotations


import numpy as np
import pytest

from fresh_interpreter import run_watching_torch

from zsl_desktop.app.bridge import EngineBridge
from zsl_desktop.engine.features import FeatureStore
from zsl_desktop.engine.session.snapshot import PREFIX
from zsl_desktop.engine.session.spec import DatasetSpec


@pytest.fixture
def model_file(tmp_path, small_birds, trained_model):
    """The trained model as a checkpoint file, and the small birds' store folder (emptied of snapshots after)."""
    from zsl_desktop.engine.session import Session

    method, header, _ = trained_model
    session = Session(small_birds)
    session.use_codes(method, header, np.zeros((0, 1), np.float32))
    path = tmp_path / "msdn.pt"
    session.save_model(path)
    folder = FeatureStore.folder_for(small_birds, "efficientnet_lite0", 224)
    yield path, folder
    for kept in folder.glob(f"{PREFIX}*.npz"):  # the store is shared by the session's app tests
        kept.unlink()


def open_with(window, dataset, checkpoint) -> None:
    """Open ``dataset`` with exactly this model file (not the one the last window remembered for it)."""
    spec = DatasetSpec(source="object", dataset=dataset, checkpoints=(str(checkpoint),), use_remembered=False)
    window.open_spec(spec)


def snapshots(folder) -> list:
    return sorted(folder.glob(f"{PREFIX}*.npz"))


def open_and_keep(make_window, qtbot, small_birds, path, folder):
    """A first session with the model file: its every-image scores are kept in the store."""
    window = make_window(open_dataset=False)
    open_with(window, small_birds, path)
    qtbot.waitUntil(lambda: window.controller.all_scores is not None and window.bridge.idle(), timeout=60000)
    qtbot.waitUntil(lambda: len(snapshots(folder)) == 1, timeout=30000)  # written after the scores: slow when loaded
    scores = window.controller.all_scores.scores[: small_birds.num_samples].copy()
    window.close()
    return scores


class KeptPhase:
    """Records what the window shows right after the torch-free DatasetLoaded, and can hold the opening there."""

    def __init__(self, window, hold: bool = False):
        self.window, self.hold, self.seen = window, hold, []
        window.bridge.dataset_loaded.connect(self.on_loaded)  # after the controller's slot: a GUI-thread signal

    def on_loaded(self, loaded) -> None:
        c = self.window.controller
        self.seen.append((c.kept is not None, c.model, self.window.gallery.model.predicted is not None))


@pytest.fixture
def held_opening(monkeypatch):
    """The opening waits before torch until ``release()``: the test acts in the kept phase."""
    held = {"on": True}
    release = EngineBridge.release_opening

    def maybe_release(self):
        if not held["on"]:
            release(self)

    def release_now(window):
        held["on"] = False
        release(window.bridge)

    monkeypatch.setattr(EngineBridge, "release_opening", maybe_release)
    return release_now


def test_current_kept_predictions_show_before_the_model_then_live_ones_replace_them(
    make_window, qtbot, small_birds, model_file, held_opening
):
    path, folder = model_file
    kept_scores = open_and_keep(make_window, qtbot, small_birds, path, folder)

    window = make_window(open_dataset=False)
    phase = KeptPhase(window)
    open_with(window, small_birds, path)
    qtbot.waitUntil(lambda: bool(phase.seen), timeout=30000)
    assert phase.seen == [(True, None, True)]  # kept scores, no model yet, gallery badges from them
    c = window.controller
    c.select(5)
    np.testing.assert_array_equal(window.predictions.raw, kept_scores[5])
    assert "kept scores" in window.predictions.subtitle.text()
    assert c.model is None and not window.predictions.gamma_spin.isEnabled()  # γ waits for the model

    held_opening(window)
    qtbot.waitUntil(lambda: c.model is not None and c.all_scores is not None and window.bridge.idle(), timeout=60000)
    assert c.item == 5 and c.kept is None  # the selection stayed; the live model took over
    qtbot.waitUntil(lambda: window.image_view.image is not None and window.image_view.image.item == 5, timeout=10000)
    qtbot.waitUntil(lambda: c.live is not None and c.live.item == 5, timeout=10000)
    np.testing.assert_allclose(window.predictions.raw, kept_scores[5], rtol=1e-5, atol=1e-5)
    assert "kept scores" not in window.predictions.subtitle.text()
    assert len(snapshots(folder)) == 1  # the same key: the same file


def test_a_stale_snapshot_is_not_shown_and_live_predictions_come_as_before(
    make_window, qtbot, small_birds, model_file, tmp_path
):
    path, folder = model_file
    open_and_keep(make_window, qtbot, small_birds, path, folder)
    other = tmp_path / "other.pt"  # the same model in a file with other bytes: another checkpoint
    other.write_bytes(path.read_bytes() + b"\0")
    window = make_window(open_dataset=False)
    phase = KeptPhase(window)
    open_with(window, small_birds, other)
    c = window.controller
    qtbot.waitUntil(lambda: c.model is not None and c.all_scores is not None and window.bridge.idle(), timeout=60000)
    assert phase.seen == [(False, None, False)]  # asked, none current for that file: nothing shown early
    c.select(4)
    qtbot.waitUntil(lambda: c.live is not None and c.live.item == 4, timeout=10000)  # live predictions as before
    assert window.predictions.raw is not None


def test_a_class_saved_since_makes_the_snapshot_stale(make_window, qtbot, small_birds, model_file):
    path, folder = model_file
    open_and_keep(make_window, qtbot, small_birds, path, folder)
    window = make_window(open_dataset=False)
    window.store.set_dataset(small_birds)
    window.store.save_class("my pale bird", small_birds.class_attributes[0])
    phase = KeptPhase(window)
    open_with(window, small_birds, path)
    c = window.controller
    qtbot.waitUntil(lambda: c.model is not None and c.all_scores is not None and window.bridge.idle(), timeout=60000)
    assert phase.seen == [(False, None, False)]  # found, but not current for these classes: not shown
    assert "my pale bird" in c.all_scores.class_names  # the live scores came as before
    qtbot.waitUntil(lambda: len(snapshots(folder)) == 2, timeout=10000)  # and were kept under their own key


def test_an_edit_in_the_kept_phase_ends_the_kept_scores_and_reaches_the_live_model(
    make_window, qtbot, small_birds, model_file, held_opening
):
    path, folder = model_file
    open_and_keep(make_window, qtbot, small_birds, path, folder)
    window = make_window(open_dataset=False)
    phase = KeptPhase(window)
    open_with(window, small_birds, path)
    qtbot.waitUntil(lambda: bool(phase.seen), timeout=30000)
    c = window.controller
    c.select(2)
    assert window.predictions.raw is not None
    window.store.save_class("my pale bird", small_birds.class_attributes[0])  # no model to score it yet
    assert c.kept is None and window.gallery.model.predicted is None  # kept scores are not this class set's
    c.select(3)  # no crash, no scores: the model is loading
    assert window.predictions.raw is None

    held_opening(window)
    qtbot.waitUntil(lambda: c.live is not None and c.live.item == 3, timeout=60000)
    assert "my pale bird" in c.live.class_names  # the edit reached the live model
    assert "my pale bird" in window.predictions.names


SHOW_KEPT_IN_A_FRESH_PROCESS = """
    from zsl_desktop.app.main_window import MainWindow
    from zsl_desktop.engine.data import load_builtin
    from zsl_desktop.engine.session.spec import DatasetSpec
    app = QApplication(["zsl-desktop-test"])
    window = MainWindow(freeze_gc=True)
    window.show()
    seen = []

    def on_loaded(loaded):  # after the controller's slot: what the window shows before torch
        window.controller.select(1)
        seen.append((window.controller.kept is not None, window.predictions.raw is not None, "torch" in sys.modules))

    window.bridge.dataset_loaded.connect(on_loaded)
    dataset = load_builtin(small=True, root=sys.argv[1])
    window.open_spec(DatasetSpec(source="object", dataset=dataset, checkpoints=(sys.argv[2],), use_remembered=False))
    while window.controller.model is None and window.bridge.busy:
        app.processEvents()
    print("kept phase:", seen)
    print("torch imported on the GUI thread:", importers)
    window.close()
    """


def test_kept_predictions_are_on_screen_before_torch_is_imported(make_window, qtbot, small_birds, model_file):
    """In a fresh interpreter (this one imported torch long ago): the window and the opening job."""
    path, folder = model_file
    open_and_keep(make_window, qtbot, small_birds, path, folder)
    done = run_watching_torch(SHOW_KEPT_IN_A_FRESH_PROCESS, str(small_birds.root), str(path))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "kept phase: [(True, True, False)]" in done.stdout, done.stdout + done.stderr[-2000:]
    assert "torch imported on the GUI thread: [False]" in done.stdout, done.stdout  # once, by the opening job
