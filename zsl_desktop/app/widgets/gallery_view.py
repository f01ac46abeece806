"""The gallery's list view: a QListView whose scrolling moves the pixels already drawn and paints only the strip
that comes into view.

Why: Qt scrolls a view by copying its viewport's pixels (``QWidget::scroll``) only when the viewport is
opaque. The theme's style sheet gives list views a rounded background, which makes Qt paint that background
on the scroll area behind a transparent viewport (it turns the viewport's ``autoFillBackground`` off whenever
it polishes the view), so every scroll step repainted the whole viewport: every cell on screen, ~21 Python
delegate calls a frame in the app's gallery (372 x 738 pixels, 3 columns). Measured with the gallery alone
(100,000 images, scrolled half a row per 16 ms frame, busy 2-core machine): 21.5 cells and 3.2-3.7 ms of GUI
CPU a frame before, 5.8-6.0 cells and 2.1-2.4 ms with the viewport opaque.

So the viewport says it paints every pixel itself (``WA_OpaquePaintEvent``), and does: each paint fills its
rectangle with the view's base colour (the style sheet's background) before the cells are drawn over it.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QListView


class GalleryView(QListView):
    """A QListView with an opaque viewport (see the module): scrolling repaints only what comes into view."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.viewport().setAttribute(Qt.WA_OpaquePaintEvent, True)

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.StyleChange:  # a new style sheet re-polishes the viewport: opaque again
            self.viewport().setAttribute(Qt.WA_OpaquePaintEvent, True)

    def paintEvent(self, event) -> None:
        painter = QPainter(self.viewport())
        painter.fillRect(event.rect(), self.viewport().palette().base())
        painter.end()
        super().paintEvent(event)
