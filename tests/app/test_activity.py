"""Scrolling the gallery, editing a class or panning the feature view tells the engine's quiet gate (engine/quiet.py)."""

import pytest
from PySide6.QtWidgets import QScrollBar

from zsl_desktop.app.activity import ActivityWatch
from zsl_desktop.engine.quiet import GATE


@pytest.fixture
def untouched(monkeypatch):
    monkeypatch.setattr(GATE, "last_touch", float("-inf"))
    assert GATE.quiet()
    return GATE


def test_a_watched_signal_touches_the_gate(qtbot, untouched):
    bar = QScrollBar()
    qtbot.addWidget(bar)
    bar.setRange(0, 100)
    watch = ActivityWatch()
    watch.watch(bar.valueChanged)
    bar.setValue(50)
    assert not GATE.quiet()


def test_the_window_watches_the_gallery_the_editor_and_the_feature_view(make_window, untouched, monkeypatch):
    window = make_window(open_dataset=False)
    signals = (
        lambda: window.gallery.view.verticalScrollBar().valueChanged.emit(3),
        lambda: window.editor.draft_changed.emit(),
        lambda: window.features.plot.getPlotItem().getViewBox().sigRangeChanged.emit(None, [[0, 1], [0, 1]], [True]),
    )
    for emit in signals:
        monkeypatch.setattr(GATE, "last_touch", float("-inf"))
        emit()
        assert not GATE.quiet()
