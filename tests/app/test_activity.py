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


def test_when_quiet_calls_at_once_or_at_the_users_first_pause(qtbot, untouched, monkeypatch):
    from PySide6.QtCore import QObject, QTimer

    from zsl_desktop.app.activity import when_quiet

    monkeypatch.setattr(GATE, "quiet_after", 0.3)
    context = QObject()
    calls = []
    when_quiet(context, lambda: calls.append("quiet"))
    assert calls == ["quiet"]  # nobody scrolling: now, not later
    scrolling = QTimer()
    scrolling.timeout.connect(GATE.touch)
    scrolling.start(50)
    GATE.touch()
    when_quiet(context, lambda: calls.append("after the pause"))
    qtbot.wait(600)
    assert calls == ["quiet"]  # still scrolling: waits
    scrolling.stop()
    qtbot.waitUntil(lambda: calls == ["quiet", "after the pause"], timeout=3000)
    GATE.touch()
    when_quiet(context, lambda: calls.append("past the limit"), limit=0.2)  # a user who never pauses
    scrolling.start(50)
    qtbot.waitUntil(lambda: calls[-1] == "past the limit", timeout=3000)
    scrolling.stop()
    gone = QObject()
    GATE.touch()
    when_quiet(gone, lambda: calls.append("for a deleted window"))
    gone.deleteLater()
    qtbot.wait(700)
    assert calls[-1] == "past the limit"


def test_the_window_builds_its_plots_and_shows_the_evaluation_in_a_pause(make_window, qtbot, untouched, monkeypatch):
    """Both build the plots (pyqtgraph: ~0.4 s of the GUI thread): not while the user scrolls the gallery."""
    from PySide6.QtCore import QTimer

    monkeypatch.setattr(GATE, "quiet_after", 0.3)
    # the evaluation itself waits for a pause too, at most WAIT_LIMIT_S: a user who never pauses gets it then,
    # and its report (which builds the plots) still waits
    monkeypatch.setattr("zsl_desktop.app.workers.WAIT_LIMIT_S", 2.0)
    scrolling = QTimer()
    window = None

    def scroll():
        bar = window.gallery.view.verticalScrollBar()
        bar.setValue((bar.value() + 7) % max(1, bar.maximum()))
        GATE.touch()  # the scroll bar at its end may not move: the user is scrolling all the same

    scrolling.timeout.connect(scroll)
    shown = []
    window = make_window(wait=False)
    window.training.show_report = lambda report, title: shown.append(title)  # builds the plots: after a pause
    assert not window.training.plots_built
    scrolling.start(50)
    with qtbot.waitSignal(window.bridge.evaluated, timeout=60000):
        pass
    qtbot.wait(500)
    assert not window.training.plots_built and not window.features.plot_ready and not shown
    scrolling.stop()
    qtbot.waitUntil(lambda: window.training.plots_built and window.features.plot_ready and bool(shown), timeout=5000)
    qtbot.waitUntil(window.bridge.idle, timeout=30000)
