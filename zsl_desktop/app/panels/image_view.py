"""The selected image, large, with the attention map of one attribute blended on top.

The attribute list on the right shows the model's strongest attributes for
this image with their scores; clicking one shows where the model looked for
it. Opacity and colour map are live. The parts strip is the slot for
methods that localise discriminative parts (SGMA): ``show_parts(boxes, crops)``.
The list's rows are drawn by ``widgets.score_delegate``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from zsl_desktop.app import export, theme
from zsl_desktop.app.widgets.overlay import COLORMAPS, OverlayCanvas, rgb_to_qimage
from zsl_desktop.app.widgets.overlay_marks import part_color
from zsl_desktop.app.widgets.score_delegate import ScoreBarDelegate, ScoreRole
from zsl_desktop.engine.localisation import GROUP_PARTS

TOP_ATTRIBUTES = 15
IndexRole = Qt.UserRole + 11  # a row's attribute index (+10 is score_delegate.ScoreRole)


class ImageViewPanel(QWidget):
    export_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.dataset = None
        self.item: int | None = None
        self.image = None  # ImageData
        self.explained = None  # Explained
        self.attribute: int | None = None
        self._labels: list[str] = []

        self._make_header()
        controls = self._make_controls()
        side = self._make_side()
        self._make_parts_strip()
        self._lay_out(controls, side)
        self._connect_signals()
        self._set_controls_enabled(False)

    def _make_header(self) -> None:
        """The image's title and subtitle, and the canvas."""
        self.title = theme.squeezable(QLabel("No image selected", self))
        self.title.setObjectName("title")
        self.subtitle = theme.squeezable(QLabel("", self))
        self.subtitle.setObjectName("subtitle")
        self.subtitle.setTextFormat(Qt.RichText)
        self.canvas = OverlayCanvas(self)

    def _make_controls(self) -> QHBoxLayout:
        """The row under the image: which attribute's map, its opacity and colours, parts, export."""
        self.attribute_box = QComboBox(self)
        self.attribute_box.setToolTip("Show the attention map of any attribute")
        self.attribute_box.setMinimumContentsLength(10)
        self.attribute_box.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.opacity = QSlider(Qt.Horizontal, self)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(55)
        self.opacity.setMinimumWidth(60)
        self.opacity.setMaximumWidth(120)
        self.opacity.setToolTip("Overlay opacity")
        self.cmap = QComboBox(self)
        self.cmap.addItems(COLORMAPS)
        self.parts_box = QCheckBox("All parts", self)
        self.parts_box.setToolTip(
            "Show every annotated part location (ground truth) of this image; the part "
            "the shown attribute describes is always marked when it is annotated"
        )
        self.export_button = QPushButton("Export PNG", self)
        controls = QHBoxLayout()
        controls.setSpacing(8)
        controls.addWidget(QLabel("Attention:", self))
        controls.addWidget(self.attribute_box, 2)
        controls.addSpacing(6)
        controls.addWidget(QLabel("Opacity", self))
        controls.addWidget(self.opacity)
        controls.addWidget(self.cmap)
        controls.addWidget(self.parts_box)
        controls.addStretch(1)
        controls.addWidget(self.export_button)
        return controls

    def _make_side(self) -> QWidget:
        """The strongest attributes beside the image."""
        self.attributes = QListWidget(self)
        self.attributes.setItemDelegate(ScoreBarDelegate(self.attributes))
        self.attributes.setMinimumWidth(180)
        self.attributes.setUniformItemSizes(True)
        side_title = QLabel("Strongest attributes", self)
        side_title.setObjectName("subtitle")
        self.side_title = side_title
        self.side_hint = QLabel("", self)
        self.side_hint.setObjectName("hint")
        self.side_hint.setWordWrap(True)
        side = QWidget(self)
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(side_title)
        side_layout.addWidget(self.attributes, 1)
        side_layout.addWidget(self.side_hint)
        side_layout.addStretch(0)
        return side

    def _make_parts_strip(self) -> None:
        # Slot for part-based methods (SGMA): boxes on the canvas and crops in this strip.
        self.parts_strip = QFrame(self)
        self.parts_strip.setObjectName("panel")
        self.parts_layout = QHBoxLayout(self.parts_strip)
        self.parts_layout.setContentsMargins(8, 4, 8, 4)
        self.parts_title = QLabel("Discriminative parts", self.parts_strip)
        self.parts_title.setObjectName("subtitle")
        self.parts_layout.addWidget(self.parts_title)
        self.parts_layout.addStretch(1)
        self.parts_strip.hide()

    def _lay_out(self, controls: QHBoxLayout, side: QWidget) -> None:
        """The image (over the parts strip) and the side list in a splitter, between titles and controls."""
        left = QWidget(self)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.canvas, 1)
        left_layout.addWidget(self.parts_strip)
        splitter = QSplitter(Qt.Horizontal, self)
        splitter.addWidget(left)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([700, 260])
        self.splitter = splitter

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(6)
        layout.addWidget(self.title)
        layout.addWidget(self.subtitle)
        layout.addWidget(splitter, 1)
        layout.addLayout(controls)

    def _connect_signals(self) -> None:
        self.attributes.currentItemChanged.connect(self._on_list)
        self.attribute_box.activated.connect(self._on_box)
        self.opacity.valueChanged.connect(self._on_opacity)
        self.cmap.currentTextChanged.connect(self.canvas.set_colormap)
        self.parts_box.toggled.connect(self._update_parts)
        self.export_button.clicked.connect(self.export_requested)

    # -- inputs --------------------------------------------------------------------------------------
    @property
    def has_image(self) -> bool:
        return self.canvas.has_image

    def show_message(self, text: str) -> None:
        """The words the empty view shows (opening, waiting, an image that could not be opened)."""
        self.canvas.set_empty_text(text)

    def set_dataset(self, dataset) -> None:
        self.dataset = dataset
        self.item = self.image = self.explained = None
        self.attribute = None
        self._labels = [a.label for a in dataset.attributes] if dataset is not None else []
        self.attribute_box.blockSignals(True)
        self.attribute_box.clear()
        for i, label in enumerate(self._labels):
            self.attribute_box.addItem(label, i)
        self.attribute_box.blockSignals(False)
        self.attributes.clear()
        self.title.setText("No image selected")
        self.subtitle.setText("")
        self.canvas.set_image(None)
        self.canvas.set_map(None)
        self.show_parts(None, None)  # the last dataset's part boxes and crops go with it
        self.canvas.set_part_points([])
        self.canvas.set_empty_text(
            "Select an image in the gallery"
            if dataset is None or dataset.has_images
            else f"{dataset.name} has no images (precomputed features only)"
        )
        self.parts_box.setEnabled(dataset is not None and dataset.part_locations is not None)
        self._set_controls_enabled(False)

    def show_item(self, item: int, name: str, truth: str, kind: str, predicted: str | None = None) -> None:
        """A new selection: title now, pixels and attention when the workers deliver them."""
        self.item = item
        self.image = None
        self.explained = None
        self.title.setText(name.replace("_", " "))
        self.set_summary(truth, kind, predicted)
        self.canvas.set_map(None, "")
        self.canvas.set_part_points([])
        self.show_parts(None, None)
        self.attributes.clear()
        self.side_hint.setText("computing…")

    def set_summary(self, truth: str, kind: str, predicted: str | None) -> None:
        color = theme.KIND_COLORS.get(kind, theme.DIM)
        text = f"<span style='color:{color}'>●</span> {theme.display_name(truth)} "
        if kind != "loose":  # "your photo" says it already ("your photo (photo)" before)
            text += f"<span style='color:{theme.FAINT}'>({theme.KIND_LABELS.get(kind, kind)})</span>"
        if predicted:
            ok = predicted == truth
            mark = f"<span style='color:{theme.CORRECT if ok else theme.WRONG}'>{'✓' if ok else '✗'}</span>"
            if kind == "loose":
                mark = "→"
            text += f"&nbsp;&nbsp;&nbsp;predicted {mark} <b>{theme.display_name(predicted)}</b>"
        self.subtitle.setText(text)

    def set_image(self, image) -> None:
        if image.item != self.item:
            return
        self.image = image
        self.canvas.set_image(image.rgb)
        self._set_controls_enabled(True)
        self.attribute_box.setEnabled(self.explained is not None and self.explained.attention is not None)
        self._update_parts()

    def set_explanation(self, explained) -> None:
        if explained.item != self.item:
            return
        self.explained = explained
        self.attributes.clear()
        scores = explained.attribute_scores
        if scores is None or explained.attention is None:
            self.side_hint.setText("This model has no attention maps.")
            self.canvas.set_map(None, "")
            self._update_parts()
            self.show_parts(explained.part_boxes, explained.crops)
            return
        self.side_hint.setText("Click an attribute to see where the model looked for it.")
        self.attributes.show()
        self.side_title.show()
        self.attribute_box.setEnabled(True)
        order = np.argsort(-scores)[:TOP_ATTRIBUTES]
        top, bottom = float(scores[order[0]]), float(np.min(scores))
        for i in order:
            label = self._labels[i] if i < len(self._labels) else f"attribute {i + 1}"
            entry = QListWidgetItem(f"{label}\t{scores[i]:+.2f}")
            entry.setData(ScoreRole, (float(scores[i]) - bottom) / max(top - bottom, 1e-9))
            entry.setData(IndexRole, int(i))
            self.attributes.addItem(entry)
        keep = self.attribute if self.attribute is not None else int(order[0])
        self.show_attribute(keep)
        self.show_parts(explained.part_boxes, explained.crops)

    def clear_explanation(self, message: str) -> None:
        self.explained = None
        self.attributes.clear()
        self.attributes.hide()
        self.side_title.hide()
        self.attribute_box.setEnabled(False)
        self.side_hint.setText(message)
        self.canvas.set_map(None, "")
        self._update_parts()

    # -- attribute choice ----------------------------------------------------------------------------------
    def show_attribute(self, index: int) -> None:
        self.attribute = int(index)
        e = self.explained
        if e is None or e.attention is None or index >= len(e.attention):
            return
        label = self._labels[index] if index < len(self._labels) else f"attribute {index + 1}"
        score = float(e.attribute_scores[index]) if e.attribute_scores is not None else 0.0
        self.canvas.set_map(e.attention[index], f"attention for “{label}”  ·  score {score:+.2f}")
        self._update_parts()
        self.attribute_box.blockSignals(True)
        self.attribute_box.setCurrentIndex(index)
        self.attribute_box.blockSignals(False)
        for row in range(self.attributes.count()):
            it = self.attributes.item(row)
            if it.data(IndexRole) == index:
                self.attributes.blockSignals(True)
                self.attributes.setCurrentItem(it)
                self.attributes.blockSignals(False)
                break
        else:
            self.attributes.clearSelection()

    def _on_opacity(self, value: int) -> None:
        self.canvas.set_opacity(value / 100)

    def _on_list(self, current, previous) -> None:
        if current is not None:
            self.show_attribute(int(current.data(IndexRole)))

    def _on_box(self, row: int) -> None:
        self.show_attribute(int(self.attribute_box.itemData(row)))

    # -- parts -----------------------------------------------------------------------------------------
    def show_parts(self, boxes, crops) -> None:
        """SGMA slot: part boxes [P, 4] in 0-1 image coordinates, and optional crops (uint8 RGB arrays)."""
        self.canvas.set_part_boxes(boxes)
        while self.parts_layout.count() > 2:
            w = self.parts_layout.takeAt(1).widget()
            if w is not None:
                w.deleteLater()
        for i, crop in enumerate(crops or []):
            label = QLabel(self.parts_strip)
            label.setPixmap(
                QPixmap.fromImage(rgb_to_qimage(crop)).scaled(72, 72, Qt.KeepAspectRatio, Qt.SmoothTransformation)
            )
            label.setStyleSheet(f"border: 2px solid {part_color(i)}; border-radius: 3px;")
            label.setToolTip(f"part {i + 1} (the box of the same colour on the image)")
            self.parts_layout.insertWidget(self.parts_layout.count() - 1, label)
        self.parts_strip.setVisible(boxes is not None or bool(crops))
        count = len(crops) if crops else (len(boxes) if boxes is not None else 0)
        self.parts_title.setText(f"Discriminative parts ({count})" if count else "Discriminative parts")

    def focus_parts(self) -> tuple[str, ...]:
        """The annotated parts the shown attribute describes (crown colour -> crown), if any."""
        d = self.dataset
        if d is None or self.attribute is None or self.attribute >= len(d.attributes):
            return ()
        return GROUP_PARTS.get(d.attributes[self.attribute].group, ())

    def _update_parts(self) -> None:
        """Mark the shown attribute's part; with "All parts", every annotated part (labels never overlap)."""
        d, img = self.dataset, self.image
        if d is None or img is None or d.part_locations is None or self.item is None or self.item >= d.num_samples:
            self.canvas.set_part_points([])
            return
        focus = self.focus_parts() if self.explained is not None and self.explained.attention is not None else ()
        everything = self.parts_box.isChecked()
        w, h = img.original_size
        names = d.part_names or ()
        points = []
        for p, (x, y, visible) in enumerate(d.part_locations[self.item]):
            name = names[p] if p < len(names) else str(p + 1)
            if visible > 0 and (everything or name in focus):
                points.append((float(x) / w, float(y) / h, name))
        self.canvas.set_part_points(points, focus)

    def _set_controls_enabled(self, on: bool) -> None:
        for w in (self.attribute_box, self.opacity, self.cmap, self.export_button):
            w.setEnabled(on)

    def restore_settings(self, s) -> None:
        self.opacity.setValue(s.value("overlay/opacity", 55, int))
        cmap = s.value("overlay/colormap", "inferno", str)
        if self.cmap.findText(cmap) >= 0:
            self.cmap.setCurrentText(cmap)

    def save_settings(self, s) -> None:
        s.set("overlay/opacity", self.opacity.value())
        s.set("overlay/colormap", self.cmap.currentText())

    def export_png(self, path):
        """The image with its overlay, as the user sees it, to a PNG file (atomic)."""
        return export.export_overlay(self.canvas, path)

    def suggested_file_name(self) -> str:
        if self.image is None:
            return "overlay.png"
        stem = Path(self.image.path).stem
        if self.attribute is not None and self.attribute < len(self._labels):
            stem += "-" + "".join(ch if ch.isalnum() else "_" for ch in self._labels[self.attribute])[:40]
        return stem + ".png"
