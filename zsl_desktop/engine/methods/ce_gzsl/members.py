"""Several final CE-GZSL / IPCE models averaged: how their codes are laid side by side and their states stored.

The trainer trains ``final_models`` K models one after another (seeds s, s + 1000, ...; engine.training); each
next one keeps the earlier ones as frozen members. ``score`` is the mean of the K models' logits. That equals the
mean of their log-softmax scores (what was measured, docs/history/ce_gzsl.md) up to one constant per image, so
every per-image decision (the GZSL argmax at any gamma, H, AUSUC) is the same, while each class column stays the
mean of K columns: a drawn class is still re-scored one column at a time (``column_change`` / ``column_whole``).
"""

from __future__ import annotations

import numpy as np
import torch

from ..members import member_items


GENERATOR_PREFIX = "G."  # a model's generator; the last model's serves every member (member_state)


def member_state(state: dict) -> dict:
    """What a member keeps of a model's state: its scoring weights (E, F, scaler, classifier, prototypes).

    No ``optim.`` (critic and Adam: training only) and no generator: nothing samples from a member's generator
    (``synthesize``, ``prototypes`` and the feature view show the last model; ``refit_classifier`` synthesises
    with the last model's generator for every model, each its own draw: level with the members' own generators on
    CUB, docs/history/ce_gzsl.md), and it is over half of a member's bytes (the shipped built-in IPCE 29.9 ->
    18.4 MB)."""
    return {key: value for key, value in state.items() if not key.startswith(("optim.", GENERATOR_PREFIX))}


def member_state_items(index: int, state: dict) -> dict:
    """A member's state (``member_state``) under ``member<index>.``: plain tensors, loadable unpickled."""
    return member_items(index, member_state(state))


class CodeParts:
    """Each model's block of a side-by-side codes array, as the same view objects for the same array.

    The models cache per codes array by identity (a slider move must not recompute the known logits), so the
    views of the array the session keeps are made once; short arrays (one image's row) are split afresh and
    leave the kept views alone.
    """

    def __init__(self, small: int):
        self.small = small
        self._kept: tuple[np.ndarray, list[np.ndarray]] | None = None

    def split(self, codes: np.ndarray, models: int) -> list[np.ndarray]:
        kept = self._kept
        if kept is not None and kept[0] is codes:
            return kept[1]
        if codes.ndim != 2 or codes.shape[1] % models:
            raise ValueError(f"codes of width {codes.shape[-1]} do not split into {models} models' codes")
        width = codes.shape[1] // models
        parts = [codes[:, i * width : (i + 1) * width] for i in range(models)]
        if len(codes) >= self.small:
            self._kept = (codes, parts)
        return parts

    def clear(self) -> None:
        self._kept = None


def mean_scores(scores: list[np.ndarray]) -> np.ndarray:
    """The mean of the models' [N, K] scores (float32, as each model's)."""
    if len(scores) == 1:
        return scores[0]
    out = np.array(scores[0], dtype=np.float32, copy=True)
    for s in scores[1:]:
        out += s
    out /= len(scores)
    return out


def stacked(codes: list[torch.Tensor | np.ndarray]) -> np.ndarray:
    """Side-by-side codes of the models, float32."""
    return np.concatenate([np.asarray(c, dtype=np.float32) for c in codes], 1)
