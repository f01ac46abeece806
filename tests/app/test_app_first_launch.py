"""The window on a first launch (issue 19, item 1): predictions on the first birds while the rest is drawn,
then the full set, with the selected bird still selected; closing mid-way stops cleanly.

The small built-in birds are drawn from nothing in this test's home; their features were extracted by the
shared fixture (so the full set's extraction is found done), and the model is one trained for them.
"""

import threading

import pytest

from zsl_desktop.engine.data import builtin_chunks
from zsl_desktop.engine.data.builtin_chunks import BirdDrawing, partial_folder
from zsl_desktop.engine.paths import builtin_dataset_dir
from zsl_desktop.engine.session.opening import DatasetSpec


@pytest.fixture
def small_checkpoint(trained_model, tmp_path):
    from zsl_desktop.engine.checkpoints import save_checkpoint

    method, header, _ = trained_model
    path = tmp_path / "small-msdn.pt"
    save_checkpoint(path, header, method.state_dict())
    return path


@pytest.fixture
def held_back(monkeypatch):
    """Draw in the job's thread, and hold the birds after the first chunk until the test sets the event."""
    release = threading.Event()
    draw = BirdDrawing.draw

    def held(self, images, cancel=None):
        if len(images) == self.total:  # the rest, after the first chunk
            while not release.wait(0.05):
                if cancel is not None and cancel.is_set():
                    break
        return (yield from draw(self, images, cancel))

    monkeypatch.setattr(builtin_chunks, "default_workers", lambda: 0)
    monkeypatch.setattr(BirdDrawing, "draw", held)
    return release


def test_first_birds_predict_before_the_full_set_arrives(qtbot, small_checkpoint, held_back):
    from zsl_desktop.app.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    c = window.controller
    window.open_spec(DatasetSpec(source="builtin", small=True, checkpoints=(str(small_checkpoint),)))
    qtbot.waitUntil(lambda: c.preview and c.model is not None, timeout=120_000)
    assert window.gallery.item_count() == 32 and "first 32 of 80 images" in window.dataset_label.text()
    assert window.bridge.long_name == "open"  # the rest is still coming
    c.select(5)
    qtbot.waitUntil(lambda: window.predictions.raw is not None, timeout=30_000)
    chosen = c.dataset.image_paths[5]

    held_back.set()
    qtbot.waitUntil(lambda: not window.bridge.busy and not c.preview and c.model is not None, timeout=120_000)
    assert window.gallery.item_count() == 80 and "80 images" in window.dataset_label.text()
    assert c.item is not None and c.dataset.image_paths[c.item] == chosen  # the same bird, in the full set
    qtbot.waitUntil(lambda: window.predictions.raw is not None, timeout=30_000)
    window.close()


def test_closing_mid_way_keeps_the_first_birds_for_the_next_launch(qtbot, small_checkpoint, held_back):
    from zsl_desktop.app.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    c = window.controller
    window.open_spec(DatasetSpec(source="builtin", small=True, checkpoints=(str(small_checkpoint),)))
    qtbot.waitUntil(lambda: c.preview and c.model is not None, timeout=120_000)
    window.close()  # cancels the drawing and joins the job
    assert not window.bridge.threads() or not any(t.isRunning() for t in window.bridge.threads())
    root = builtin_dataset_dir(small=True)
    assert not root.exists() and len(list((partial_folder(root) / "images").rglob("*.jpg"))) == 32


def test_cancel_keeps_the_first_birds_and_says_how_to_go_on(qtbot, small_checkpoint, held_back):
    from zsl_desktop.app.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    c = window.controller
    window.open_spec(DatasetSpec(source="builtin", small=True, checkpoints=(str(small_checkpoint),)))
    qtbot.waitUntil(lambda: c.preview and c.model is not None, timeout=120_000)
    window.cancel_button.click()
    qtbot.waitUntil(lambda: not window.bridge.busy, timeout=60_000)
    assert c.preview and c.model is not None and window.gallery.item_count() == 32  # the first birds stay usable
    assert "continues the drawing" in window.message.text()
    assert not window.training.start_button.isEnabled()  # no training on a partial dataset
    window.close()
