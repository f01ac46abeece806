"""fused_conv: oneDNN's convolution + ReLU6 / + residual gives what F.conv2d then relu6 / + gives."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from zsl_desktop.engine import fused_conv


@pytest.fixture
def fused():
    if not fused_conv.fused_available():
        pytest.skip("no oneDNN fused convolution on this machine (not x86, or a torch without oneDNN)")


def _channels_last(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).contiguous(
        memory_format=torch.channels_last
    )


@pytest.mark.parametrize(
    "in_ch,out_ch,kernel,stride,padding,groups",
    [(16, 96, 1, 1, 0, 1), (96, 96, 3, 2, 0, 96), (40, 40, 5, 1, 2, 40), (3, 32, 3, 2, 1, 1)],
)
@pytest.mark.parametrize("relu6", [False, True])
def test_fused_equals_plain(fused, in_ch, out_ch, kernel, stride, padding, groups, relu6):
    x = _channels_last(2, in_ch, 17, 23) * 4  # large enough that ReLU6 clips at both ends
    weight = _channels_last(out_ch, in_ch // groups, kernel, kernel, seed=1)
    bias = torch.randn(out_ch)
    with torch.no_grad():
        got = fused_conv.conv2d(x, weight, bias, (stride, stride), (padding, padding), groups, relu6=relu6)
        want = F.conv2d(x, weight, bias, stride, padding, 1, groups)
    if relu6:
        want = want.clamp(0, 6)
        assert (want == 0).any() and (want == 6).any()
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_fused_residual_add(fused):
    x, residual = _channels_last(3, 48, 14, 14), _channels_last(3, 16, 14, 14, seed=2)
    weight, bias = torch.randn(16, 48, 1, 1), torch.randn(16)
    with torch.no_grad():
        got = fused_conv.conv2d(x, weight, bias, (1, 1), (0, 0), 1, residual=residual)
    torch.testing.assert_close(got, F.conv2d(x, weight, bias) + residual, atol=1e-4, rtol=1e-4)


def test_autograd_and_other_dtypes_take_the_plain_path():
    """The fused op has no backward: with gradients wanted, the plain ops run and the gradient flows."""
    x = torch.randn(1, 4, 8, 8, requires_grad=True)
    weight = torch.randn(4, 4, 1, 1)
    y = fused_conv.conv2d(x, weight, None, (1, 1), (0, 0), 1, relu6=True)
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with torch.no_grad():
        half = fused_conv.conv2d(x.double(), weight.double(), None, (1, 1), (0, 0), 1)
    assert half.dtype == torch.float64


def test_relu6_and_residual_together_are_refused():
    x = torch.randn(1, 4, 8, 8)
    with pytest.raises(ValueError, match="not both"):
        fused_conv.conv2d(x, torch.randn(4, 4, 1, 1), None, (1, 1), (0, 0), 1, relu6=True, residual=x)


def test_environment_variable_turns_the_fused_path_off(monkeypatch):
    fused_conv.fused_available.cache_clear()
    monkeypatch.setenv(fused_conv.PLAIN_ENV, "1")
    try:
        assert not fused_conv.fused_available()
    finally:
        fused_conv.fused_available.cache_clear()


def test_packed_weight_gives_the_same_convolution(fused):
    x = _channels_last(4, 24, 28, 28)
    weight, bias = _channels_last(144, 24, 1, 1, seed=3), torch.randn(144)
    packed = fused_conv.pack_weight(weight, (1, 1), (0, 0), 1)
    assert packed is not None
    with torch.no_grad():
        got = fused_conv.conv2d(x, weight, bias, (1, 1), (0, 0), 1, relu6=True, packed=packed)
    torch.testing.assert_close(got, F.conv2d(x, weight, bias).clamp(0, 6), atol=1e-4, rtol=1e-4)


def test_no_packed_weight_where_the_fused_op_is_not_used(monkeypatch):
    monkeypatch.setattr(fused_conv, "fused_available", lambda: False)
    assert fused_conv.pack_weight(torch.randn(4, 4, 1, 1), (1, 1), (0, 0), 1) is None
