"""The active model as the session holds it: the method, its checkpoint header and every dataset image's code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from zsl_desktop.engine.session.results import ModelSummary

if TYPE_CHECKING:
    from zsl_desktop.engine.methods.base import Method


class NoModel(RuntimeError):
    """A request needs a model and none is active."""


@dataclass(frozen=True)
class ModelState:
    """The active model and the codes of every dataset image (computed once, for live scoring)."""

    method: Method
    header: dict
    codes: np.ndarray  # [N, ...]

    @property
    def gamma(self) -> float:
        return float(self.header.get("gamma", 0.0))

    def summary(self, source: str) -> ModelSummary:
        """What the panels may know about this model; ``source``: its file, or "trained in this session"."""
        method, header = self.method, self.header
        return ModelSummary(
            method=str(header.get("method", method.name)),
            title=type(method).title or method.name,
            header=dict(header),
            has_attention=bool(type(method).has_attention),
            generative=bool(type(method).generative),
            source=str(source),
        )
