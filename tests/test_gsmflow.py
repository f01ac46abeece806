"""GSMFlow the method: registration, training on a tiny problem, cancel, an untrained model, and the shared
trainer on an xlsa17 res101.mat fixture (evaluation, validation selection, gamma transfer, final models).

The flow and its losses are tested in test_gsmflow_flows.py, the state and resume in test_gsmflow_state.py,
drawn classes and live moves in test_gsmflow_drawn_classes.py, the final classifier's options in
test_gsmflow_classifier.py, the averaged classifier draws in test_gsmflow_draws.py.
"""

import numpy as np
import pytest
import torch

from gsmflow_toys import D, K, TINY, fit_to_end, tiny_data, tiny_gsmflow, write_xlsa17
from zsl_desktop.engine.events import run_to_end
from zsl_desktop.engine.live_page import CodeProjection
from zsl_desktop.engine.methods import get_method
from zsl_desktop.engine.methods.base import Cancelled, Control, EpochEnd, Message, Step
from zsl_desktop.engine.methods.gsmflow import GSMFlow
from zsl_desktop.engine.training import Finished, TrainConfig, train


def test_registered_with_its_metadata():
    cls = get_method("gsmflow")
    assert cls is GSMFlow and cls.feature_kind == "pooled" and cls.generative and not cls.has_attention
    with pytest.raises(ValueError):
        tiny_gsmflow({"anchors": "middle"})
    with pytest.raises(ValueError):
        tiny_gsmflow({"no_such_knob": 1})


def test_fit_tiny_problem_events_no_nan_and_useful_scores():
    data, features, labels = tiny_data()
    m = tiny_gsmflow()
    events = fit_to_end(m, data, 3)
    assert [e.epoch for e in events if isinstance(e, EpochEnd)] == [1, 2, 3]
    assert any(isinstance(e, Message) and "mined" in e.text for e in events)
    steps = [e for e in events if isinstance(e, Step)]
    assert steps[-1].step == steps[-1].total == 3 * 6  # an epoch: 96 real + 96 mined rows in batches of 32
    assert all(np.isfinite(list(s.losses.values())).all() for s in steps)
    codes = m.encode(torch.from_numpy(features))
    assert codes.dtype == np.float32 and codes.shape[0] == len(labels) and codes.shape[1] < D + 1
    scores = m.score(codes, data.class_attributes)
    assert scores.shape == (len(labels), K) and np.isfinite(scores).all()
    seen_rows = labels < 4
    assert (scores[seen_rows][:, :4].argmax(1) == labels[seen_rows]).mean() > 0.8


def test_cancel_stops_at_the_next_batch():
    data, _, _ = tiny_data()
    m, control = tiny_gsmflow({"mining": False}), Control()
    gen = m.fit(data, control, 5)
    next(gen)
    control.cancel()
    with pytest.raises(Cancelled):
        for _ in gen:
            pass


def test_untrained_model_says_so():
    with pytest.raises(ValueError, match="not trained"):
        tiny_gsmflow().encode(torch.zeros(2, D))


def test_trains_and_evaluates_on_an_xlsa17_fixture(tmp_path, monkeypatch):
    from zsl_desktop.engine.data.xlsa17 import load_xlsa17
    from zsl_desktop.engine.session import Session

    folder = tmp_path / "toy"
    folder.mkdir()
    write_xlsa17(folder)
    dataset = load_xlsa17(folder)
    assert not dataset.has_images
    session = Session(dataset)
    config = TrainConfig(method="gsmflow", epochs=2, hparams={**TINY, "code_pca": 8}, seed=0)
    finished = run_to_end(train(dataset, session.features, config, checkpoint_path=tmp_path / "g.pt"))
    assert isinstance(finished, Finished) and finished.report is not None
    figures = finished.report.as_dict()
    assert all(np.isfinite(figures[k]) for k in ("zsl_t1", "u", "s", "h", "ausuc"))
    state = session.load_checkpoint(tmp_path / "g.pt")
    assert state.codes.shape[0] == dataset.num_samples
    again = session.evaluate().as_dict()
    assert again["h"] == pytest.approx(figures["h"]) and again["zsl_t1"] == pytest.approx(figures["zsl_t1"])
    from zsl_desktop.engine import scoring

    def no_encoding(*args, **kwargs):
        raise AssertionError("the session evaluates from the codes it already has")

    monkeypatch.setattr(scoring, "encode_rows", no_encoding)
    assert session.evaluate().as_dict()["h"] == pytest.approx(again["h"])
    # a model loaded by the app's job is ready for live moves: none computes the codes' directions; the job
    # announces the model first and prepares for them after
    order, prepare = [], session.prepare_live
    monkeypatch.setattr(session, "prepare_live", lambda: order.append("prepared") or prepare())
    for event in session.load_model_job(tmp_path / "g.pt", None, None):
        order.append(type(event).__name__)
    assert order == ["Progress", "ModelSummary", "prepared"]

    def recomputed(*_):
        raise AssertionError("a slider move computed the codes' directions")

    monkeypatch.setattr(CodeProjection, "_directions", recomputed)
    row = dataset.class_attributes[-1].astype(np.float32)
    assert session.active().method.column_change(session.all_codes(), row + 0.25, row + 0.5) is not None


def test_select_last_and_calibration_shape_the_validation_selection(tmp_path):
    """select_last k: the folds are validated on their last k epochs only and the final run takes every epoch;
    calibration f: the final run keeps f of each seen class aside to place gamma."""
    from zsl_desktop.engine.data.xlsa17 import load_xlsa17
    from zsl_desktop.engine.session import Session
    from zsl_desktop.engine.training import Validation

    assert GSMFlow.last_epochs_window({"select_last": "2"}) == 2  # typed in the CLI: text
    assert GSMFlow.last_epochs_window({}) == 5  # the default since session 5 (0: the epoch chosen on the folds)
    assert GSMFlow.last_epochs_window({"select_last": 0}) == 0
    folder = tmp_path / "toy"
    folder.mkdir()
    write_xlsa17(folder)
    dataset = load_xlsa17(folder)
    session = Session(dataset)
    assert GSMFlow.calibration_fraction({}) == 0.2  # the default since session 5
    assert GSMFlow.calibration_fraction({"calibration": 0}) is None  # the trainer's default
    assert GSMFlow.calibration_fraction({"calibration": "0.25"}) == 0.25
    hparams = {**TINY, "code_pca": 8, "mining": False, "select_last": 2, "calibration": 0.25}
    config = TrainConfig(method="gsmflow", epochs=4, hparams=hparams, seed=0, folds=2)
    validated = []
    finished = run_to_end(
        train(dataset, session.features, config),
        lambda e: validated.append((e.fold, e.epoch)) if isinstance(e, Validation) else None,
    )
    assert validated == [(0, 3), (0, 4), (1, 3), (1, 4)]
    selection = finished.header["selection"]
    assert selection["best_epoch"] == 4 and selection["last_epochs"] == 2
    assert selection["calibration_images"] == 4 * 2  # a quarter of each seen class's 8 trainval images (default: 1)
    assert np.isfinite(finished.report.as_dict()["h"])


def test_gamma_transfer_is_a_hyper_parameter_and_a_wrong_one_is_refused_before_training(tmp_path):
    from zsl_desktop.engine.data.xlsa17 import load_xlsa17
    from zsl_desktop.engine.session import Session

    assert GSMFlow.transfer_for({}) == "calibration"  # the default
    assert GSMFlow.transfer_for({"gamma_transfer": "training_share"}) == "training_share"
    folder = tmp_path / "toy"
    folder.mkdir()
    write_xlsa17(folder)
    dataset = load_xlsa17(folder)
    config = TrainConfig(method="gsmflow", epochs=1, hparams={**TINY, "gamma_transfer": "median"}, folds=2)
    with pytest.raises(ValueError, match="gamma_transfer must be one of"):
        next(train(dataset, Session(dataset).features, config))


def test_final_models_pool_their_synthetic_rows_into_one_classifier_and_resume_inside_the_second(tmp_path):
    """final_models K: K final flows, the last one's classifier learns from all their synthetic rows; a run
    interrupted inside the second final model continues to the same model (the first one's rows in the state)."""
    from zsl_desktop.engine.checkpoints import load_checkpoint
    from zsl_desktop.engine.data.xlsa17 import load_xlsa17
    from zsl_desktop.engine.events import EpochEnd
    from zsl_desktop.engine.resume import resume_path
    from zsl_desktop.engine.session import Session
    from zsl_desktop.engine.training import Phase

    folder = tmp_path / "toy"
    folder.mkdir()
    write_xlsa17(folder)
    dataset = load_xlsa17(folder)
    features = Session(dataset).features
    hparams = {**TINY, "code_pca": 8, "mining": False, "final_models": 2, "select_last": 1}  # final runs: 2 epochs
    config = TrainConfig(method="gsmflow", epochs=2, hparams=hparams, seed=3, folds=1)
    phases = []
    straight = run_to_end(
        train(dataset, features, config, checkpoint_path=tmp_path / "s.pt"),
        lambda e: phases.append(e.description) if isinstance(e, Phase) and e.name == "final" else None,
    )
    assert len(phases) == 2 and "model 2 of 2, seed 1003" in phases[1]
    assert straight.header["selection"]["final_seeds"] == [3, 1003]
    rows = straight.method._member_rows
    assert rows is not None and rows.shape[:2] == (len(dataset.unseen_classes), TINY["n_synth"])
    assert not any(k.startswith("optim.") for k in load_checkpoint(tmp_path / "s.pt").state)  # no rows shipped

    path, control, finals = tmp_path / "r.pt", Control(), []

    def stop_in_the_second_final_model(event):
        if isinstance(event, Phase) and event.name == "final":
            finals.append(event)
        if len(finals) == 2 and isinstance(event, EpochEnd):
            control.cancel()

    assert run_to_end(
        train(dataset, features, config, control, checkpoint_path=path), stop_in_the_second_final_model
    ).cancelled
    assert "optim.members.rows" in load_checkpoint(resume_path(path)).state["model"]
    resumed = run_to_end(train(dataset, features, config, checkpoint_path=path, resume=True), lambda e: None)
    for key, value in load_checkpoint(tmp_path / "s.pt").state.items():
        torch.testing.assert_close(load_checkpoint(path).state[key], value, rtol=0, atol=0)
    assert resumed.report.as_dict() == straight.report.as_dict()
