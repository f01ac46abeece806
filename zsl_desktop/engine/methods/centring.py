"""``centre_codes``: subtracting the training rows' mean code, for methods whose score is linear in the code.

Why a mixin: MSDN and SGMA share the switch word for word: on / off / "auto" (on under FEW_SEEN_CLASSES seen
classes) / "validation" (the fold models choose, engine.variants). The mean enters no loss, so a model
scored with ``_code_mean`` zeroed is exactly the uncentred model: the "off" variant costs no training.
A class using it keeps its mean in ``_code_mean`` (zeros: no centring) and subtracts it where it encodes.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import ClassVar, Iterator

import torch

from .base import few_seen_switch, switch_variants


class CentredCodes:
    """``centres_codes``, ``validation_variants`` and ``scored_as`` for a method with a ``centre_codes`` switch."""

    name: ClassVar[str]
    default_hparams: ClassVar[dict]
    hparams: dict
    _code_mean: torch.Tensor

    def centres_codes(self, seen_classes: int) -> bool:
        """``centre_codes``: "on" / "off", or "auto" / "validation": with fewer than FEW_SEEN_CLASSES seen classes."""
        return few_seen_switch(self.name, "centre_codes", self.hparams["centre_codes"], seen_classes)

    @classmethod
    def validation_variants(cls, hparams: dict, seen_classes: int) -> dict[str, dict]:
        """``centre_codes = "validation"``: off and on, chosen on the fold models (under 8 seen classes)."""
        return switch_variants("centre_codes", {**cls.default_hparams, **(hparams or {})}["centre_codes"], seen_classes)

    @contextmanager
    def scored_as(self, variant: str) -> Iterator[None]:
        """ "on": as trained (``fit`` keeps the training rows' mean code current); "off": without subtracting it.
        Exact, not an approximation: the mean enters no loss, so centred and uncentred runs train the same
        weights (tests/test_validation_variants.py)."""
        if variant not in ("on", "off"):
            raise ValueError(f"{self.name}: no validation variant {variant!r}")
        kept = self._code_mean
        if variant == "off":
            self._code_mean = torch.zeros_like(kept)
        try:
            yield
        finally:
            self._code_mean = kept
