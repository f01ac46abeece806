"""The main window's menu bar and toolbar: which actions there are and where they sit.

What the actions do lives in ``window_actions`` (file dialogs, opening, exports) and the panels; this
module only lays them out, so a new command is one line here and one method there.
"""

from __future__ import annotations

import html
import platform

import PySide6
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QLabel, QSizePolicy, QToolBar, QWidget

from zsl_desktop import __version__
from zsl_desktop.app import theme
from zsl_desktop.engine.logs import log_dir

DATASET_FORMATS = (
    ("Dataset folder (detect the format)…", None),
    ("CUB-200-2011…", "cub"),
    ("AwA2…", "awa2"),
    ("SUN attributes…", "sun"),
    ("xlsa17 (res101.mat folder)…", "xlsa17"),
    ("Folder format (classes.csv)…", "folder"),
)


def build_menus(window) -> None:
    """File, Edit, View and Help; sets ``window.open_action`` and ``window.shipped_menu``."""
    m = window.menuBar().addMenu("&File")
    a = m.addAction("Open the built-in birds")
    a.triggered.connect(window.open_builtin_action)
    sub = m.addMenu("Open dataset")
    for title, fmt in DATASET_FORMATS:
        action = sub.addAction(title)
        action.setData(fmt)
        action.triggered.connect(lambda checked=False, f=fmt: window.open_dataset_dialog(f))
    window.open_action = sub.actions()[0]
    window.open_action.setShortcut(QKeySequence.Open)
    m.addSeparator()
    a = m.addAction("Add your photos…")
    a.setShortcut(QKeySequence("Ctrl+I"))
    a.triggered.connect(window.add_photos_dialog)
    a = m.addAction("Add a folder of photos…")
    a.triggered.connect(window.add_photo_folder_dialog)
    m.addSeparator()
    a = m.addAction("Load model…")  # the same words as the toolbar and the Training panel
    a.triggered.connect(window.load_checkpoint_dialog)
    window.shipped_menu = m.addMenu("Shipped models")
    window.shipped_menu.aboutToShow.connect(window.fill_shipped_menu)
    a = m.addAction("Save model…")
    a.triggered.connect(window.save_checkpoint_dialog)
    m.addSeparator()
    e = m.addMenu("Export")
    e.addAction("Overlay view as PNG…").triggered.connect(window.export_overlay_dialog)
    e.addAction("Predictions for this image (CSV)…").triggered.connect(window.export_predictions_dialog)
    e.addAction("Predictions for every image (CSV)…").triggered.connect(window.export_all_predictions_dialog)
    e.addAction("Predictions chart (PNG/SVG)…").triggered.connect(window.export_bars_dialog)
    t = e.addMenu("Training plot (PNG/SVG)")
    t.addAction("Loss…").triggered.connect(window.export_loss_plot)
    t.addAction("Validation…").triggered.connect(window.export_validation_plot)
    t.addAction("Evaluation curve…").triggered.connect(window.export_evaluation_plot)
    e.addAction("Feature space plot (PNG/SVG)…").triggered.connect(window.export_feature_plot)
    m.addSeparator()
    q = m.addAction("Quit")
    q.setShortcut(QKeySequence.Quit)
    q.triggered.connect(window.quit_action)
    edit = window.menuBar().addMenu("&Edit")
    edit.addAction(window.editor.undo_action)
    edit.addAction(window.editor.redo_action)
    view = window.menuBar().addMenu("&View")
    for dock in window.docks.values():
        view.addAction(dock.toggleViewAction())
    view.addSeparator()
    view.addAction("Reset layout").triggered.connect(window.reset_layout)
    help_menu = window.menuBar().addMenu("&Help")
    help_menu.addAction("Open log file").triggered.connect(window.open_log_file)
    help_menu.addAction("About ZSL Desktop").triggered.connect(window.about)


def build_toolbar(window) -> None:
    """Brand, what is open (``window.dataset_label``), and the four things people do most."""
    tb = QToolBar("Main", window)
    tb.setObjectName("toolbar_main")
    tb.setMovable(False)
    tb.setFloatable(False)
    brand = QLabel(
        f"<span style='color:{theme.ACCENT}; font-weight:700; font-size:13pt'>ZSL</span>"
        f"<span style='color:{theme.TEXT}; font-size:13pt'> Desktop</span>",
        window,
    )
    brand.setContentsMargins(8, 0, 16, 0)
    tb.addWidget(brand)
    window.dataset_label = QLabel("no dataset", window)
    window.dataset_label.setObjectName("subtitle")
    tb.addWidget(window.dataset_label)
    spacer = QWidget(window)
    spacer.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)
    tb.addWidget(spacer)
    for text, slot, tip in (
        ("Open dataset…", window.open_dataset_dialog, "Open a CUB, AwA2, SUN, xlsa17 or folder dataset"),
        ("Add photos…", window.add_photos_dialog, "Predict your own photos (or drop them on the window)"),
        ("Load model…", window.load_checkpoint_dialog, "Load a model (.pt checkpoint) trained on this dataset"),
        ("Export view…", window.export_overlay_dialog, "Save the image with its attention overlay"),
    ):
        action = tb.addAction(text)
        action.setToolTip(tip)
        action.triggered.connect(lambda checked=False, s=slot: s())
    window.addToolBar(Qt.TopToolBarArea, tb)
    window.toolbar = tb


def dataset_label_text(d, coming: int = 0) -> str:
    """The toolbar's words for the open dataset (``coming``: the full size while its first birds show)."""
    images = f"{d.num_samples:,} images" if coming <= d.num_samples else f"first {d.num_samples:,} of {coming:,} images"
    return (
        f"<b style='color:{theme.TEXT}'>{d.name}</b> &nbsp;·&nbsp; {images} &nbsp;·&nbsp; "
        f"<span style='color:{theme.SEEN}'>{len(d.seen_classes)} seen</span> / "
        f"<span style='color:{theme.UNSEEN}'>{len(d.unseen_classes)} unseen</span> classes &nbsp;·&nbsp; "
        f"{d.num_attributes} attributes"
    )


def about_text() -> str:
    """Help ▸ About: the version, what it runs on, and where its logs are (a bug report asks for them)."""
    logs = html.escape(str(log_dir()))
    return (
        f"<b>ZSL Desktop</b> version {__version__}<br>Annotation-free zero-shot learning: "
        "define classes by their attributes and recognise them in images.<br><br>"
        f"<span style='color:{theme.DIM}'>Python {platform.python_version()} · "
        f"PySide6 {PySide6.__version__}<br>Logs: {logs} (a crash's stacks: crash-&lt;date&gt;.log)</span>"
    )
