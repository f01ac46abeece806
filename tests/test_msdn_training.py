"""MSDN's ``fit`` on a toy problem: the loss falls, runs are seeded, cancel, state and resume are exact."""

import io
import math

import numpy as np
import pytest
import torch

from msdn_toys import HP, msdn_model, step_losses, toy_problem
from zsl_desktop.engine.methods.base import Cancelled, Control, EpochEnd, Step
from zsl_desktop.engine.methods.msdn import MSDN


def test_fit_lowers_the_loss_and_reports_every_term():
    info, data = toy_problem()
    m = MSDN(info, HP)
    events = list(m.fit(data, Control(), epochs=6))
    steps = [e for e in events if isinstance(e, Step)]
    ends = [e for e in events if isinstance(e, EpochEnd)]
    assert len(steps) == 6 * 6 and [e.epoch for e in ends] == list(range(1, 7))
    assert [s.step for s in steps] == list(range(1, 37)) and all(s.total == 36 for s in steps)
    assert set(steps[0].losses) == {"total", "ce_av", "ce_va", "sc_av", "sc_va", "distill"}
    assert all(math.isfinite(v) for s in steps for v in s.losses.values())
    losses = step_losses(events)
    assert np.mean(losses[-6:]) < np.mean(losses[:6]) - 0.1
    # CE over seen labels on the trained model: the train rows are mostly right among the seen classes.
    codes = m.encode(data.features.rows("grid", data.train_index))
    predicted = m.score(codes, data.class_attributes)[:, :4].argmax(1)
    assert np.mean(predicted == data.train_labels) > 0.6


def test_fit_is_seeded():
    info, data = toy_problem()
    a, b = MSDN(info, HP), MSDN(info, HP)
    assert step_losses(a.fit(data, Control(), 2)) == step_losses(b.fit(data, Control(), 2))
    for key, value in a.state_dict().items():
        torch.testing.assert_close(value, b.state_dict()[key], rtol=0, atol=0)


def test_cancel_raises_at_the_next_check():
    info, data = toy_problem()
    m = MSDN(info, HP)
    control = Control()
    gen = m.fit(data, control, epochs=3)
    assert isinstance(next(gen), Step)
    control.cancel()
    with pytest.raises(Cancelled):
        next(gen)


def test_state_dict_round_trip_through_a_weights_only_file():
    info, data = toy_problem()
    m = MSDN(info, HP)
    list(m.fit(data, Control(), epochs=2))
    state = m.state_dict()
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    assert any(k.startswith("optim.") for k in state)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    other = MSDN(info, HP)
    other.load_state_dict(loaded)
    x = data.features.rows("grid", np.arange(8))
    np.testing.assert_array_equal(
        other.score(other.encode(x), data.class_attributes), m.score(m.encode(x), data.class_attributes)
    )
    with pytest.raises(ValueError):
        msdn_model(8, 2, 12, 6, names=info.attribute_names).load_state_dict(loaded)  # other channel count


def test_resume_continues_exactly_where_the_run_stopped():
    info, data = toy_problem()
    straight = MSDN(info, HP)
    straight_losses = step_losses(straight.fit(data, Control(), epochs=3))
    first = MSDN(info, HP)
    first_losses = step_losses(first.fit(data, Control(), epochs=1))
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    resumed = MSDN(info, HP)
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    events = list(resumed.fit(data, Control(), epochs=3, start_epoch=1))
    assert [e.epoch for e in events if isinstance(e, EpochEnd)] == [2, 3]
    assert events[0].step == 7 and events[0].epoch == 2
    np.testing.assert_allclose(first_losses + step_losses(events), straight_losses, rtol=1e-5)
    for key, value in straight.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[key], value, rtol=1e-5, atol=1e-6)


def test_paper_distillation_and_normalised_v_train_too():
    info, data = toy_problem()
    m = MSDN(info, {**HP, "distill": "paper", "normalize_V": "true", "bias": 0.5})
    losses = step_losses(m.fit(data, Control(), epochs=2))
    assert all(math.isfinite(v) for v in losses)


def test_optimizer_state_moves_with_the_model_but_step_stays_on_the_cpu():
    """torch's Adam/RMSprop want ``step`` on the CPU unless capturable (checked on the meta device here)."""
    from zsl_desktop.engine.methods.base import move_optimizer_state

    p = torch.nn.Parameter(torch.zeros(3))
    opt = torch.optim.Adam([p])
    p.grad = torch.ones(3)
    opt.step()
    move_optimizer_state(opt, "meta")
    state = opt.state[p]
    assert state["exp_avg"].device.type == "meta" and state["exp_avg_sq"].device.type == "meta"
    assert state["step"].device.type == "cpu"
    move_optimizer_state(None, "meta")  # no optimizer yet: nothing to do
