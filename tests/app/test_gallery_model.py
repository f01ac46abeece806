"""The gallery's model: its row lookup, what its filters list and what the delegate paints, on a made-up dataset."""

from types import SimpleNamespace

import numpy as np
from PySide6.QtCore import Qt

from zsl_desktop.app.panels.gallery import GalleryPanel
from zsl_desktop.app.widgets.thumbnails import CorrectRole, ItemRole, KindRole, MarkRole, PaintRole, RankRole


def _dataset(n=500, classes=5):
    rng = np.random.default_rng(0)
    return SimpleNamespace(
        name="made-up",
        classes=[f"class_{i}" for i in range(classes)],
        labels=rng.integers(classes, size=n),
        unseen_classes=np.array([3, 4]),
        has_images=False,
        num_samples=n,
    )


def test_rows_filters_and_the_painted_tuple_follow_the_order(qtbot):
    panel = GalleryPanel()
    qtbot.addWidget(panel)
    panel.set_dataset(_dataset())
    model = panel.model
    assert model.shown is None  # nothing filtered: every item
    model.set_predictions(np.random.default_rng(1).integers(5, size=model.count))
    model.set_filter(split="unseen")
    assert np.array_equal(model.shown, np.flatnonzero(np.isin(model.labels, [3, 4])))
    scores = np.random.default_rng(2).normal(size=model.count).astype(np.float32)
    model.set_rank_scores(scores)
    model.set_filter(rank=True)
    assert np.array_equal(model.order, model.shown[np.argsort(-scores[model.shown], kind="stable")])
    for item in range(model.count):  # the lookup table agrees with a scan of the order
        hits = np.flatnonzero(model.order == item)
        assert model.row_of(item) == (int(hits[0]) if len(hits) else -1)
    model.set_marks({int(model.order[0]): 1})
    for row in (0, 1, len(model.order) - 1):
        index = model.index(row)
        _, kind, correct, mark, rank, name = index.data(PaintRole)
        assert (kind, correct, mark, name) == (
            index.data(KindRole),
            index.data(CorrectRole),
            index.data(MarkRole),
            index.data(Qt.DisplayRole),
        )
        assert rank == index.data(RankRole)


def test_the_page_a_live_request_asks_for_first(qtbot):
    panel = GalleryPanel()
    qtbot.addWidget(panel)
    panel.resize(800, 600)
    panel.show()
    panel.set_dataset(_dataset(2000))
    assert panel.page_request() == (0, None)  # not ranking: no page
    panel.rank_button.setChecked(True)
    first, shown = panel.page_request()
    cell = panel.delegate.cell
    on_screen = (panel.view.viewport().width() // cell.width()) * (panel.view.viewport().height() // cell.height())
    assert first >= on_screen and shown is None
    panel.split_filter.setCurrentIndex(panel.split_filter.findData("seen"))
    assert np.array_equal(panel.page_request()[1], panel.model.shown)


def test_paths_names_and_kinds_match_the_dataset(qtbot, tmp_path):
    """Built with string operations (fast at 100,000 images): the same paths, names and kinds as Path would give."""
    from pathlib import Path

    from zsl_desktop.app.widgets.thumbnails import image_paths_and_names

    relative = ("001.Albatross/Black_Footed_0001.jpg", "b/c.d.png", "plain.jpeg", "dir/.hidden", "x/file.", "/abs/a.b")
    paths, names = image_paths_and_names(tmp_path / "images", relative)
    assert paths == [str(tmp_path / "images" / p) for p in relative]
    assert names == [Path(p).stem for p in relative] == ["Black_Footed_0001", "c.d", "plain", ".hidden", "file.", "a"]
    dataset = _dataset(8)
    dataset.has_images, dataset.image_root, dataset.image_paths = True, tmp_path, tuple(f"x/{i}.jpg" for i in range(8))
    panel = GalleryPanel()
    qtbot.addWidget(panel)
    panel.set_dataset(dataset)
    unseen = set(dataset.unseen_classes.tolist())
    assert panel.model.kinds == ["unseen" if int(c) in unseen else "seen" for c in dataset.labels]
    assert panel.model.names == [str(i) for i in range(8)] and panel.model.paths[3] == str(tmp_path / "x" / "3.jpg")
    panel.model.set_filter(split="unseen")
    assert np.array_equal(panel.model.shown, np.flatnonzero(np.isin(dataset.labels, dataset.unseen_classes)))


def test_predictions_arriving_repaint_the_badges_without_moving_the_view(qtbot):
    """Every image's predictions arrive after the first ones: the user's scroll position stays (no model reset)."""
    panel = GalleryPanel()
    qtbot.addWidget(panel)
    panel.resize(800, 600)
    panel.show()
    dataset = _dataset(3000)
    panel.set_dataset(dataset)
    panel.select_item(0)
    bar = panel.view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0)
    bar.setValue(bar.maximum() // 2)
    where = bar.value()
    resets = []
    panel.model.modelReset.connect(lambda: resets.append(True))
    predicted = np.random.default_rng(3).integers(5, size=3000)
    with qtbot.waitSignal(panel.model.cells_changed, timeout=1000):
        panel.set_predictions(predicted)
    assert bar.value() == where and not resets
    for row in (0, 1234, 2999):
        item = int(panel.model.order[row])
        assert panel.model.index(row).data(PaintRole)[2] == bool(predicted[item] == dataset.labels[item])
    panel.model.set_filter(result="wrong")  # a list of the wrong ones follows the next predictions
    again = np.random.default_rng(4).integers(5, size=3000)
    panel.set_predictions(again)
    assert np.array_equal(panel.model.order, np.flatnonzero(again != dataset.labels))


def test_laying_out_and_scrolling_many_cells_asks_python_for_the_row_count_a_few_times(qtbot, monkeypatch):
    """The view reads the model through a C++ proxy (``with_native_rows``): its layout of every cell no longer
    asks the Python ``rowCount`` once per cell (each call takes the GIL back from the workers)."""
    from zsl_desktop.app.widgets.thumbnails import GalleryModel

    calls = []
    count = GalleryModel.rowCount

    def counted(self, parent=None):
        calls.append(1)
        return count(self, parent)

    monkeypatch.setattr(GalleryModel, "rowCount", counted)
    panel = GalleryPanel()
    qtbot.addWidget(panel)
    panel.resize(800, 600)
    panel.show()
    panel.set_dataset(_dataset(5000))
    bar = panel.view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0)
    qtbot.wait(300)  # the batched layout of every cell runs to its end
    for _ in range(10):
        bar.setValue(bar.value() + 60)
        qtbot.wait(5)
    panel.select_item(4321)  # selection and scrolling to it go through the proxy's rows
    assert panel.current_item() == 4321
    assert int(panel.view.currentIndex().data(ItemRole)) == 4321
    assert len(calls) < 1000  # 5,000+ (one per cell laid out) when the view read the Python model directly


def test_a_ranked_move_reorders_the_rows_without_a_reset_and_keeps_the_selected_image(qtbot):
    """A slider move with the ranking shown: the same rows in a new order, no model reset (which laid out
    every cell again), and the selected image stays the current one at its new row."""
    panel = GalleryPanel()
    qtbot.addWidget(panel)
    panel.resize(800, 600)
    panel.show()
    panel.set_dataset(_dataset(3000))
    panel.select_item(42)
    panel.rank_button.setChecked(True)
    resets = []
    panel.model.modelReset.connect(lambda: resets.append(True))
    rng = np.random.default_rng(5)
    for _ in range(3):
        scores = rng.normal(size=3000).astype(np.float32)
        panel.set_rank_scores(scores)
        assert np.array_equal(panel.model.order, np.argsort(-scores, kind="stable"))
        row = panel.model.row_of(42)
        assert panel.view.currentIndex().row() == row
        assert int(panel.view.currentIndex().data(ItemRole)) == 42 and panel.current_item() == 42
    assert not resets
    panel.split_filter.setCurrentIndex(panel.split_filter.findData("seen"))  # other rows: a reset
    assert resets
