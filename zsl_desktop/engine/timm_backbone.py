"""Bring your own backbone: any timm architecture (``timm:<architecture>``) with weights the user has.

timm is the maintained library of vision backbones (CNNs and ViTs, several hundred architectures).
It only builds the network here: always ``pretrained=False``, so nothing is ever downloaded. The
weights come from

* a file the user names (``--backbone-weights FILE``): a ``.safetensors`` file or a plain state dict
  (``.pth``/``.bin``, read with ``torch.load(weights_only=True)``, never unpickled), through the engine's
  checkpoint gate (``userfiles.check_file``);
* or else the user's local Hugging Face cache, where timm's own ``pretrained=True`` would have put them
  (``huggingface_hub.try_to_load_from_cache``: a cache lookup, no network).

What the ZSL methods get from it:

* CNNs (ResNet, ConvNeXt, EfficientNet ...): ``forward_features`` is the grid [B, C, h, w]; the pooled
  vector is timm's own head up to the logits (``forward_head(pre_logits=True)``: global average, and
  for ConvNeXt its final norm).
* ViTs (ViT, DeiT, DINOv2 ...): the patch tokens, reshaped to the patch grid, are the grid; the pooled
  vector is what timm's head pools (the class token, or the mean token for models without one). Built
  with ``dynamic_img_size=True``, so 448 px on a 224 px model gives a 28x28 grid of patches (position
  embeddings interpolated).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import pathlib
import threading

import torch
from torch import Tensor, nn

from zsl_desktop.engine import state_dicts
from zsl_desktop.engine.errors import ZslError

PREFIX = "timm:"
SAFETENSORS_SUFFIXES = (".safetensors",)


class TimmUnavailable(ZslError, RuntimeError):
    """timm or the weights are missing; the message says what to do (backbones re-raises it as its own)."""


def is_timm(name: str) -> bool:
    return isinstance(name, str) and name.startswith(PREFIX)


def architecture(name: str) -> str:
    """``timm:convnext_tiny.fb_in1k`` -> ``convnext_tiny.fb_in1k`` (timm's name, with an optional tag)."""
    arch = name[len(PREFIX) :].strip()
    if not arch:
        raise ValueError(
            "--backbone timm: needs an architecture, e.g. timm:convnext_tiny or timm:vit_small_patch16_224"
        )
    return arch


def _timm():
    try:
        import timm
    except ImportError:
        raise TimmUnavailable("timm backbones need the timm package: pip install timm") from None
    return timm


# -- where the weights come from ---------------------------------------------------------------------
_weights_files: dict[str, pathlib.Path] = {}  # architecture -> the file the user named (this process)


def use_weights_file(name: str, path) -> None:
    """Remember the weights file for ``timm:<arch>`` (the CLI's and the app's ``--backbone-weights``)."""
    _weights_files[architecture(name)] = pathlib.Path(path).expanduser()


def hub_cache_file(arch: str) -> pathlib.Path | None:
    """timm's weights for ``arch`` in the local Hugging Face cache, or None (never downloads)."""
    timm = _timm()
    try:
        cfg = timm.models.get_pretrained_cfg(arch)
    except Exception:  # an unknown tag: nothing in the cache for it
        cfg = None
    repo = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
    if not repo:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    for filename in ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin"):
        found = try_to_load_from_cache(repo, filename)
        if isinstance(found, str) and os.path.isfile(found):
            return pathlib.Path(found)
    return None


def weights_file(name: str) -> pathlib.Path:
    """The weights file of ``timm:<arch>``: the one the user named, else the Hugging Face cache's."""
    arch = architecture(name)
    if arch in _weights_files:
        path = _weights_files[arch]
        if not path.exists():
            raise TimmUnavailable(
                f"backbone weights {path}: file not found. Give the path of a .safetensors or "
                f".pth state dict you have (--backbone-weights FILE); this app never downloads"
            )
        return path
    found = hub_cache_file(arch)
    if found is not None:
        return found
    raise TimmUnavailable(
        f"no weights for {name}: this app never downloads. Give a weights file with --backbone-weights FILE "
        f"(a .safetensors file or a plain state dict .pth), or put timm's weights in the local Hugging Face cache "
        f"on a machine with internet: python -c \"import timm; timm.create_model('{arch}', pretrained=True)\" "
        f"(then copy ~/.cache/huggingface/hub here, or set HF_HUB_CACHE to it)"
    )


def file_digest(path: pathlib.Path) -> str:
    """8 hex digits from the file's size and its first and last MB: two weight files, two feature stores."""
    from zsl_desktop.engine.userfiles import check_file

    check_file(path, "checkpoint", lambda p, problem: TimmUnavailable(f"backbone weights {p}: {problem}"))
    st = path.stat()
    h = hashlib.blake2b(str(st.st_size).encode(), digest_size=4)
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
        if st.st_size > 2 << 20:
            f.seek(-(1 << 20), os.SEEK_END)
        h.update(f.read(1 << 20))
    return h.hexdigest()


def store_name(name: str) -> str:
    """The backbone's part of a feature-store key: the architecture and which weights file made it."""
    path = weights_file(name)
    return f"timm_{architecture(name)}-{file_digest(path)}"


def read_weights(path: pathlib.Path) -> dict[str, Tensor]:
    """A state dict of tensors from a user file, through the checkpoint gate; never unpickles."""
    from zsl_desktop.engine.userfiles import check_file

    def error(p, problem):
        return TimmUnavailable(f"backbone weights {p}: {problem}")

    check_file(path, "checkpoint", error)
    try:
        if path.suffix in SAFETENSORS_SUFFIXES:
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a damaged or pickled-code file: refused in words
        raise TimmUnavailable(
            f"backbone weights {path}: cannot be read as a state dict of tensors ({type(exc).__name__}: {exc})"
        ) from None
    for key in ("state_dict", "model", "module"):  # training checkpoints often wrap the weights
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not state or not all(isinstance(v, Tensor) for v in state.values()):
        raise TimmUnavailable(f"backbone weights {path}: not a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}


# -- the network -----------------------------------------------------------------------------------------
class TimmGrid(nn.Module):
    """A timm model as (grid [B, C, h, w], pooled [B, C]) for CNNs and ViTs alike."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.is_vit = hasattr(model, "patch_embed") and hasattr(model, "num_prefix_tokens")

    def grid_and_pooled(self, x: Tensor) -> tuple[Tensor, Tensor]:
        feats = self.model.forward_features(x)
        pooled = self.model.forward_head(feats, pre_logits=True)
        if self.is_vit:
            patch = self.model.patch_embed.patch_size
            h, w = x.shape[-2] // patch[0], x.shape[-1] // patch[1]
            tokens = feats[:, self.model.num_prefix_tokens :]
            grid = tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], h, w)
        else:
            grid = feats
        return grid, pooled


def create(name: str, meta: bool = False) -> nn.Module:
    """timm's ``name`` network without its classifier, never pretrained (so never downloading)."""
    timm = _timm()
    arch = architecture(name)
    kwargs = {"pretrained": False, "num_classes": 0}
    try:
        with torch.device("meta") if meta else contextlib.nullcontext():
            try:
                return timm.create_model(arch, dynamic_img_size=True, **kwargs)  # ViTs: any input size
            except TypeError:
                return timm.create_model(arch, **kwargs)  # CNNs take no such argument
    except RuntimeError as exc:
        if "Unknown model" in str(exc):
            raise ValueError(f"timm has no architecture {arch!r} (timm.list_models('*name*') lists them)") from None
        raise


def load_state(model: nn.Module, state: dict[str, Tensor], source: str) -> None:
    """Strict load, except the classifier (the user's file may have one; ours has none)."""
    classifier = model.pretrained_cfg.get("classifier") or ()
    heads = (classifier,) if isinstance(classifier, str) else tuple(classifier)
    state = {k: v for k, v in state.items() if not any(k == h or k.startswith(h + ".") for h in heads)}
    problems = state_dicts.mismatch(model.state_dict(), state, shown=6)
    if problems:
        raise TimmUnavailable(
            f"{source} does not fit timm's {type(model).__name__}: {problems}. Is it the weights of this architecture?"
        )
    model.load_state_dict(state, strict=True)


_cache: dict[tuple, dict[str, Tensor]] = {}
_lock = threading.Lock()


def build(name: str) -> tuple[TimmGrid, dict]:
    """The frozen network of ``timm:<arch>`` with its weights, and its facts (channels, stride, mean, std, size)."""
    path = weights_file(name)
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    with _lock, torch.inference_mode(False):
        if key not in _cache:
            _cache.clear()  # one user backbone at a time: its weights can be large
            _cache[key] = read_weights(path)
        state = _cache[key]
        model = create(name)
        load_state(model, state, str(path))
    model.eval().requires_grad_(False)
    net = TimmGrid(model)
    return net, facts(name, net)


def facts(name: str, net: TimmGrid) -> dict:
    """Channels, stride, rounding, normalisation and native size of a built network."""
    model = net.model
    cfg = model.pretrained_cfg
    if net.is_vit:
        stride, rounding = int(model.patch_embed.patch_size[0]), "floor"
    else:
        stride = int(model.feature_info[-1]["reduction"])
        probe = 2 * stride + 1
        try:  # ceil (padded stride-2 convolutions) or floor (patchify stems): ask the net
            with torch.no_grad():
                side = model.forward_features(torch.zeros(1, 3, probe, probe)).shape[-1]
        except Exception:  # a net that refuses so small an image: the common case
            side = math.ceil(probe / stride)
        rounding = "ceil" if side == math.ceil(probe / stride) else "floor"
    return {
        "channels": int(model.num_features),
        "stride": stride,
        "rounding": rounding,
        "mean": tuple(float(v) for v in cfg.get("mean", (0.485, 0.456, 0.406))),
        "std": tuple(float(v) for v in cfg.get("std", (0.229, 0.224, 0.225))),
        "default_input_size": int(cfg.get("input_size", (3, 224, 224))[-1]),
    }
