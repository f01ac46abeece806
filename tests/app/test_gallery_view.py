"""The gallery's view scrolls by moving the pixels already drawn: only the cells coming into view are painted
again (widgets/gallery_view.py), under the theme's style sheet, which made every scroll step repaint every cell."""

from types import SimpleNamespace

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from zsl_desktop.app import theme
from zsl_desktop.app.panels.gallery import GalleryPanel


def _dataset(n=3000, classes=5):
    rng = np.random.default_rng(0)
    return SimpleNamespace(
        name="made-up",
        classes=[f"class_{i}" for i in range(classes)],
        labels=rng.integers(classes, size=n),
        unseen_classes=np.array([3, 4]),
        has_images=True,  # else the gallery shows a note instead of its view
        image_root="/nowhere",  # never read: the thumbnails asked for stay placeholders
        image_paths=tuple(f"birds/{i}.jpg" for i in range(n)),
        num_samples=n,
    )


def _shown_gallery(qtbot):
    """A gallery on screen whose delegate notes each cell it paints (``panel.painted``: their rows)."""
    panel = GalleryPanel()
    qtbot.addWidget(panel)
    panel.painted = []
    paint = panel.delegate.paint
    # Before its first paint: Qt's calls into Python find the override then (set later, it went unseen).
    panel.delegate.paint = lambda painter, option, index: (
        panel.painted.append(index.row()),
        paint(painter, option, index),
    )
    panel.setStyleSheet(theme.STYLE)  # the app's list-view background (a rounded one) is what made it repaint all
    panel.resize(420, 800)
    panel.show()
    qtbot.waitExposed(panel)
    panel.set_dataset(_dataset())
    bar = panel.view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0)
    return panel


def _cells_painted_by(qtbot, panel, action) -> int:
    qtbot.wait(50)  # whatever was due is painted before counting
    panel.painted.clear()
    action()
    qtbot.wait(50)
    return len(panel.painted)


def test_a_scroll_step_paints_the_cells_coming_into_view_not_every_cell_on_screen(qtbot):
    panel = _shown_gallery(qtbot)
    view, cell = panel.view, panel.delegate.cell
    columns = view.viewport().width() // cell.width()
    on_screen = _cells_painted_by(qtbot, panel, view.viewport().update)
    assert on_screen >= 4 * columns, "a full repaint draws every cell on screen"
    bar = view.verticalScrollBar()
    step = _cells_painted_by(qtbot, panel, lambda: bar.setValue(bar.value() + cell.height() // 2))
    assert 0 < step <= 2 * columns < on_screen  # the strip of half a row that came into view: at most two rows


def test_the_viewport_paints_its_own_background_and_stays_opaque_when_restyled(qtbot):
    panel = _shown_gallery(qtbot)
    viewport = panel.view.viewport()
    panel.setStyleSheet(theme.STYLE + "\nQLabel { color: red; }")  # a new style sheet polishes the view again
    assert viewport.testAttribute(Qt.WA_OpaquePaintEvent)
    bar = panel.view.verticalScrollBar()
    bar.setValue(bar.value() + 37)
    image = viewport.grab().toImage()
    cell = panel.delegate.cell
    # The 3-pixel margin around each cell is the view's base colour, not what was there before (or black).
    for x, y in ((1, 1), (cell.width() - 1, cell.height() // 2), (1, image.height() - 2)):
        assert image.pixelColor(x, y) == QColor(viewport.palette().base().color()), (x, y)
