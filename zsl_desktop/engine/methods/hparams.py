"""Hyper-parameters typed by a user (``--set NAME=VALUE``, the app's Parameters table), checked where they enter.

Why here: a value that does not parse, is not finite or is out of range must be refused
*before* a dataset is loaded or a folder is made, with a message naming the parameter.
Each value is read as the type of the method's default; the ranges are the obvious ones
(batch sizes, epochs and layer sizes at least 1, learning rates above 0, nothing negative:
no default of any built-in method is).
"""

from __future__ import annotations

import math

from zsl_desktop.engine.methods import get_method

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _at_least_one(name: str) -> bool:
    """Counts that must be ≥ 1: epochs, batch sizes, layer widths, parts, blocks."""
    return (
        name == "epochs"
        or "batch" in name
        or name.endswith(("size", "hidden", "dim"))
        or name
        in (
            "parts",
            "blocks",
            "ngh",
            "ndh",
            "nhF",
            "critic_iter",
            "n_synth",
            "kmeans_images",
            "crop_quantum",
            "lr_step",
        )
    )


def _is_learning_rate(name: str) -> bool:
    return name == "lr" or name.endswith("_lr")


def parse_hparam(name: str, text, default):
    """``text`` read as the type of ``default`` and range-checked; ValueError naming ``name``."""
    if not isinstance(text, str):  # already typed (the app's own defaults)
        text = str(text)
    text = text.strip()
    if isinstance(default, bool):
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError(f"{name}: {text!r} is not true or false")
    if isinstance(default, int):
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"{name}: {text!r} is not a whole number") from None
        return _check_range(name, value)
    if isinstance(default, float):
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{name}: {text!r} is not a number") from None
        if not math.isfinite(value):
            raise ValueError(f"{name}: {text!r} is not a finite number")
        return _check_range(name, value)
    if not text:
        raise ValueError(f"{name}: an empty value")
    return text


def _check_range(name: str, value):
    if _at_least_one(name) and value < 1:
        raise ValueError(f"{name}: must be at least 1, not {value}")
    if _is_learning_rate(name) and value <= 0:
        raise ValueError(f"{name}: must be above 0, not {value}")
    if value < 0:
        raise ValueError(f"{name}: must not be negative, not {value}")
    return value


def check_hparams(method_name: str, values: dict) -> dict:
    """``{name: text}`` checked against the method's defaults: typed values, or ValueError naming the first bad one."""
    cls = get_method(method_name)
    defaults = cls.default_hparams
    checked = {}
    for name, text in values.items():
        if name not in defaults:
            raise ValueError(f"{cls.name}: unknown hyper-parameter {name!r}; known: {', '.join(defaults)}")
        checked[name] = parse_hparam(name, text, defaults[name])
    return checked


def describe_hparams(method_name: str) -> str:
    """One line per hyper-parameter of a method: name, type and default (``train --set help``)."""
    cls = get_method(method_name)
    width = max((len(n) for n in cls.default_hparams), default=0)
    lines = [f"hyper-parameters of {cls.name} ({cls.title or cls.name}); set with --set NAME=VALUE:"]
    for name, default in cls.default_hparams.items():
        lines.append(f"  {name:<{width}}  {type(default).__name__:<5}  default {default}")
    return "\n".join(lines)
