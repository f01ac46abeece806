"""The events a training run yields besides the method's ``Step``/``EpochEnd``: a phase starts, a
validation figure, the run finished. The CLI draws its progress from them, the GUI forwards them as signals."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from zsl_desktop.engine import evaluation as ev
from zsl_desktop.engine.methods.base import Method


@dataclass(frozen=True)
class Phase:
    name: str  # "select" | "final" | "test-selected"
    description: str
    epochs: int


@dataclass(frozen=True)
class Validation:
    epoch: int
    metrics: dict  # zsl_t1, u, s, h, gamma, ausuc
    best_epoch: int  # within this fold (validation) or this run (test)
    split: str  # "validation" or "test"
    fold: int = 0  # which group of pseudo-unseen classes (validation selection)
    folds: int = 1


@dataclass(frozen=True)
class Finished:
    method: Method = field(repr=False)
    header: dict
    report: ev.EvaluationReport | None
    checkpoint: Path | None
    cancelled: bool = False
