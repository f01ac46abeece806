"""Plots as complete figures: whole-number epoch ticks, legends outside the data, exports of the asked plot."""

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

from zsl_desktop.app.panels.feature_view import FeatureViewPanel
from zsl_desktop.app.panels.training import TrainingPanel
from zsl_desktop.app.training_words import phase_text
from zsl_desktop.app.widgets.plot_figure import IntegerAxis
from zsl_desktop.engine.projection import project
from zsl_desktop.engine.training import Validation


def _settle(qtbot, widget):
    widget.resize(900, 500)
    widget.show()
    qtbot.waitExposed(widget)
    for _ in range(3):
        QApplication.processEvents()


@pytest.mark.parametrize("low, high", [(0.8, 3.2), (0.5, 1.5), (0, 1), (1, 2), (0, 30), (0, 300)])
def test_integer_axis_ticks_only_whole_numbers(qtbot, low, high):
    axis = IntegerAxis("bottom")
    values = [v for _, level in axis.tickValues(low, high, 600) for v in level]
    assert values and all(float(v).is_integer() for v in values)


def _validation(epoch, h):
    return Validation(
        epoch=epoch, metrics={"h": h, "u": h / 2, "s": h * 1.5, "zsl_t1": h}, best_epoch=1, split="validation"
    )


def test_validation_plot_has_whole_epoch_ticks_and_legends_sit_outside_the_data(qtbot):
    panel = TrainingPanel()
    qtbot.addWidget(panel)
    panel.on_started()
    for epoch in (1, 2, 3):
        panel.on_event(_validation(epoch, 0.2 * epoch))
    panel.on_finished("done")
    panel.tabs.setCurrentIndex(1)
    _settle(qtbot, panel)
    item = panel.val_plot.getPlotItem()
    (low, high), _ = item.viewRange()
    ticks = [v for _, level in item.getAxis("bottom").tickValues(low, high, 600) for v in level]
    assert ticks and all(float(v).is_integer() for v in ticks)  # epochs: never 1.5
    for plot in (panel.val_plot, panel.loss_plot):
        plot_item = plot.getPlotItem()
        legend = plot_item.legend
        data_area = plot_item.vb.sceneBoundingRect()
        assert not legend.sceneBoundingRect().intersects(data_area)
        assert plot_item.sceneBoundingRect().contains(legend.sceneBoundingRect())  # so exports include it
    assert [label.text for _, label in item.legend.items] == ["H", "U", "S", "ZSL T1"]
    colours = {curve.opts["pen"].color().name() for curve in panel.curves.validation_curves()}
    assert len(colours) == 4  # each curve can be told from the others
    panel.curves.stop()


def test_training_export_names_the_plot_it_saves(qtbot):
    panel = TrainingPanel()
    qtbot.addWidget(panel)
    asked = []
    panel.export_plot_requested.connect(asked.append)
    for index, which in ((0, "loss"), (1, "validation"), (2, "evaluation")):
        panel.tabs.setCurrentIndex(index)
        assert panel.export_button.isEnabled() and panel.plot_title(which) in panel.export_button.text()
        panel.export_button.click()
        assert asked[-1] == which
        assert (
            panel.plot_item(which)
            is {"loss": panel.loss_plot, "validation": panel.val_plot, "evaluation": panel.curve_plot}[
                which
            ].getPlotItem()
        )
    panel.tabs.setCurrentIndex(3)  # Parameters: no plot, so nothing to export (it used to export a plot)
    assert not panel.export_button.isEnabled()


def test_feature_plot_is_a_complete_figure(qtbot, small_birds):
    panel = FeatureViewPanel()
    qtbot.addWidget(panel)
    panel.set_dataset(small_birds, True)
    rng = np.random.default_rng(0)
    features = rng.normal(size=(small_birds.num_samples, 16)).astype(np.float32)
    panel.set_projection(project(features, small_birds.labels, "pca", cap=40))
    _settle(qtbot, panel)
    item = panel.plot.getPlotItem()
    assert "PCA of backbone features" in item.titleLabel.text and item.titleLabel.isVisible()
    assert "PC1" in item.getAxis("bottom").labelText and "PC2" in item.getAxis("left").labelText
    assert item.getAxis("bottom").isVisible() and item.getAxis("left").isVisible()
    assert [label.text for _, label in panel.legend.items] == ["seen", "unseen"]
    assert panel.footer.text.startswith(f"showing 40 of {small_birds.num_samples:,} images · PCA")
    figure = item.sceneBoundingRect()
    for part in (panel.legend, panel.footer, item.titleLabel):
        assert figure.contains(part.sceneBoundingRect())  # inside what the exporters render
    assert not panel.legend.sceneBoundingRect().intersects(item.vb.sceneBoundingRect())
    assert not panel.caption.isVisible()  # the footer says it; no clipped duplicate under the plot
    panel.set_synthesized(np.zeros((3, 2), np.float32), np.array([0, 1, 2]))
    assert [label.text for _, label in panel.legend.items] == ["seen", "unseen", "synthesised"]
    panel.set_projection(project(features, small_birds.labels, "tsne", cap=120, iterations=20))
    assert item.getAxis("bottom").labelText == "t-SNE 1"
    assert not item.getAxis("bottom").style["showValues"]  # t-SNE coordinates carry no meaning


def test_validation_plot_shows_one_fold_at_a_time_and_names_it(qtbot):
    """Validation selection trains one model per fold of pseudo-unseen classes; their epochs must not interleave."""
    panel = TrainingPanel()
    qtbot.addWidget(panel)
    panel.on_started()
    for fold in (0, 1):
        for epoch in (1, 2, 3):
            panel.on_event(
                Validation(
                    epoch=epoch,
                    metrics={"h": 0.1 * (fold + 1), "u": 0.1, "s": 0.2, "zsl_t1": 0.3},
                    best_epoch=1,
                    split="validation",
                    fold=fold,
                    folds=3,
                )
            )
    panel.curves.redraw()
    xs, ys = panel.curves.validation_curve("H").getData()
    assert list(xs) == [1, 2, 3] and all(abs(y - 20.0) < 1e-9 for y in ys)  # fold 2's curve alone
    assert "fold 2 of 3" in panel.val_plot.getPlotItem().titleLabel.text
    assert phase_text("select1", 1, 3) == "phase 1 of 2 · selecting on validation, fold 2 of 3"
    assert phase_text("final") == "phase 2 of 2 · retraining"
    panel.curves.stop()


def test_a_hidden_feature_view_draws_no_t_sne_frames_until_shown(qtbot, small_birds):
    """Its tab behind the training's as the window opens: the frames nobody sees are not drawn (40-65 ms of the GUI
    thread each on CUB), the final map is; shown during a t-SNE, it draws the latest frame."""
    from dataclasses import replace

    panel = FeatureViewPanel()
    qtbot.addWidget(panel)
    panel.set_dataset(small_birds, True)
    features = np.random.default_rng(0).normal(size=(small_birds.num_samples, 16)).astype(np.float32)
    final = project(features, small_birds.labels, "tsne", cap=60, iterations=20)
    frame = replace(final, final=False)
    panel.set_projection(frame)  # never shown yet
    qtbot.wait(300)  # several frame intervals
    assert panel.projection is None
    panel.set_projection(final)
    assert panel.projection is final  # the final map, hidden or not
    panel.set_projection(replace(final, final=False, points=final.points * 2))
    _settle(qtbot, panel)
    qtbot.waitUntil(lambda: panel.projection is not final and not panel.projection.final, timeout=2000)


def test_the_feature_space_tab_draws_the_frame_kept_while_it_was_behind_the_training_tab(make_window, qtbot):
    from dataclasses import replace

    w = make_window(with_model=False)
    qtbot.waitUntil(lambda: w.features.projection is not None and w.bridge.idle(), timeout=30000)
    assert not w.features.on_screen(), "the training tab is in front as the window opens"
    drawn = w.features.projection
    frame = replace(drawn, final=False, points=drawn.points * 2)
    w.features.set_projection(frame)
    qtbot.wait(300)
    assert w.features.projection is drawn
    w.docks["features"].raise_()  # the user chooses the tab
    qtbot.waitUntil(lambda: w.features.projection is frame, timeout=3000)
