"""Add folder…: many photos through a long job with progress and Cancel; gallery, ranking and export use them."""

from __future__ import annotations

import numpy as np

from zsl_desktop.engine.events import Control
from zsl_desktop.engine.session import Session, adding_photos
from zsl_desktop.engine.session.results import LooseAdded, LooseItem, Progress


class _Loose:
    """What the folder job calls on the session's loose photos: ``add``, which records each batch."""

    def __init__(self):
        self.batches = []

    def add(self, paths):
        self.batches.append(list(paths))
        return LooseAdded(tuple(LooseItem(path=p, name=p) for p in paths))


class _Session:
    """A session whose loose photos only record their batches (no backbone runs)."""

    add_photos_job = Session.add_photos_job

    def __init__(self):
        self.loose = _Loose()


def _folder(tmp_path, n, small_birds=None):
    from PIL import Image

    folder = tmp_path / "many"
    (folder / "deeper").mkdir(parents=True)
    for i in range(n):
        where = folder / ("deeper" if i % 3 else ".") / f"p{i:03d}.png"
        if small_birds is not None:
            Image.open(small_birds.image_path(i % small_birds.num_samples)).save(where)
        else:
            where.write_bytes(b"x")
    (folder / "readme.txt").write_text("no photo")
    return folder


def test_the_folder_job_reports_progress_and_stops_on_cancel(tmp_path):
    folder = _folder(tmp_path, 10)
    session, control = _Session(), Control()
    events = []
    for event in session.add_photos_job([folder], control, events.append, generation=3, batch=4):
        events.append(event)
        if isinstance(event, LooseAdded) and len(session.loose.batches) == 2:
            control.cancel()
    assert [len(b) for b in session.loose.batches] == [4, 4]  # the third batch never ran
    assert all(e.generation == 3 for e in events if isinstance(e, LooseAdded))  # the bridge drops stale ones
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress[0].total == 10 and progress[-1].done == 8 and progress[-1].rate > 0


def test_the_folder_job_caps_the_count_and_says_so(tmp_path):
    folder = _folder(tmp_path, 7)
    session = _Session()
    events = list(session.add_photos_job([folder, tmp_path / "x.doc"], Control(), None, batch=4, limit=5))
    assert sum(len(b) for b in session.loose.batches) == 5
    errors = events[0].errors
    assert any("2 more images" in p for p, _ in errors) and any(p.endswith("x.doc") for p, _ in errors)


def test_add_folder_fills_the_gallery_and_every_view_uses_the_photos(
    make_window, qtbot, small_birds, tmp_path, monkeypatch
):
    monkeypatch.setattr(adding_photos, "FOLDER_BATCH", 8)  # several batches from a few photos
    w = make_window()
    n = small_birds.num_samples
    folder = _folder(tmp_path, 20, small_birds)
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    seen_progress = []
    w.bridge.progress.connect(seen_progress.append)
    w.controller.add_folder([folder])
    qtbot.waitUntil(lambda: w.gallery.model.count == n + 20 and not w.bridge.busy, timeout=180000)
    assert any(isinstance(e, Progress) and e.stage == "photos" and e.done == 21 for e in seen_progress)
    assert w.gallery.model.kinds[n:] == ["loose"] * 20
    from zsl_desktop.app.widgets import messages

    qtbot.waitUntil(lambda: any("broken.jpg" in t for _, t in messages.LAST), timeout=5000)
    # every image's scores, the gallery-wide export and the ranking include the photos
    qtbot.waitUntil(
        lambda: w.controller.all_scores is not None and len(w.controller.all_scores.scores) == n + 20, timeout=20000
    )
    rows = w.controller.gallery_predictions()
    assert len(rows) == n + 20 and {r[0] for r in rows[n:]} == set(w.gallery.model.paths[n:])
    w.editor.start_from("dataset", int(small_birds.unseen_classes[0]))
    w.gallery.rank_button.setChecked(True)
    qtbot.waitUntil(
        lambda: w.gallery.model.rank_scores is not None and np.isfinite(w.gallery.model.rank_scores[n:]).all(),
        timeout=20000,
    )
    w.gallery.rank_button.setChecked(False)
