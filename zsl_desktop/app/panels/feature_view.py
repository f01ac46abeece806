"""Feature view: a 2-D map of the images' pooled features, coloured by class.

Seen classes are round, unseen classes triangles; clicking a point selects
its image everywhere. Projections (PCA, or openTSNE's t-SNE, of a per-class
sample up to the cap, or of every image) are computed on the bridge's worker;
t-SNE frames animate as they arrive, fewer a second when a frame is slow to draw.
Generative methods can add their synthesised features as crosses through
``set_synthesized(points, labels)``; on a PCA map of backbone features, the
class being drawn in the editor gets its own cluster of stars, which moves
with the sliders (``draft_map`` / ``set_draft_cluster``).

The plot (pyqtgraph) can be built after the window's first predictions (``lazy_plot``,
``build_plot``; this panel is a tab behind Training at start): whatever draws on it builds it first.

What pyqtgraph draws (the items, the figure's words, labels, crosses, stars)
is ``widgets.feature_plot``; this panel decides what to draw and when. The
projections themselves are the engine's, asked for by ``feature_map_requests``.
"""

from __future__ import annotations

import time

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QTimer, Signal, Slot
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from zsl_desktop.app import theme
from zsl_desktop.engine.projection import MAX_CAP, PCA_CAP

if TYPE_CHECKING:
    import pyqtgraph as pg

    from zsl_desktop.app.widgets.feature_plot import FeaturePlot

MAX_LABELS = 12
PER_CLASS_ITEMS = 120  # up to this many classes, one scatter item per class (fast updates)
FRAME_MS = 80  # t-SNE frames are drawn at most this often, or 4x the last frame's drawing time when longer


class FeatureViewPanel(QWidget):
    item_selected = Signal(int)
    projection_requested = Signal(str, int, str)  # method, cap, space
    export_plot_requested = Signal()
    plot_built = Signal(object)  # the PlotWidget, once ``build_plot`` has made it

    def __init__(self, parent=None, lazy_plot: bool = False):
        super().__init__(parent)
        self.dataset = None
        self.projection = None
        self.method_box = QComboBox(self)
        self.method_box.addItem("t-SNE", "tsne")
        self.method_box.addItem("PCA", "pca")
        self.space_box = QComboBox(self)
        self.space_box.addItem("attributes (model)", "codes")
        self.space_box.addItem("features (backbone)", "features")
        for combo in (self.space_box, self.method_box):
            combo.setMinimumContentsLength(11)
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.space_box.setToolTip(
            "Project the model's per-image attribute scores (the space classes are "
            "compared in) or the raw pooled backbone features"
        )
        self.cap = QSpinBox(self)
        self.cap.setRange(100, MAX_CAP)
        self.cap.setSingleStep(500)
        self.cap.setValue(1500)
        self.cap.setPrefix("≤ ")
        self.cap.setGroupSeparatorShown(True)
        self.cap.setToolTip(
            "At most this many points: images are subsampled per class beyond it. Every image is fine: "
            "t-SNE of 100,000 images takes minutes (with progress; Project again or another choice cancels it)"
        )
        self.run_button = QPushButton("Project", self)
        self.run_button.setToolTip("Compute the map again with these settings")
        self.run_button.setObjectName("primary")
        self.export_button = QPushButton("Export…", self)
        self.export_button.setToolTip("Save this plot as PNG or SVG")
        self.caption = QLabel("Open a dataset to see its feature space.", self)  # status; wraps, never cut
        self.caption.setObjectName("hint")
        self.caption.setWordWrap(True)
        self._figure: FeaturePlot | None = None  # the plot and what is drawn on it (``build_plot``)
        self._plot_page = QWidget(self)
        QVBoxLayout(self._plot_page).setContentsMargins(0, 0, 0, 0)
        self.draft_points: np.ndarray | None = None
        self.hover_label = theme.squeezable(QLabel("", self))
        self.hover_label.setObjectName("subtitle")

        top = QHBoxLayout()
        top.addWidget(self.space_box)
        top.addWidget(self.method_box)
        top.addWidget(self.cap)
        top.addWidget(self.run_button)
        top.addStretch(1)
        top.addWidget(self.hover_label)
        top.addSpacing(12)
        top.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.addLayout(top)
        layout.addWidget(self._plot_page, 1)
        layout.addWidget(self.caption)
        self.run_button.clicked.connect(self.request)
        self.export_button.clicked.connect(self._on_export)
        self._brushes: list = []
        self._unseen: set[int] = set()
        self._pending = None
        self._frame_timer = QTimer(self)
        self._frame_timer.setSingleShot(True)
        self._frame_timer.setInterval(FRAME_MS)
        self._frame_timer.timeout.connect(self._on_frame_timer)
        self.show_labels = True
        self._selected: int | None = None
        self.set_dataset(None, False)
        if not lazy_plot:
            self.build_plot()

    # -- the plot (widgets.feature_plot) ----------------------------------------------------------------
    def build_plot(self) -> None:
        """The scatter plot and its items (once; pyqtgraph is imported here), drawn in the current state."""
        if self._figure is not None:
            return
        from zsl_desktop.app.widgets.feature_plot import FeaturePlot  # imports pyqtgraph: not at start-up

        figure = FeaturePlot(self.on_point_clicked, self.on_point_hovered)
        layout = self._plot_page.layout()
        assert layout is not None
        layout.addWidget(figure.plot)
        self._figure = figure
        self._set_figure(self.projection)  # nothing is drawn before the plot exists: no projection yet
        self._update_marker()
        self.plot_built.emit(figure.plot)

    @property
    def plot_ready(self) -> bool:
        return self._figure is not None

    def figure(self) -> FeaturePlot:
        """The plot and its items, built first if need be."""
        self.build_plot()
        assert self._figure is not None
        return self._figure

    @property
    def plot(self) -> pg.PlotWidget:
        return self.figure().plot

    @property
    def legend(self):
        return self.figure().legend

    @property
    def footer(self):
        return self.figure().footer

    @property
    def scatter(self) -> pg.ScatterPlotItem:
        return self.figure().scatter

    @property
    def synth(self) -> pg.ScatterPlotItem:
        return self.figure().synth

    @property
    def draft_synth(self) -> pg.ScatterPlotItem:
        return self.figure().draft_synth

    @property
    def marker(self) -> pg.ScatterPlotItem:
        return self.figure().marker

    def set_dataset(self, dataset, features_ready: bool) -> None:
        self.dataset = dataset
        self.projection = None
        self.draft_points = None
        if self.plot_ready:  # a plot not built yet has nothing drawn
            self.figure().clear()
            self._set_figure(None)
        self._unseen = set(int(c) for c in dataset.unseen_classes) if dataset is not None else set()
        self._pending = None
        ok = dataset is not None and features_ready
        self.run_button.setEnabled(ok)
        self.method_box.setEnabled(ok)
        if dataset is None:
            self.show_status("Open a dataset to see its feature space.")
            return
        k = dataset.num_classes
        self._brushes = [QBrush(theme.class_color(i, k)) for i in range(k)]
        self.show_status("Computing…" if ok else "Features are not extracted yet.")

    def request(self) -> None:
        if self.dataset is None:
            return
        self.show_status("Computing the projection…")
        self.projection_requested.emit(self.method_box.currentData(), self.cap.value(), self.space())

    def show_status(self, text: str) -> None:
        """A line under the plot for what is going on (computing, failed); hidden once a map is drawn."""
        self.caption.setText(text)
        self.caption.setVisible(bool(text))

    def _set_figure(self, projection) -> None:
        """Title, axis names, legend and footer of the figure for ``projection`` (None: an empty plot)."""
        name = self.dataset.name if self.dataset is not None else ""
        self.figure().set_figure(projection, name, self.draft_points is not None)

    def _update_legend(self) -> None:
        """Marker shapes: seen and unseen always, synthesised and drawn-class stars while shown."""
        self.figure().update_legend(self.projection is not None, self.draft_points is not None)

    def space(self) -> str:
        return self.space_box.currentData() if self.space_box.isEnabled() else "features"

    def set_has_model(self, has: bool, generative: bool = False) -> None:
        """Attribute-score space needs a model; fall back to backbone features without one.

        Generative models synthesise features in the backbone space, so that space comes first for them.
        """
        self.space_box.setEnabled(has)
        self.space_box.setCurrentIndex(0 if has and not generative else 1)

    def set_projection(self, projection) -> None:
        """Draw a Projection. Intermediate t-SNE frames are coalesced: only the latest is drawn, ~12/s, and none
        while the panel is hidden (its tab behind the training's, as the window opens): each is 40-65 ms of the
        GUI thread on CUB, ~1.2 s over a t-SNE nobody saw (opening14). Shown, it draws the latest frame."""
        if self.dataset is None:
            return
        self._pending = projection
        if projection.final:
            self._frame_timer.stop()
            self._draw_pending()
        elif self.on_screen() and not self._frame_timer.isActive():
            self._frame_timer.start()

    def on_screen(self) -> bool:
        """Whether any of the panel is on screen: a dock's tab behind another is visible to Qt, with nothing shown."""
        return self.isVisible() and not self.visibleRegion().isEmpty()

    @Slot(bool)
    def shown(self, visible: bool = True) -> None:
        """The panel came on screen (its dock's tab chosen: ``visibilityChanged``): the t-SNE frame kept meanwhile."""
        if visible and self._pending is not None and not self._frame_timer.isActive():
            self._frame_timer.start()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.shown()

    @Slot()
    def _on_frame_timer(self) -> None:
        if self.on_screen():  # else hidden meanwhile: ``shown`` draws it
            self._draw_pending()

    @Slot()
    def _draw_pending(self) -> None:
        """Draw the latest frame; a slow one (100,000 points) spaces the next ones out, so the window stays usable."""
        start = time.perf_counter()
        self._draw_latest()
        drawn_ms = (time.perf_counter() - start) * 1000.0
        self._frame_timer.setInterval(max(FRAME_MS, int(4 * drawn_ms)))

    def _draw_latest(self) -> None:
        projection, self._pending = self._pending, None
        d = self.dataset
        if projection is None or d is None:
            return
        first = (
            self.projection is None
            or len(self.projection.rows) != len(projection.rows)
            or self.projection.method != projection.method
        )
        self.projection = projection
        if first:
            self.set_draft_cluster(None)  # placed on the old map; the controller places them again
        rows = projection.rows
        labels = d.labels[rows]
        if d.num_classes <= PER_CLASS_ITEMS:  # one item per class: fast updates
            self.figure().draw_by_class(projection.points, rows, labels, self._brushes, self._unseen)
        else:
            self.figure().draw_each(projection.points, rows, labels, self._brushes, np.isin(labels, d.unseen_classes))
        if first or projection.final:
            self.plot.getPlotItem().enableAutoRange()
        self.caption.setText(projection.caption + ("" if projection.final else " …"))
        self.caption.setVisible(False)  # the plot's own footer says it (and goes into exports)
        self._set_figure(projection)
        self._update_marker()
        if projection.extra_points is not None:
            self.set_synthesized(projection.extra_points, projection.extra_labels)
        elif projection.final:
            self.synth.clear()
            self._update_legend()

    def scatter_points(self) -> list:
        """Every drawn image point (pyqtgraph SpotItems; ``.data()`` is the image's row)."""
        return self.figure().image_points()

    def _update_labels(self, points: np.ndarray, labels: np.ndarray) -> None:
        """A name at each class's centroid (up to MAX_LABELS classes; beyond that they would be noise)."""
        d = self.dataset
        classes = np.unique(labels)
        if len(classes) > MAX_LABELS:  # too many to read: label only the selected image's class
            chosen = int(d.labels[self._selected]) if self._selected is not None else -1
            classes = classes[classes == chosen]
        if not self.show_labels:
            classes = classes[:0]
        centres = [np.median(points[labels == c], axis=0) for c in classes]
        names = [theme.display_name(d.classes[int(c)]) for c in classes]
        self.figure().place_labels(centres, names, [self.class_color(int(c)) for c in classes])

    def set_synthesized(self, points: np.ndarray | None, labels: np.ndarray | None) -> None:
        """Hook for generative methods: synthesised features already projected to the view's 2-D space."""
        if points is None or len(points) == 0:
            self.synth.clear()
        else:
            self.figure().set_synthesized(points, labels, self._brushes)
        self._update_legend()

    def draft_map(self):
        """What places the drawn class's synthesised features on this view: a final PCA map of backbone
        features (None otherwise: t-SNE has no map for new points, and codes are not features)."""
        p = self.projection
        return p.linear if p is not None and p.final and p.space == "features" else None

    def set_draft_cluster(self, points: np.ndarray | None) -> None:
        """The drawn class's synthesised features, already on this view's map (None clears them)."""
        if points is None or len(points) == 0 or self.draft_map() is None:
            if self.draft_points is not None:  # called on every slider move: clear only what is shown
                self.draft_points = None
                self.draft_synth.clear()
                self._update_legend()
            return
        self.draft_points = np.asarray(points, np.float32)
        self.figure().set_draft_cluster(points)
        self._update_legend()

    def select_item(self, item: int | None) -> None:
        self._selected = item
        if self.plot_ready:  # else drawn when it is built
            self._update_marker()

    def _update_marker(self) -> None:
        p = self.projection
        if p is not None and self.dataset is not None:
            self._update_labels(p.points, self.dataset.labels[p.rows])
        hit = np.flatnonzero(p.rows == self._selected) if p is not None and self._selected is not None else []
        self.figure().mark(p.points[hit[:1]] if len(hit) else None)

    def on_point_clicked(self, item, points, event=None) -> None:
        """A click on an image's point (pyqtgraph's sigClicked): select that image everywhere."""
        if len(points):
            row = int(points[0].data())
            self.item_selected.emit(row)

    def on_point_hovered(self, item, points, event=None) -> None:
        """The pointer over a point (pyqtgraph's sigHovered): name its class above the plot."""
        if len(points) and self.dataset is not None:
            row = int(points[0].data())
            label = int(self.dataset.labels[row])
            kind = "unseen" if label in self._unseen else "seen"
            self.hover_label.setText(f"{theme.display_name(self.dataset.classes[label])} ({kind})")
        else:
            self.hover_label.setText("")

    def _on_export(self) -> None:
        self.export_plot_requested.emit()

    def restore_settings(self, s) -> None:
        """The last cap, up to PCA_CAP: the map drawn on opening a dataset stays quick; a map of every one of
        100,000 images (a t-SNE of minutes) is computed when asked for, not again at each start."""
        self.cap.setValue(min(s.value("features/cap", 1500, int), PCA_CAP))

    def save_settings(self, s) -> None:
        s.set("features/cap", self.cap.value())

    def plot_item(self):
        """The scatter's plot, for figure export."""
        return self.plot.getPlotItem()

    def point_count(self) -> int:
        return 0 if self.projection is None else len(self.projection.rows)

    def class_color(self, label: int) -> QColor:
        return self._brushes[label].color()
