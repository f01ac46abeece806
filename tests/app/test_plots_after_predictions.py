"""The window's plots (pyqtgraph: ~0.4 s of CPU to import and build) are built after its first predictions,
or when anything needs one before (main_window.PLOTS_AFTER_PREDICTIONS_MS, TrainingPanel.build_plots,
FeatureViewPanel.build_plot)."""

from zsl_desktop.app.panels.feature_view import FeatureViewPanel
from zsl_desktop.app.panels.training import TrainingPanel


def _built(window) -> bool:
    return window.training.plots_built and window.features.plot_ready


def test_the_plots_are_built_once_the_first_predictions_have_arrived(make_window, qtbot):
    window = make_window(wait=False)  # the small birds and a model: returns once the dataset is ready
    assert not window.training.plots_built and not window.features.plot_ready
    with qtbot.waitSignal(window.bridge.live_scores, timeout=60000):
        pass
    assert not _built(window), "the predictions are painted first"
    qtbot.waitUntil(lambda: _built(window), timeout=10000)
    qtbot.waitUntil(window.bridge.idle, timeout=30000)


def test_without_a_model_the_plots_are_built_when_the_opening_ends(make_window, qtbot):
    window = make_window(with_model=False)
    qtbot.waitUntil(lambda: _built(window), timeout=10000)


def test_a_panel_builds_its_plots_when_something_needs_them(qtbot):
    training = TrainingPanel(lazy_plots=True)
    features = FeatureViewPanel(lazy_plot=True)
    qtbot.addWidget(training)
    qtbot.addWidget(features)
    assert not training.plots_built and not features.plot_ready
    assert training.plot_item("loss") is training.loss_plot.getPlotItem()
    assert training.plots_built and training.tabs.widget(0).layout().indexOf(training.loss_plot) == 0
    assert training.cards.text("h") == "–", "an empty evaluation, as an eager panel starts"
    with qtbot.waitSignal(features.plot_built, timeout=1000):
        assert len(features.marker.points()) == 0
    assert features.plot_ready
    features.select_item(3)  # no projection yet: nothing to mark, and nothing built again
    assert len(features.marker.points()) == 0


def test_an_evaluation_that_comes_before_the_plots_waits_for_them(qtbot):
    """Showing it built the plots at once: pyqtgraph imported on the GUI thread, or its import on the helper thread
    waited for (main_window's plot_import); it is shown when the plots are built, unless another dataset opened."""
    from types import SimpleNamespace

    import numpy as np

    curve = SimpleNamespace(seen=np.linspace(0, 1, 5), unseen=np.linspace(1, 0, 5))
    gzsl = SimpleNamespace(h=0.5, u=0.4, s=0.6667, gamma=1.5)
    report = SimpleNamespace(gzsl=gzsl, zsl=0.55, ausuc=0.3, gamma_source="validation", curve=curve)
    training = TrainingPanel(lazy_plots=True)
    qtbot.addWidget(training)
    training.show_report(report, "Test-split evaluation of the active model (test)")
    assert not training.plots_built
    training.build_plots()
    assert training.cards.text("h") == "50.0%" and training.cards.text("gamma") == "+1.50"
    later = TrainingPanel(lazy_plots=True)
    qtbot.addWidget(later)
    later.show_report(report, "an evaluation of the last dataset")
    later.set_dataset(None)  # another dataset opened before the plots were built: its report is not this one's
    assert later.cards.text("h") == "–"
