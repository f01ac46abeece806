"""SGMA the method: registration, shapes of codes, scores and explanations, the two training stages, seeding and
cancelling, the state through a weights-only file, resuming, the stream kinds and centred codes."""

import math

import numpy as np
import pytest
import torch

from zsl_desktop.engine.methods import get_method
from zsl_desktop.engine.methods.base import FEW_SEEN_CLASSES, Cancelled, Control, EpochEnd, Message, ModelInfo, Step
from zsl_desktop.engine.methods.sgma import SGMA
from zsl_desktop.engine.methods.sgma.parts import CROP, GLOBAL, GRID

from sgma_toys import round_trip, toy_problem

HP = {"batch_size": 16, "epochs": 4, "attention_epochs": 2, "kmeans_images": 40}


def _losses(events):
    return [e.losses["total"] for e in events if isinstance(e, Step)]


def test_registered_with_its_metadata():
    assert get_method("sgma") is SGMA
    assert SGMA.feature_kind == "grid" and SGMA.has_attention
    assert SGMA.default_hparams["parts"] == 2 and SGMA.default_hparams["box_k"] == 10.0
    assert SGMA.default_hparams["div_margin"] == 0.2 and SGMA.default_hparams["cct_margin"] == 0.8
    with pytest.raises(ValueError):
        SGMA(toy_problem()[0], {"nonsense": 1})


def test_calibration_rate_chooses_the_aim_and_refuses_other_words():
    """The default "expected" aims gamma at engine.readout's rate, "best" at the best fold-mean H's rate."""
    assert SGMA.aims_for_readout({}) and SGMA.aims_for_readout({"calibration_rate": " Expected"})
    assert not SGMA.aims_for_readout({"calibration_rate": "best"})
    with pytest.raises(ValueError, match="calibration_rate"):
        SGMA(toy_problem()[0], {"calibration_rate": "median"})


def test_shapes_of_codes_scores_and_explanations():
    info, data = toy_problem()
    m = SGMA(info, HP)
    list(m.fit(data, Control(), epochs=1))
    x = data.features.rows("grid", np.arange(5))
    codes = m.encode(x)
    assert codes.shape == (5, 8) and codes.dtype == np.float32
    scores = m.score(codes, data.class_attributes)
    assert scores.shape == (5, 6)
    assert m.score(codes, data.class_attributes[:3]).shape == (5, 3)  # any class matrix
    e = m.explain(x[0])
    assert e.part_attention.shape == (2, 4, 4) and e.attention.shape == (8, 4, 4)
    assert e.attribute_scores.shape == (8,)
    np.testing.assert_allclose(e.attribute_scores, codes[0], rtol=1e-5, atol=1e-6)
    boxes = e.part_boxes
    assert boxes.shape == (2, 4) and (boxes >= 0).all() and (boxes <= 1).all()
    assert (boxes[:, 2] > boxes[:, 0]).all()
    np.testing.assert_allclose(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1], atol=1e-6)  # squares
    side = boxes[:, 2] - boxes[:, 0]
    assert (side >= HP.get("min_side", 0.25) - 1e-6).all() and (side <= 0.6 + 1e-6).all()
    assert e.extras["part_features"] == "grid"
    assert m.boxes(x).shape == (5, 2, 4)
    with pytest.raises(ValueError):
        m.encode(torch.zeros(2, 16, 3, 3))  # another grid size


def test_fit_runs_both_stages_and_lowers_the_loss():
    info, data = toy_problem()
    m = SGMA(info, {**HP, "batch_size": 8})
    events = list(m.fit(data, Control(), epochs=8))
    steps = [e for e in events if isinstance(e, Step)]
    assert [e.epoch for e in events if isinstance(e, EpochEnd)] == list(range(1, 9))
    assert isinstance(events[0], Message) and "part groups" in events[0].text
    assert len(steps) == 8 * 8 and [s.step for s in steps] == list(range(1, 65))
    assert set(steps[0].losses) == {"total", "cls", "cct", "cpt", "div", "box"}  # stage 1
    assert set(steps[-1].losses) == {"total", "cls", "cct"}  # stage 2: heads only
    assert all(math.isfinite(v) for s in steps for v in s.losses.values())
    losses = _losses(events)
    assert np.mean(losses[-8:]) < np.mean(losses[:8])
    # Without images there are no crops: the crop streams stay untrained.
    assert m._net.trained.tolist() == [8.0, 8.0, 0.0]
    codes = m.encode(data.features.rows("grid", data.train_index))
    predicted = m.score(codes, data.class_attributes)[:, :4].argmax(1)
    assert np.mean(predicted == data.train_labels) > 0.8


def test_stage_2_freezes_attention_and_boxes():
    info, data = toy_problem()
    m = SGMA(info, HP)
    gen = m.fit(data, Control(), epochs=4)
    for event in gen:
        if isinstance(event, EpochEnd) and event.epoch == 2:
            break
    x = data.features.rows("grid", np.arange(6))
    boxes, heads = m.boxes(x), m._net.heads.detach().clone()
    list(gen)
    np.testing.assert_array_equal(m.boxes(x), boxes)
    assert not torch.equal(m._net.heads, heads)


def test_fit_is_seeded_and_cancel_raises():
    info, data = toy_problem()
    a, b = SGMA(info, HP), SGMA(info, HP)
    assert _losses(a.fit(data, Control(), 3)) == _losses(b.fit(data, Control(), 3))
    control = Control()
    gen = SGMA(info, HP).fit(data, control, epochs=3)
    next(gen)
    control.cancel()
    with pytest.raises(Cancelled):
        list(gen)


def test_state_round_trip_through_a_weights_only_file_gives_identical_scores():
    info, data = toy_problem()
    m = SGMA(info, HP)
    list(m.fit(data, Control(), epochs=3))
    state = m.state_dict()
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    assert any(k.startswith("optim.") for k in state)
    other = SGMA(info, HP)
    other.load_state_dict(round_trip(state))
    x = data.features.rows("grid", np.arange(10))
    np.testing.assert_array_equal(
        other.score(other.encode(x), data.class_attributes), m.score(m.encode(x), data.class_attributes)
    )
    np.testing.assert_array_equal(other.explain(x[0]).part_boxes, m.explain(x[0]).part_boxes)
    wrong = ModelInfo(
        attribute_names=info.attribute_names, num_classes=6, feature_kind="grid", channels=12, grid_size=(4, 4)
    )
    with pytest.raises(ValueError):
        SGMA(wrong, HP).load_state_dict(state)


def test_resume_continues_exactly_where_the_run_stopped():
    info, data = toy_problem()
    straight = SGMA(info, HP)
    straight_losses = _losses(straight.fit(data, Control(), epochs=4))
    for stop in (1, 3):  # inside stage 1, and inside stage 2
        first = SGMA(info, HP)
        first_losses = _losses(first.fit(data, Control(), epochs=stop))
        resumed = SGMA(info, HP)
        resumed.load_state_dict(round_trip(first.state_dict()))
        events = list(resumed.fit(data, Control(), epochs=4, start_epoch=stop))
        assert [e.epoch for e in events if isinstance(e, EpochEnd)] == list(range(stop + 1, 5))
        np.testing.assert_allclose(first_losses + _losses(events), straight_losses, rtol=1e-5)
        for key, value in straight.state_dict().items():
            torch.testing.assert_close(resumed.state_dict()[key], value, rtol=1e-5, atol=1e-6)


def test_stream_kinds_index_the_heads():
    info, _ = toy_problem()
    net = SGMA(info, HP)._net
    assert net.stream_ids(GLOBAL) == [0] and net.stream_ids(GRID) == [1, 2] and net.stream_ids(CROP) == [3, 4]
    assert net.heads.shape == (5, 16, 8) and net.centres.shape == (5, 6, 8)


def test_few_seen_classes_centre_the_codes_on_the_training_rows():
    info, data = toy_problem()  # 4 seen classes: under FEW_SEEN_CLASSES, "auto" centres
    m = SGMA(info, HP)
    assert m.centres_codes(4) and not m.centres_codes(FEW_SEEN_CLASSES)  # CUB's 40, the birds' 40: no change
    list(m.fit(data, Control(), epochs=3))
    codes = m.encode(data.features.rows("grid", data.train_index))
    scale = np.abs(codes).mean()
    assert np.abs(codes.mean(0)).max() < 0.02 * scale  # the training rows' mean code is subtracted (float16 rows)
    assert np.abs(m._code_mean[0].numpy()).max() > 0.1 * scale and (m._code_mean[1] == 0).all()  # no crops here
    plain = SGMA(info, {**HP, "centre_codes": False})
    list(plain.fit(data, Control(), epochs=3))
    assert (plain._code_mean == 0).all()
    x = data.features.rows("grid", np.arange(10))  # same training otherwise: codes differ by the mean only
    np.testing.assert_allclose(m.encode(x), plain.encode(x) - m._code_mean[0].numpy(), rtol=1e-5, atol=1e-4)
    with m.scored_as("off"):  # centre_codes=validation scores a centred fold model as the uncentred one (exact)
        np.testing.assert_allclose(m.encode(x), plain.encode(x), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(m.encode(x), plain.encode(x) - m._code_mean[0].numpy(), rtol=1e-5, atol=1e-4)  # restored
    other = SGMA(info, HP)
    other.load_state_dict(round_trip(m.state_dict()))
    np.testing.assert_array_equal(other.encode(x), m.encode(x))
    older = {k: v for k, v in m.state_dict().items() if k != "code_mean"}  # shipped models, older checkpoints
    other.load_state_dict(older)
    assert (other._code_mean == 0).all()  # uncentred, as before
    np.testing.assert_allclose(other.encode(x), m.encode(x) + m._code_mean[0].numpy(), rtol=1e-5, atol=1e-4)
