"""Training precision: bfloat16 products only where asked for (or measured fast), float32 everywhere else."""

import numpy as np
import pytest
import torch

from zsl_desktop.engine import precision
from zsl_desktop.engine.methods.base import Control, Step
from zsl_desktop.engine.methods.msdn import MSDN

from msdn_toys import randomise, toy_problem


def test_choices_resolve_to_dtypes():
    assert precision.training_dtype("fp32", "cpu") == torch.float32
    assert precision.training_dtype("BF16", "cpu") == torch.bfloat16
    assert precision.training_dtype("auto", "cuda") == torch.float32
    with pytest.raises(ValueError, match="precision must be one of"):
        precision.training_dtype("half", "cpu")


def test_auto_follows_the_measured_speed_up(monkeypatch):
    monkeypatch.setattr(precision, "native_bf16_here", lambda: None)  # flags unknown: measured
    monkeypatch.setattr(precision, "cpu_bf16_speedup", lambda: 4.0)
    assert precision.training_dtype("auto", "cpu") == torch.bfloat16
    monkeypatch.setattr(precision, "cpu_bf16_speedup", lambda: 0.3)  # emulated bfloat16: slower
    assert precision.training_dtype("auto", "cpu") == torch.float32
    monkeypatch.setattr(precision, "native_bf16_here", lambda: True)  # native: still measured
    assert precision.training_dtype("auto", "cpu") == torch.float32


def test_auto_does_not_measure_where_bf16_can_only_be_emulated(monkeypatch):
    def measured():
        raise AssertionError("cpu_bf16_speedup ran where the flags rule native bfloat16 out")

    monkeypatch.setattr(precision, "native_bf16_here", lambda: False)
    monkeypatch.setattr(precision, "cpu_bf16_speedup", measured)
    assert precision.training_dtype("auto", "cpu") == torch.float32
    assert precision.training_dtype("bf16", "cpu") == torch.bfloat16  # asked for: emulated, but given


def test_bf16_forward_is_close_to_float32_and_inference_stays_float32():
    info, data = toy_problem()
    m = MSDN(info, {"batch_size": 10})
    randomise(m)
    x = data.features.rows("grid", np.arange(20))
    exact = m._net(x, False)
    low = m._net(x, False, dtype=torch.bfloat16)
    assert low.psi_av.dtype == torch.float32  # only the products were rounded
    torch.testing.assert_close(low.psi_av, exact.psi_av, rtol=0.05, atol=0.02)
    torch.testing.assert_close(low.psi_va, exact.psi_va, rtol=0.05, atol=0.02)
    assert not torch.equal(low.psi_av, exact.psi_av)  # the option really changes the arithmetic
    np.testing.assert_array_equal(m.encode(x), m.encode(x))


@pytest.mark.parametrize("choice", ["fp32", "bf16"])
def test_msdn_learns_in_either_precision(choice):
    info, data = toy_problem()
    m = MSDN(info, {"batch_size": 10, "precision": choice})
    losses = [e.losses["total"] for e in m.fit(data, Control(), epochs=6) if isinstance(e, Step)]
    assert np.mean(losses[-6:]) < np.mean(losses[:6]) - 0.1
    codes = m.encode(data.features.rows("grid", data.train_index))
    predicted = m.score(codes, data.class_attributes)[:, :4].argmax(1)
    assert np.mean(predicted == data.train_labels) > 0.6
