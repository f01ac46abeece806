"""The overlay's marks: legible part labels that never overlap, and the attention map's peak."""

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSizeF

from zsl_desktop.app.widgets.label_placement import LabelRequest, place_labels
from zsl_desktop.app.widgets.overlay import OverlayCanvas, view_square
from zsl_desktop.engine.data.bird_attributes import PART_NAMES
from zsl_desktop.engine.localisation import peak_location


def _no_overlaps(rects):
    rects = [r for r in rects if r is not None]
    return all(not a.intersects(b) for i, a in enumerate(rects) for b in rects[i + 1 :])


def _crowded_parts(seed=0):
    """CUB's 15 parts as they sit on a small bird: within ~25% of the image around the head and body."""
    rng = np.random.default_rng(seed)
    xy = 0.4 + 0.25 * rng.random((len(PART_NAMES), 2))
    return [(float(x), float(y), name) for (x, y), name in zip(xy, PART_NAMES)]


def _canvas(qtbot, size=(360, 360)):
    canvas = OverlayCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(*size)
    canvas.set_image(np.full((300, 300, 3), 90, np.uint8))
    return canvas


def test_place_labels_never_overlap_and_give_priority_the_spot():
    bounds = QRectF(0, 0, 300, 300)
    anchors = [QPointF(150 + 3 * i, 150 + 2 * (i % 3)) for i in range(15)]  # a tight cluster
    requests = [LabelRequest(a, QSizeF(60, 16), priority=10 if i == 7 else 0) for i, a in enumerate(anchors)]
    keep_out = [QRectF(a.x() - 4, a.y() - 4, 8, 8) for a in anchors]
    rects = place_labels(requests, bounds, keep_out)
    assert rects[7] is not None  # the emphasised one is always labelled
    assert _no_overlaps(rects)
    placed = [r for r in rects if r is not None]
    assert all(bounds.contains(r) for r in placed)
    assert not any(r.intersects(k) for r in placed for k in keep_out)  # no label hides a dot


def test_all_parts_labels_are_legible_and_the_attribute_part_is_always_labelled(qtbot):
    canvas = _canvas(qtbot)
    canvas.set_part_points(_crowded_parts(), focus=("crown",))
    marks = canvas.marks()
    parts = [m for m in marks if m.kind in ("part", "focus")]
    assert len(parts) == len(PART_NAMES)  # every dot is drawn
    assert _no_overlaps([m.label for m in marks])
    focus = [m for m in marks if m.kind == "focus"]
    assert [m.text for m in focus] == ["crown"] and focus[0].label is not None
    assert {m.text for m in parts} >= {"L eye", "R wing"}  # short names


def test_sgma_part_labels_do_not_overlap_when_boxes_share_a_corner(qtbot):
    canvas = _canvas(qtbot)
    canvas.set_part_boxes(np.array([[0.2, 0.2, 0.6, 0.6], [0.2, 0.2, 0.5, 0.7], [0.21, 0.22, 0.8, 0.5]]))
    boxes = [m for m in canvas.marks() if m.kind == "box"]
    assert [m.text for m in boxes] == ["part 1", "part 2", "part 3"]
    assert all(m.label is not None for m in boxes)
    assert _no_overlaps([m.label for m in boxes])
    assert len({m.color for m in boxes}) == 3  # each box has its own colour, as its crop's frame


def test_peak_marker_sits_on_the_maximum_of_the_models_map(qtbot):
    canvas = _canvas(qtbot, (500, 380))  # oblong widget: the view square is not the whole widget
    grid = np.zeros((7, 7), np.float32)
    grid[1, 5] = 1.0
    grid[2, 5] = 0.5
    canvas.set_map(grid, "attention")
    assert canvas.peak == peak_location(grid)  # the point the localisation score uses
    x, y = canvas.peak
    assert 5 / 7 <= x <= 6 / 7 and 1 / 7 <= y <= 2.5 / 7
    target = canvas._target()
    view = view_square(target)
    peak = [m for m in canvas.marks() if m.kind == "peak"]
    assert len(peak) == 1 and peak[0].label is not None
    assert abs(peak[0].anchor.x() - (view.left() + x * view.width())) < 1e-6
    assert abs(peak[0].anchor.y() - (view.top() + y * view.height())) < 1e-6
    # a flat map has no peak, and opacity 0 hides the marker with the map
    canvas.set_opacity(0.0)
    assert not [m for m in canvas.marks() if m.kind == "peak"]
    canvas.set_map(np.ones((7, 7), np.float32), "flat")
    canvas.set_opacity(0.5)
    assert canvas.peak is None


def test_caption_says_how_far_the_peak_is_from_the_named_part(qtbot):
    canvas = _canvas(qtbot)
    grid = np.zeros((7, 7), np.float32)
    grid[3, 3] = 1.0  # peak at the centre
    canvas.set_map(grid, "attention for “crown color: red”")
    x, y = canvas.peak  # a square image: the view is the whole image
    canvas.set_part_points([(x, y + 0.3, "crown")], focus=("crown",))  # 0.3 of the view below the peak
    text = canvas.caption_text()
    assert "0.30 of the view from the crown" in text


def test_export_draws_the_marks_too(qtbot):
    canvas = _canvas(qtbot)
    plain = canvas.composed()
    canvas.set_part_points([(0.25, 0.25, "beak")], focus=("beak",))
    marked = canvas.composed()
    k = canvas.export_scale()
    assert k == 3 and marked.width() == 900  # a 300 px image is exported at 900 px so labels stay small
    assert marked.size() == plain.size()
    assert marked.pixelColor(75 * k, 75 * k) != plain.pixelColor(75 * k, 75 * k)  # the focus dot at 0.25


def test_a_dot_without_room_for_its_label_is_named_on_hover(qtbot):
    from zsl_desktop.app.widgets.overlay_marks import mark_at

    canvas = _canvas(qtbot, (240, 240))
    canvas.set_part_points(_crowded_parts(), focus=())
    marks = canvas.marks()
    assert any(m.label is None for m in marks)  # 15 parts in a small area: some labels have no room
    for m in marks:
        assert mark_at(marks, m.anchor) == m  # the pointer on a dot names that dot
    assert mark_at(marks, QPointF(5, 5)) is None
