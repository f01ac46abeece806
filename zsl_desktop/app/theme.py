"""One dark theme: palette, style sheet, plot defaults and the meaning of each colour.

Colours carry meaning across every panel, so they are defined once here:
seen classes are blue, unseen amber, the user's classes violet, the class
being edited pink; correct green, wrong red.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QPalette

BG = "#16181d"
PANEL = "#1d2027"
BASE = "#22262e"
ALT = "#2a2f39"
BORDER = "#333946"
TEXT = "#e6e8ee"
DIM = "#9aa2b1"
FAINT = "#6b7385"
ACCENT = "#4cc2ff"

SEEN = "#4cc2ff"
UNSEEN = "#ffb454"
USER = "#c792ea"
DRAFT = "#ff7eb6"
LOOSE = "#7ee0c3"
CORRECT = "#5fd38d"
WRONG = "#ff6b6b"

KIND_COLORS = {"seen": SEEN, "unseen": UNSEEN, "user": USER, "draft": DRAFT, "loose": LOOSE}
KIND_LABELS = {"seen": "seen", "unseen": "unseen", "user": "yours", "draft": "editing", "loose": "photo"}


def squeezable(label):
    """A label that never forces its panel wider than the panel would otherwise be (long text is clipped)."""
    from PySide6.QtWidgets import QSizePolicy

    label.setSizePolicy(QSizePolicy.Preferred, label.sizePolicy().verticalPolicy())
    label.setMinimumWidth(20)  # an explicit minimum replaces the text's width as the layout's minimum
    return label


def display_name(name: str) -> str:
    """A class name for people: CUB's ``001.Black_footed_Albatross`` -> ``Black footed Albatross``."""
    head, dot, tail = str(name).partition(".")
    if dot and head.isdigit() and tail:
        name = tail
    return name.replace("_", " ")


# Distinct hues for up to ~50 classes in scatter plots (evenly spaced in hue, two lightness bands).
def class_color(index: int, count: int) -> QColor:
    count = max(count, 1)
    hue = (index * 0.618033988749895) % 1.0
    light = 0.62 if index % 2 == 0 else 0.52
    color = QColor()
    color.setHslF(hue, 0.72, light)
    return color


STYLE = f"""
QWidget {{ color: {TEXT}; font-size: 10pt; }}
QMainWindow, QDialog {{ background: {BG}; }}
QMainWindow::separator {{ background: {BG}; width: 6px; height: 6px; }}
QMainWindow::separator:hover {{ background: {BORDER}; }}
QDockWidget {{ titlebar-close-icon: none; font-weight: 600; color: {DIM}; }}
QDockWidget::title {{ background: {BG}; padding: 6px 10px; text-align: left; }}
QDockWidget > QWidget {{ background: {PANEL}; }}
QFrame#panel {{ background: {PANEL}; border-radius: 8px; }}
QLabel#title {{ font-size: 12pt; font-weight: 600; color: {TEXT}; }}
QLabel#subtitle {{ color: {DIM}; }}
QLabel#hint {{ color: {FAINT}; }}
QLabel#empty {{ color: {DIM}; font-size: 11pt; padding: 24px; }}
QLabel#chip {{ border-radius: 4px; padding: 1px 6px; font-size: 8.5pt; font-weight: 600; }}
QToolTip {{ background: {ALT}; color: {TEXT}; border: 1px solid {BORDER}; padding: 4px; }}
QLineEdit, QComboBox, QSpinBox, QDoubleSpinBox {{
    background: {BASE}; border: 1px solid {BORDER}; border-radius: 5px; padding: 4px 6px;
    selection-background-color: {ACCENT}; selection-color: #0b1220;
}}
QDoubleSpinBox#value {{ padding: 1px 4px; background: transparent; border-color: transparent; color: {DIM}; }}
QDoubleSpinBox#value::up-button, QDoubleSpinBox#value::down-button {{ subcontrol-origin: border; width: 0px; border: none; }}
QDoubleSpinBox#value:focus {{ border-color: {ACCENT}; color: {TEXT}; background: {BASE}; }}
QLineEdit:focus, QComboBox:focus, QSpinBox:focus, QDoubleSpinBox:focus {{ border-color: {ACCENT}; }}
QComboBox::drop-down {{ border: none; width: 18px; }}
QLineEdit:disabled, QComboBox:disabled, QSpinBox:disabled, QDoubleSpinBox:disabled {{ color: {FAINT}; }}
QComboBox QAbstractItemView {{ background: {BASE}; border: 1px solid {BORDER}; selection-background-color: {ALT}; }}
QPushButton, QToolButton {{
    background: {ALT}; border: 1px solid {BORDER}; border-radius: 5px; padding: 5px 12px;
}}
QToolButton {{ padding: 4px 8px; }}
QPushButton:hover, QToolButton:hover {{ border-color: {ACCENT}; }}
QPushButton:pressed, QToolButton:pressed {{ background: {BASE}; }}
QPushButton:disabled, QToolButton:disabled {{ color: {FAINT}; border-color: {BASE}; }}
QPushButton#primary {{ background: {ACCENT}; color: #0b1220; border: none; font-weight: 600; }}
QPushButton#primary:disabled {{ background: {ALT}; color: {FAINT}; }}
QPushButton#danger {{ color: {WRONG}; }}
QToolButton:checked, QPushButton:checked {{ background: #1f3a4d; border-color: {ACCENT}; color: {TEXT}; }}
QListView, QTreeView, QTableView, QListWidget, QTreeWidget, QTableWidget {{
    background: {BASE}; border: 1px solid {BORDER}; border-radius: 6px; alternate-background-color: {ALT};
    gridline-color: {BORDER};
}}
QListView::item:selected, QTreeView::item:selected, QTableView::item:selected {{ background: #1f3a4d; color: {TEXT}; }}
QHeaderView::section {{ background: {PANEL}; color: {DIM}; border: none; border-bottom: 1px solid {BORDER}; padding: 4px 6px; }}
QTabWidget::pane {{ border: none; background: {PANEL}; }}
QTabBar::tab {{ background: {BG}; color: {DIM}; padding: 6px 10px; border: none; border-bottom: 2px solid transparent; }}
QTabBar::tab:selected {{ color: {TEXT}; border-bottom: 2px solid {ACCENT}; }}
QScrollArea {{ border: none; background: transparent; }}
QScrollBar:vertical {{ background: transparent; width: 10px; margin: 2px; }}
QScrollBar::handle:vertical {{ background: {BORDER}; border-radius: 4px; min-height: 30px; }}
QScrollBar:horizontal {{ background: transparent; height: 10px; margin: 2px; }}
QScrollBar::handle:horizontal {{ background: {BORDER}; border-radius: 4px; min-width: 30px; }}
QScrollBar::add-line, QScrollBar::sub-line {{ width: 0; height: 0; }}
QSlider::groove:horizontal {{ height: 4px; background: {ALT}; border-radius: 2px; }}
QSlider::sub-page:horizontal {{ background: {ACCENT}; border-radius: 2px; }}
QSlider::handle:horizontal {{ background: {TEXT}; width: 12px; height: 12px; margin: -5px 0; border-radius: 6px; }}
QSlider::handle:horizontal:hover {{ background: {ACCENT}; }}
QProgressBar {{ background: {BASE}; border: none; border-radius: 4px; height: 8px; text-align: center; color: transparent; }}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 4px; }}
QStatusBar {{ background: {BG}; color: {DIM}; }}
QStatusBar::item {{ border: none; }}
QMenuBar {{ background: {BG}; }}
QMenuBar::item:selected {{ background: {ALT}; }}
QMenu {{ background: {PANEL}; border: 1px solid {BORDER}; }}
QMenu::item {{ padding: 5px 22px; }}
QMenu::item:selected {{ background: {ALT}; }}
QToolBar {{ background: {BG}; border: none; border-bottom: 1px solid {PANEL}; spacing: 6px; padding: 4px 6px; }}
QToolBar QToolButton {{ background: transparent; border: 1px solid transparent; color: {DIM}; padding: 4px 10px; }}
QToolBar QToolButton:hover {{ color: {TEXT}; border-color: {BORDER}; background: {PANEL}; }}
QCheckBox::indicator {{ width: 14px; height: 14px; }}
QGroupBox {{ border: 1px solid {BORDER}; border-radius: 6px; margin-top: 14px; padding-top: 6px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 8px; color: {DIM}; }}
"""


def apply(app) -> None:
    """Fusion style, dark palette, the style sheet and a readable font (pyqtgraph's defaults: set by
    ``configure_pyqtgraph`` where the plots are built, which may be after the first predictions)."""
    app.setStyle("Fusion")
    palette = QPalette()
    roles = {
        QPalette.Window: BG,
        QPalette.WindowText: TEXT,
        QPalette.Base: BASE,
        QPalette.AlternateBase: ALT,
        QPalette.Text: TEXT,
        QPalette.Button: ALT,
        QPalette.ButtonText: TEXT,
        QPalette.Highlight: ACCENT,
        QPalette.HighlightedText: "#0b1220",
        QPalette.ToolTipBase: ALT,
        QPalette.ToolTipText: TEXT,
        QPalette.PlaceholderText: FAINT,
        QPalette.Link: ACCENT,
    }
    for role, color in roles.items():
        palette.setColor(role, QColor(color))
    palette.setColor(QPalette.Disabled, QPalette.Text, QColor(FAINT))
    palette.setColor(QPalette.Disabled, QPalette.ButtonText, QColor(FAINT))
    app.setPalette(palette)
    font = QFont("DejaVu Sans")
    font.setPointSizeF(10)
    app.setFont(font)
    app.setStyleSheet(STYLE)


def configure_pyqtgraph() -> None:
    import pyqtgraph as pg

    pg.setConfigOptions(background=PANEL, foreground=DIM, antialias=True, imageAxisOrder="row-major")


def style_plot(plot_item, x_label: str = "", y_label: str = "") -> None:
    """Quiet axes and a faint grid so the data carries the colour (the grid opaque, behind the data: ``plot_grid``)."""
    import pyqtgraph as pg

    from zsl_desktop.app.widgets.plot_grid import opaque_grid

    opaque_grid(plot_item, alpha=0.12, background=PANEL)
    for name in ("left", "bottom"):
        axis = plot_item.getAxis(name)
        axis.setPen(pg.mkPen(BORDER))
        axis.setTextPen(pg.mkPen(DIM))
    if x_label:
        plot_item.setLabel("bottom", x_label, color=DIM)
    if y_label:
        plot_item.setLabel("left", y_label, color=DIM)
