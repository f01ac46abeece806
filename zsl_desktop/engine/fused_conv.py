"""Inference convolutions on the CPU with their ReLU6 or residual add done inside oneDNN's kernel.

Why: the frozen backbone is convolutions, each followed by a ReLU6 or a residual add. Run as
``F.conv2d`` then ``relu6`` / ``+``, every activation is a second full pass over a feature map that
has just left the cache, and at one thread torch sends 1x1 convolutions below batch 16 to its im2col
path (a bias broadcast and a copy per call). oneDNN's fused primitive (the one torch.compile uses on
x86, ``torch.ops.mkldnn._convolution_pointwise``) runs every convolution through its own kernels at
any batch and applies the ReLU6 or the add while the output is still in registers. On EfficientNet-
Lite0 (batch 4, one thread, CPU time, medians of three runs on a busy 2-core Xeon), with the padding
change and packed weights in ``efficientnet_lite``: 54 -> 77 images/s, and 42 -> 52 with AVX2 only.

The fused op is an internal torch operator, so it is used only where it was checked to work: an x86
CPU build with oneDNN, float32 CPU tensors, no autograd, and a small probe (once per process) that it
gives what ``F.conv2d`` gives. Everywhere else (GPUs, other CPUs or builds, ``ZSL_DESKTOP_PLAIN_CONV=1``
for comparisons) the same maths runs as plain torch ops.
"""

from __future__ import annotations

import os
import platform
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor

PLAIN_ENV = "ZSL_DESKTOP_PLAIN_CONV"  # "1": never use the fused op (measurements, a suspected build problem)
X86 = ("x86_64", "amd64", "i386", "i686", "x86")


@lru_cache(maxsize=None)
def fused_available() -> bool:
    """Whether oneDNN's fused convolution exists here and agrees with ``F.conv2d`` (checked once)."""
    if os.environ.get(PLAIN_ENV, "") == "1" or platform.machine().lower() not in X86:
        return False
    op = getattr(torch.ops.mkldnn, "_convolution_pointwise", None)
    if op is None or not torch.backends.mkldnn.is_available():
        return False
    try:
        with torch.no_grad():
            generator = torch.Generator().manual_seed(0)
            x = torch.randn(2, 8, 9, 9, generator=generator).contiguous(memory_format=torch.channels_last)
            weight = torch.randn(8, 1, 3, 3, generator=generator)
            bias = torch.randn(8, generator=generator)
            fused = _fused(x, weight, bias, (2, 2), (1, 1), 8, relu6=True, residual=None)
            plain = _plain(x, weight, bias, (2, 2), (1, 1), 8, relu6=True, residual=None)
            point = torch.randn(4, 8, 1, 1, generator=generator)
            other = torch.randn(2, 4, 9, 9, generator=generator)
            fused_add = _fused(x, point, None, (1, 1), (0, 0), 1, relu6=False, residual=other)
            plain_add = _plain(x, point, None, (1, 1), (0, 0), 1, relu6=False, residual=other)
        return bool(torch.allclose(fused, plain, atol=1e-4) and torch.allclose(fused_add, plain_add, atol=1e-4))
    except (RuntimeError, TypeError, NotImplementedError):  # an operator that changed or refuses: plain ops
        return False


def conv2d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: tuple[int, int],
    padding: tuple[int, int],
    groups: int,
    relu6: bool = False,
    residual: Tensor | None = None,
    packed: Tensor | None = None,
) -> Tensor:
    """``F.conv2d`` (symmetric ``padding``), then ReLU6 or ``+ residual`` (not both), fused where possible.

    ``packed``: ``weight`` as :func:`pack_weight` made it, used by the fused op (the plain ops use ``weight``).
    """
    if relu6 and residual is not None:
        raise ValueError("a fused convolution takes ReLU6 or a residual add, not both")
    if _can_fuse(x, weight, residual):
        return _fused(x, weight if packed is None else packed, bias, stride, padding, groups, relu6, residual)
    return _plain(x, weight, bias, stride, padding, groups, relu6, residual)


def pack_weight(weight: Tensor, stride: tuple[int, int], padding: tuple[int, int], groups: int) -> Tensor | None:
    """``weight`` in oneDNN's own blocked layout, or None where the fused op is not used.

    Why: given a plain weight, oneDNN reorders it on every call (all of Lite0's 13.6 MB of weights per
    batch: ~3 of ~50 ms at batch 4, one thread). Packed without an input size, the layout suited Lite0's
    convolutions at batches 1, 4 and 8 (no reorder left in ONEDNN_VERBOSE); where it does not suit, oneDNN
    reorders it as before, so results never depend on it. Not for autograd (an opaque oneDNN tensor).
    """
    if weight.device.type != "cpu" or weight.dtype != torch.float32 or not fused_available():
        return None
    try:
        with torch.no_grad():
            return torch.ops.mkldnn._reorder_convolution_weight(
                weight.detach(), list(padding), list(stride), [1, 1], groups, None
            )
    except (RuntimeError, TypeError, NotImplementedError):
        return None


def _can_fuse(x: Tensor, weight: Tensor, residual: Tensor | None) -> bool:
    if x.device.type != "cpu" or x.dtype != torch.float32 or weight.dtype != torch.float32:
        return False
    if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad):
        return False  # the fused op has no backward
    if residual is not None and (
        residual.shape != (x.shape[0], weight.shape[0], *x.shape[2:]) or residual.dtype != x.dtype
    ):
        return False  # only a same-stride residual of the output's shape is fused (always so in an MBConv)
    return fused_available()


def _fused(x, weight, bias, stride, padding, groups, relu6, residual) -> Tensor:
    op = torch.ops.mkldnn._convolution_pointwise
    args = (list(padding), list(stride), [1, 1], groups)
    if residual is not None:
        return op.binary(x, residual, weight, bias, *args, "add", None, None, [], None)
    if relu6:
        return op(x, weight, bias, *args, "hardtanh", [0.0, 6.0], None)
    return op(x, weight, bias, *args, "none", [], None)


def _plain(x, weight, bias, stride, padding, groups, relu6, residual) -> Tensor:
    y = F.conv2d(x, weight, bias, stride, padding, 1, groups)
    if relu6:
        return F.relu6(y, inplace=True)
    return y + residual if residual is not None else y
