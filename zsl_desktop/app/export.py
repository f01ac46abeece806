"""Exports: plots as PNG/SVG (pyqtgraph exporters), the bar chart and overlay as PNG/SVG, predictions as CSV.

Every file is written atomically (rendered in memory, then
``engine.atomic``): an interrupted export never leaves half a file behind. Every CSV text cell goes
through ``engine.spreadsheet_cells.guard``: a class or file name that starts like a formula opens as text.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QRectF, QSize
from PySide6.QtGui import QColor, QImage, QPainter

from zsl_desktop.app import theme
from zsl_desktop.engine.atomic import atomic_write_bytes, atomic_write_text
from zsl_desktop.engine.spreadsheet_cells import guard

PLOT_FILTER = "PNG image (*.png);;SVG vector image (*.svg)"


def image_bytes(image: QImage, fmt: str = "PNG") -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.WriteOnly)
    if not image.save(buffer, fmt):
        raise OSError(f"could not encode the image as {fmt}")
    buffer.close()
    return bytes(data)


def save_image(image: QImage, path) -> Path:
    path = Path(path)
    atomic_write_bytes(path, image_bytes(image, "PNG"))
    return path


def export_plot(plot_item, path, width: int = 1600) -> Path:
    """A pyqtgraph PlotItem to PNG (rendered at ``width`` px) or SVG, by the file's suffix."""
    import pyqtgraph.exporters as pge

    path = Path(path)
    if path.suffix.lower() == ".svg":
        try:
            data = bytes(pge.SVGExporter(plot_item).export(toBytes=True))
        except (ValueError, IndexError):
            # pyqtgraph 0.14's SVG post-processing fails on some empty paths (an empty plot):
            # render the same scene through Qt's own SVG generator instead.
            data = _scene_svg(plot_item)
        atomic_write_bytes(path, data)
        return path
    if path.suffix.lower() != ".png":
        path = path.with_suffix(".png")
    exporter = pge.ImageExporter(plot_item)
    exporter.parameters()["width"] = int(width)
    image = exporter.export(toBytes=True)
    return save_image(image, path)


def _scene_svg(item) -> bytes:
    from PySide6.QtSvg import QSvgGenerator

    rect = item.sceneBoundingRect()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.WriteOnly)
    generator = QSvgGenerator()
    generator.setOutputDevice(buffer)
    generator.setSize(QSize(int(rect.width()), int(rect.height())))
    generator.setViewBox(QRectF(0, 0, rect.width(), rect.height()))
    painter = QPainter(generator)
    painter.fillRect(QRectF(0, 0, rect.width(), rect.height()), QColor(theme.PANEL))
    item.scene().render(painter, QRectF(0, 0, rect.width(), rect.height()), rect)
    painter.end()
    buffer.close()
    return bytes(data)


def export_bars(bars, path) -> Path:
    """The predictions bar chart, PNG at 2x, or SVG through QSvgGenerator."""
    path = Path(path)
    width, height = max(bars.width(), 420), max(bars.height(), bars.sizeHint().height())
    if path.suffix.lower() == ".svg":
        from PySide6.QtSvg import QSvgGenerator

        data = QByteArray()
        buffer = QBuffer(data)
        buffer.open(QIODevice.WriteOnly)
        generator = QSvgGenerator()
        generator.setOutputDevice(buffer)
        generator.setSize(QSize(width, height))
        generator.setViewBox(QRectF(0, 0, width, height))
        generator.setTitle("ZSL Desktop predictions")
        painter = QPainter(generator)
        painter.fillRect(QRectF(0, 0, width, height), QColor(theme.PANEL))
        bars.paint_rows(painter, width)
        painter.end()
        buffer.close()
        atomic_write_bytes(path, bytes(data))
        return path
    image = QImage(width * 2, height * 2, QImage.Format_ARGB32)
    image.setDevicePixelRatio(2.0)
    image.fill(QColor(theme.PANEL))
    painter = QPainter(image)
    painter.setRenderHint(QPainter.Antialiasing)
    bars.paint_rows(painter, width)
    painter.end()
    return save_image(image, path.with_suffix(".png"))


def export_overlay(canvas, path) -> Path:
    """The image with its attention overlay at the image's own resolution."""
    image = canvas.composed()
    if image is None:
        raise ValueError("no image to export")
    return save_image(image, Path(path).with_suffix(".png") if Path(path).suffix.lower() != ".png" else path)


def predictions_csv(rows, path, meta: dict | None = None) -> Path:
    """``rows``: (class, kind, raw, calibrated, probability) best first; ``meta`` goes in a comment header."""
    lines = (
        [rank, name, kind, f"{raw:.6f}", f"{calibrated:.6f}", f"{prob:.6f}"]
        for rank, (name, kind, raw, calibrated, prob) in enumerate(rows, 1)
    )
    return write_csv(path, ["rank", "class", "kind", "raw_score", "calibrated_score", "probability"], lines, meta)


def all_predictions_csv(items, path, meta: dict | None = None) -> Path:
    """One row per image: (path, true class, predicted class, probability, correct)."""
    header = ["image", "true_class", "predicted_class", "predicted_kind", "probability", "correct"]
    return write_csv(path, header, items, meta)


def write_csv(path, header: list[str], rows, meta: dict | None = None) -> Path:
    """A CSV file: ``meta`` as ``# key: value`` comment lines, the header row, the rows; written atomically.

    Each comment line is one CSV cell (quoted when its value holds a comma or a line break, so a file name
    cannot spill into a cell of its own), and every text cell is guarded against formula injection.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for key, value in (meta or {}).items():
        writer.writerow([f"# {key}: {value}"])
    writer.writerow([guard(cell) for cell in header])
    for row in rows:
        writer.writerow([guard(cell) for cell in row])
    path = Path(path)
    atomic_write_text(path, out.getvalue())
    return path
