"""The training curves: phases continue the loss plot, folds keep their own validation curves."""

import numpy as np

from zsl_desktop.app.panels.training import TrainingPanel


def test_a_new_phase_continues_the_loss_plot_after_a_line(qtbot):
    panel = TrainingPanel()
    qtbot.addWidget(panel)
    curves = panel.curves
    curves.start()
    curves.start_phase("select")
    curves.add_losses(np.arange(1, 11), {"total": np.linspace(2, 1, 10), "cls": np.ones(10)})
    curves.start_phase("final")  # retraining: its step 1 comes after the selection run's step 10
    curves.add_losses(np.arange(1, 6), {"total": np.full(5, 0.5)})
    curves.stop()
    x, y = curves.loss_curve("total").getData()
    assert list(x) == list(range(1, 11)) + list(range(11, 16))
    assert y[-1] == 0.5
    assert curves.loss_curve("total").isVisible() and not curves.loss_curve("cls").isVisible()
    lines = [item for item in panel.loss_plot.getPlotItem().items if type(item).__name__ == "InfiniteLine"]
    assert [line.value() for line in lines] == [10.0]


def test_each_fold_draws_its_own_validation_curves_and_a_new_run_clears_them(qtbot):
    panel = TrainingPanel()
    qtbot.addWidget(panel)
    curves = panel.curves
    curves.start()
    curves.add_validation(1, {"h": 0.5, "u": 0.4}, fold=0, folds=2)
    curves.add_validation(1, {"h": 0.25, "u": 0.2}, fold=1, folds=2)
    curves.redraw()
    assert curves.validation_curve("H").getData()[1].tolist() == [25.0]
    assert (curves.fold, curves.folds) == (1, 2) and curves.validation_curve("S") is None
    curves.start()  # the next run starts clean
    assert curves.losses == {} and curves.validation == {} and curves.validation_curve("H") is None
    curves.stop()


def test_new_curves_are_made_a_few_a_redraw_total_first_and_all_at_the_end(qtbot):
    from zsl_desktop.app.widgets.training_curves import NEW_CURVES_PER_REDRAW

    panel = TrainingPanel()
    qtbot.addWidget(panel)
    curves = panel.curves
    curves.start()
    names = ["ce_av", "ce_va", "sc_av", "sc_va", "distill", "total"]
    curves.add_losses(np.arange(1, 4), {name: np.ones(3) for name in names})
    curves.redraw()
    made = [name for name in names if curves.loss_curve(name) is not None]
    assert curves.loss_curve("total") is not None and len(made) == NEW_CURVES_PER_REDRAW
    assert curves.loss_curve("total").getData()[0].tolist() == [1, 2, 3]
    curves.redraw()  # no new data: the curves still waiting are made all the same
    assert sum(curves.loss_curve(name) is not None for name in names) == 2 * NEW_CURVES_PER_REDRAW
    curves.add_validation(1, {"h": 0.5, "u": 0.4, "s": 0.6, "zsl_t1": 0.3})
    curves.stop()  # the run's end draws every curve
    assert all(curves.loss_curve(name) is not None for name in names)
    assert len(curves.validation_curves()) == 4 and curves.validation_curve("H").getData()[1].tolist() == [50.0]


def test_a_hidden_loss_term_is_drawn_when_shown(qtbot):
    panel = TrainingPanel()
    qtbot.addWidget(panel)
    curves = panel.curves
    curves.start()
    curves.add_losses(np.arange(1, 4), {"total": np.ones(3), "cls": np.array([3.0, 2.0, 1.0])})
    curves.stop()
    hidden = curves.loss_curve("cls")
    x, _ = hidden.getData()
    assert not hidden.isVisible() and (x is None or len(x) == 0)  # no data drawn while hidden
    hidden.setVisible(True)  # what its legend entry does
    assert hidden.getData()[1].tolist() == [3.0, 2.0, 1.0]
    curves.add_losses(np.arange(4, 5), {"total": np.ones(1), "cls": np.array([0.5])})
    curves.redraw()
    assert hidden.getData()[1].tolist() == [3.0, 2.0, 1.0, 0.5]
