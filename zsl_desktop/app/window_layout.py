"""Where the panels sit in the main window: the docks, their default sizes, the layout saved between runs.

Why apart: the layout is Qt's dock machinery and the settings file; the window only names its panels.
``STATE_VERSION`` goes up when the docks change, so an old saved layout is not restored onto new docks.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QMainWindow, QWidget

STATE_VERSION = 3


class DockLayout:
    """The window's docks by key (``docks``); restores and saves the layout with the panels' own settings."""

    def __init__(self, window: QMainWindow):
        self.window = window
        self.docks: dict[str, QDockWidget] = {}
        self.default_state = None  # the layout before any saved one is restored (View ▸ Reset layout)

    def add(self, key: str, title: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self.window)
        dock.setObjectName(f"dock_{key}")
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable | QDockWidget.DockWidgetClosable
        )
        self.window.addDockWidget(area, dock)
        self.docks[key] = dock
        return dock

    def arrange(self) -> None:
        """Gallery left, predictions over the class editor right, training and feature space tabbed below."""
        w, d = self.window, self.docks
        w.setCorner(Qt.BottomLeftCorner, Qt.LeftDockWidgetArea)
        w.setCorner(Qt.BottomRightCorner, Qt.RightDockWidgetArea)
        w.splitDockWidget(d["predictions"], d["editor"], Qt.Vertical)
        w.tabifyDockWidget(d["training"], d["features"])
        d["training"].raise_()
        w.setDockOptions(QMainWindow.AnimatedDocks | QMainWindow.AllowTabbedDocks | QMainWindow.AllowNestedDocks)

    def default_sizes(self) -> None:
        w, d = self.window, self.docks
        w.resizeDocks([d["gallery"], d["predictions"]], [400, 430], Qt.Horizontal)
        w.resizeDocks([d["predictions"], d["editor"]], [392, 528], Qt.Vertical)
        w.resizeDocks([d["training"]], [330], Qt.Vertical)

    def remember_default(self) -> None:
        self.default_state = self.window.saveState(STATE_VERSION)

    def reset(self) -> None:
        self.window.restoreState(self.default_state, STATE_VERSION)
        for dock in self.docks.values():
            dock.show()

    def restore(self, settings, panels) -> None:
        """The saved geometry and docks, then each panel's own settings."""
        geometry = settings.bytes("window/geometry")
        state = settings.bytes("window/state")
        if geometry is not None:
            self.window.restoreGeometry(geometry)
        if state is not None:
            self.window.restoreState(state, STATE_VERSION)
        for panel in panels:
            panel.restore_settings(settings)

    def save(self, settings, panels) -> None:
        settings.set("window/geometry", self.window.saveGeometry())
        settings.set("window/state", self.window.saveState(STATE_VERSION))
        for panel in panels:
            panel.save_settings(settings)
        settings.sync()
