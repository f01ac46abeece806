"""The feature view's plot: its pyqtgraph items, the figure's words (title, axes, footer, legend),
the image points, the class names at their centroids, the synthesised crosses and the drawn class's stars.

Why apart from the panel: this is everything pyqtgraph draws; the panel decides what to draw and when
(frames coalesced, the selection, the dataset), and imports this module only once the plot is built
(pyqtgraph: ~0.4 s of CPU at start-up).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from zsl_desktop.app import theme
from zsl_desktop.app.widgets.plot_figure import StaticSample, footer, legend_below

POINT_PEN = (0, 0, 0, 90)


def point_style(unseen: bool) -> dict:
    """Seen classes round, unseen classes triangles (a little larger)."""
    return {"symbol": "t1" if unseen else "o", "size": 9 if unseen else 7}


class FeaturePlot:
    """The plot widget (``plot``) and its items; ``on_clicked`` / ``on_hover`` get pyqtgraph's point events."""

    def __init__(self, on_clicked, on_hover):
        theme.configure_pyqtgraph()
        self.on_clicked, self.on_hover = on_clicked, on_hover
        plot = pg.PlotWidget()
        plot.setObjectName("featurePlot")
        theme.style_plot(plot.getPlotItem())
        plot.getPlotItem().showGrid(False, False)
        # Title, axis names, legend and footer live in the plot itself, so an export is a complete figure.
        self.plot = plot
        self.legend = legend_below(plot.getPlotItem(), columns=4)
        self.footer = footer(plot.getPlotItem())
        self.scatter = pg.ScatterPlotItem(
            pxMode=True, hoverable=True, hoverSize=12, hoverPen=pg.mkPen(theme.TEXT, width=1.5)
        )
        self.synth = pg.ScatterPlotItem(pxMode=True, symbol="x", size=7)
        self.draft_synth = pg.ScatterPlotItem(pxMode=True, symbol="star", size=13)
        self.marker = pg.ScatterPlotItem(
            pxMode=True, size=18, symbol="o", brush=pg.mkBrush(0, 0, 0, 0), pen=pg.mkPen(theme.TEXT, width=2)
        )
        for item in (self.synth, self.scatter, self.draft_synth, self.marker):
            plot.addItem(item)
        self.scatter.sigClicked.connect(on_clicked)
        self.scatter.sigHovered.connect(on_hover)
        self.class_items: dict[int, pg.ScatterPlotItem] = {}  # one item per class (few classes)
        self.labels: list = []  # TextItems at class centroids, reused
        self.legend_key: tuple = ()
        self.figure_key: tuple | None = None

    def clear(self) -> None:
        """Nothing drawn (a new dataset)."""
        for item in (self.scatter, self.synth, self.draft_synth, self.marker):
            item.clear()
        for item in self.class_items.values():
            self.plot.removeItem(item)
        self.class_items = {}
        for text in self.labels:
            text.hide()

    def set_figure(self, projection, dataset_name: str, draft_shown: bool) -> None:
        """Title, axis names, legend and footer of the figure for ``projection`` (None: an empty plot)."""
        item = self.plot.getPlotItem()
        if projection is None:
            self.figure_key = None
            item.setTitle(None)
            for side in ("bottom", "left"):
                item.setLabel(side, "")
            self.footer.setText("")
            self.update_legend(False, draft_shown)
            return
        method = "PCA" if projection.method == "pca" else "t-SNE"
        key = (projection.method, projection.space, projection.explained[:2])
        if key != self.figure_key:  # t-SNE frames arrive ~12 times a second: re-lay out only on a change
            self.figure_key = key
            space = "the model's attribute scores" if projection.space == "codes" else "backbone features"
            item.setTitle(f"{method} of {space} · {dataset_name}", color=theme.TEXT, size="10pt")
            if projection.method == "pca" and len(projection.explained) >= 2:
                labels = [f"PC{i + 1} · {100 * r:.0f}% of the variance" for i, r in enumerate(projection.explained[:2])]
            else:
                labels = [f"{method} 1", f"{method} 2"]
            for side, text in zip(("bottom", "left"), labels):
                item.setLabel(side, text, color=theme.DIM)
                # t-SNE coordinates mean nothing on their own: name the axes, show no numbers
                pca = projection.method == "pca"
                item.getAxis(side).setStyle(showValues=pca, tickLength=5 if pca else 0)
        self.footer.setText(f"{projection.caption}{'' if projection.final else ' …'} · colour = class")
        self.update_legend(True, draft_shown)

    def update_legend(self, has_projection: bool, draft_shown: bool) -> None:
        """Marker shapes: seen and unseen always, synthesised and drawn-class stars while shown."""
        key = (has_projection, len(self.synth.points()) > 0, draft_shown)
        if key == self.legend_key:
            return
        self.legend_key = key
        self.legend.clear()
        if not key[0]:
            return
        pen = pg.mkPen(*POINT_PEN)
        self.legend.addItem(StaticSample(pg.ScatterPlotItem(symbol="o", size=8, brush=theme.DIM, pen=pen)), "seen")
        self.legend.addItem(StaticSample(pg.ScatterPlotItem(symbol="t1", size=9, brush=theme.DIM, pen=pen)), "unseen")
        if key[1]:
            self.legend.addItem(
                StaticSample(pg.ScatterPlotItem(symbol="x", size=9, brush=None, pen=pg.mkPen(theme.DIM, width=1.5))),
                "synthesised",
            )
        if key[2]:
            self.legend.addItem(
                StaticSample(
                    pg.ScatterPlotItem(symbol="star", size=12, brush=theme.DRAFT, pen=pg.mkPen(theme.TEXT, width=0.8))
                ),
                "the class you draw",
            )

    def draw_by_class(self, points: np.ndarray, rows: np.ndarray, labels: np.ndarray, brushes, unseen: set) -> None:
        """One item per class with one brush and symbol: setData is then vectorised (a t-SNE frame of
        2,000 points draws in a few ms instead of ~30 ms with per-point styles)."""
        self.scatter.clear()
        present = set()
        for c in np.unique(labels):
            c = int(c)
            pick = labels == c
            self.class_item(c, brushes[c], c in unseen).setData(pos=points[pick], data=rows[pick])
            present.add(c)
        for c, item in self.class_items.items():
            if c not in present:
                item.clear()

    def draw_each(self, points: np.ndarray, rows: np.ndarray, labels: np.ndarray, brushes, unseen_mask) -> None:
        """Every point styled on its own (many classes: one item per class would be too many items)."""
        self.scatter.setData(
            pos=points,
            data=rows,
            brush=[brushes[int(c)] for c in labels],
            symbol=list(np.where(unseen_mask, "t1", "o")),
            size=np.where(unseen_mask, 9, 7),
            pen=pg.mkPen(*POINT_PEN),
        )

    def class_item(self, c: int, brush, unseen: bool) -> pg.ScatterPlotItem:
        item = self.class_items.get(c)
        if item is None:
            item = pg.ScatterPlotItem(
                pxMode=True,
                hoverable=True,
                hoverSize=12,
                hoverPen=pg.mkPen(theme.TEXT, width=1.5),
                brush=brush,
                pen=pg.mkPen(*POINT_PEN),
                **point_style(unseen),
            )
            item.sigClicked.connect(self.on_clicked)
            item.sigHovered.connect(self.on_hover)
            self.plot.addItem(item)
            self.class_items[c] = item
        return item

    def image_points(self) -> list:
        """Every drawn image point (pyqtgraph SpotItems; ``.data()`` is the image's row)."""
        points = list(self.scatter.points())
        for item in self.class_items.values():
            points.extend(item.points())
        return points

    def place_labels(self, centres: list[tuple[float, float]], names: list[str], colors: list) -> None:
        """A class name (with its colour) at each centre; labels beyond these are hidden."""
        while len(self.labels) < len(centres):
            text = pg.TextItem("", anchor=(0.5, 0.5))
            text.setZValue(5)
            self.plot.addItem(text)
            self.labels.append(text)
        for i, text in enumerate(self.labels):
            if i >= len(centres):
                text.hide()
                continue
            text.setHtml(
                f"<span style='background:rgba(22,24,29,200); font-size:8.5pt'>"
                f"<span style='color:{colors[i].name()}'>●</span> "
                f"<span style='color:{theme.TEXT}'>{names[i]}</span></span>"
            )
            text.setPos(float(centres[i][0]), float(centres[i][1]))
            text.show()

    def set_synthesized(self, points: np.ndarray, labels: np.ndarray, brushes) -> None:
        """Crosses in their class's colour (``points`` already on the view's 2-D map)."""
        k = len(brushes)
        pens = [pg.mkPen(brushes[int(c) % k].color(), width=1.5) if k else pg.mkPen(theme.TEXT) for c in labels]
        self.synth.setData(pos=np.asarray(points, np.float32), pen=pens, brush=None, symbol="x", size=8)

    def set_draft_cluster(self, points: np.ndarray) -> None:
        self.draft_synth.setData(
            pos=np.asarray(points, np.float32),
            pen=pg.mkPen(theme.TEXT, width=0.8),
            brush=pg.mkBrush(theme.DRAFT),
            symbol="star",
            size=13,
        )

    def mark(self, position: np.ndarray | None) -> None:
        """The ring around the selected image's point (None: no ring)."""
        if position is None:
            self.marker.clear()
        else:
            self.marker.setData(pos=position)
