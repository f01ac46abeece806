"""Through the real window: the user's own photos, added or dropped, predicted, never added to the dataset.

Every test drives real widgets on the small built-in birds with a real (briefly trained) MSDN
model; threads are real too, so the tests wait on results with ``qtbot.waitUntil``.
"""

import numpy as np
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent


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
