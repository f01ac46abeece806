"""Argument types for the command line: every number and name checked where it enters, before any work.

Why argparse types: a bad value then stops the command before a dataset is loaded or a
folder is made, with argparse's exit status 2 and a message naming the option
("argument --epochs: must be a whole number of at least 1, not '-1'").
Kept light (no torch import unless a GPU device is asked for) so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import math
import re

# The built-in methods' names, for ``--method`` choices without importing torch;
# tests/test_cli.py checks it against the engine's registry.
METHOD_NAMES = ("msdn", "sgma", "gsmflow", "ce-gzsl", "ipce")
BACKBONE_NAMES = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "resnet50", "resnet101")
FLIP_MODES = ("none", "train", "tta", "both")  # engine.features.FLIP_MODES (tests/test_cli.py compares them)

MIN_INPUT_SIZE, MAX_INPUT_SIZE = 32, 2048
MAX_SEED = 2**32 - 1


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _whole_within(text: str, low: int, high: int | None, what: str) -> int:
    """A whole number in [low, high] (no upper bound when ``high`` is None), refused in ``what`` words."""
    value = _whole(text)
    if value < low or (high is not None and value > high):
        raise argparse.ArgumentTypeError(f"must be {what}, not {text!r}")
    return value


def positive_int(text: str) -> int:
    """Epochs, threads: a whole number ≥ 1."""
    return _whole_within(text, 1, None, "a whole number of at least 1")


def non_negative_int(text: str) -> int:
    """An index: a whole number ≥ 0."""
    return _whole_within(text, 0, None, "a whole number of at least 0")


def seconds(text: str) -> float:
    """A delay: a finite number ≥ 0."""
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, not {text!r}")
    return value


def seed(text: str) -> int:
    """A random seed: 0 … 2**32-1 (what numpy accepts)."""
    return _whole_within(text, 0, MAX_SEED, f"between 0 and {MAX_SEED}")


def input_size(text: str) -> int:
    """The backbone's input side in pixels."""
    return _whole_within(text, MIN_INPUT_SIZE, MAX_INPUT_SIZE, f"between {MIN_INPUT_SIZE} and {MAX_INPUT_SIZE} pixels")


def backbone_name(text: str) -> str:
    """One of BACKBONE_NAMES, or ``timm:<architecture>`` (checked against timm when it is built)."""
    name = text.strip()
    if name in BACKBONE_NAMES:
        return name
    if name.startswith("timm:") and re.fullmatch(r"[A-Za-z0-9_.\-]+", name[5:]):
        return name
    raise argparse.ArgumentTypeError(
        f"{text!r} is not a backbone; choose one of {', '.join(BACKBONE_NAMES)} "
        f"or timm:<architecture> (e.g. timm:convnext_tiny)"
    )


def finite_float(text: str) -> float:
    """A real number that is not nan or ±inf (γ)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {text!r}")
    return value


def method_name(text: str) -> str:
    """Method names are case-insensitive (``MSDN`` = ``msdn``); argparse's choices check the result."""
    return text.strip().lower()


_DEVICE = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")


def device(text: str) -> str:
    """``cpu``, ``cuda``, ``cuda:N`` or ``mps``, and only one this machine has."""
    name = text.strip().lower()
    if not _DEVICE.match(name):
        raise argparse.ArgumentTypeError(f"{text!r} is not a device; use cpu, cuda, cuda:N or mps")
    if name == "cpu":
        return name
    import torch

    if name == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise argparse.ArgumentTypeError("mps: this machine has no Apple GPU that torch can use")
        return name
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = int(name.partition(":")[2] or 0)
    if count == 0:
        raise argparse.ArgumentTypeError(f"{name}: torch sees no CUDA GPU on this machine; use --device cpu")
    if index >= count:
        raise argparse.ArgumentTypeError(f"{name}: this machine has {count} CUDA GPU(s), numbered from 0")
    return name


def hparam_assignment(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` of ``--set`` (the value is checked against the method once the method is known)."""
    if text.strip().lower() == "help":
        return ("help", "")
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE (--set help lists the names)")
    return (name.strip(), value.strip())


def use_backbone_weights(backbone: str, path) -> None:
    """Give a timm backbone its weights file (``--backbone-weights``); refused for the others."""
    if not path:
        return
    from zsl_desktop.engine import timm_backbone

    if not timm_backbone.is_timm(backbone):
        raise ValueError(
            f"--backbone-weights is for timm:<architecture> backbones, not {backbone or 'the default'}"
            f"; give --backbone timm:<architecture> too"
        )
    timm_backbone.use_weights_file(backbone, path)


BUILTIN_DATASETS = ("builtin", "builtin-small")


def dataset_for_model(requested: str | None, header: dict, model_path, why: str = "") -> str:
    """The ``--dataset`` for a model: the one asked for, else the built-in birds it was trained on.

    Why before loading: the built-in birds are generated on first use (3,000 of them, a minute or more), so a
    model of the small set run with ``--dataset builtin`` (or the other way round) is refused at once with
    the right option, not after the drawing. Any other mismatch is the loaded dataset's fingerprint check's.
    """
    trained_on = header.get("dataset")
    if requested is None:
        if trained_on in BUILTIN_DATASETS:
            return trained_on
        raise ValueError(f"{model_path} was trained on {trained_on!r}: pass --dataset PATH{why}")
    if requested in BUILTIN_DATASETS and trained_on in BUILTIN_DATASETS and requested != trained_on:
        raise ValueError(
            f"{model_path} was trained on {trained_on!r}, not on {requested!r}: pass --dataset {trained_on} "
            f"(or leave --dataset out)"
        )
    return requested
