"""Every final model's comparator side by side: a drawn class's column, the mean of theirs, in one pass.

Why: with K final models (``members.py``) a drawn class's column is the mean of K calibrated comparator
columns, and a slider move recomputes it for every image. Model k's column is s_k f_k + beta_k, with
f_k = w2_k . LeakyReLU_0.2(u_k + v_k) + b2_k (u_k an image's half of the first layer, v_k the class's half,
s_k = alpha_k / tau its calibration). LeakyReLU_0.2(t) = 0.8 max(t, 0) + 0.2 t and max(u + v, 0) = max(u, -v) + v,
so the mean column is

    max(U, -V) . W  +  U . W'  +  c

with U and V the K halves side by side ([K x nhF] per image), W the 0.8 s_k w2_k / K side by side, W' the
0.2 s_k w2_k / K, and c = sum_k (s_k (v_k . w2_k + b2_k) + beta_k) / K. U . W' is the same for every class row
(cached with U), so a column is one elementwise maximum and one matrix-vector product over [N, K x nhF], in
blocks that stay in the CPU cache, instead of K passes of add, clamp and product with K means. The page's rows
(``engine/live_page.py``) are gathered block by block into the same buffer. Measured (IPCE, 3 models, 10,000
images, thread CPU time): see docs/history/performance.md, "IPCE's live columns with three models".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch


@dataclass(frozen=True)
class ComparatorModel:
    """What one model's calibrated comparator column needs, besides the image halves."""

    w2: torch.Tensor  # [nhF] the comparator's output weights
    b2: float  # its output bias
    scale: float  # alpha / tau: the calibration's slope over the temperature
    beta: float  # the calibration's offset
    class_half: Callable[[np.ndarray], torch.Tensor]  # raw class rows [R, A] -> v [R, nhF]


@dataclass(frozen=True)
class ClassTerms:
    """The class rows' part of the formula: -V [R, K x nhF] and c [R]."""

    negated: torch.Tensor
    constant: np.ndarray


class SideBySide:
    """The mean calibrated comparator column of K models (module docstring), in blocks of ``block_floats``."""

    def __init__(self, models: list[ComparatorModel], block_floats: int):
        self.models = models
        self.block_floats = block_floats
        count = len(models)
        self.relu_weights = torch.cat([0.8 * m.scale / count * m.w2 for m in models]).float()
        self.linear_weights = torch.cat([0.2 * m.scale / count * m.w2 for m in models]).float()
        self.step_weights = torch.cat([m.scale / count * m.w2.double() for m in models])  # for ``change``

    def linear_part(self, halves: torch.Tensor) -> torch.Tensor:
        """U . W' [N]: the part of every column that is the same for every class row."""
        return torch.mv(halves, self.linear_weights)

    def class_terms(self, rows: np.ndarray) -> ClassTerms:
        halves = [m.class_half(rows) for m in self.models]
        constant = np.zeros(len(rows))
        for m, v in zip(self.models, halves):
            constant += m.scale * ((v.double() @ m.w2.double()).numpy() + m.b2) + m.beta
        return ClassTerms(-torch.cat(halves, 1), constant / len(self.models))

    def columns(
        self, halves: torch.Tensor, linear: torch.Tensor, terms: ClassTerms, rows=None, stale=None
    ) -> list[np.ndarray] | None:
        """Each class row's column [N] (float32) over image halves ``halves`` [N, K x nhF] with ``linear``
        their ``linear_part``; only the image rows ``rows`` (an int64 tensor) when given, gathered block by
        block. ``stale()`` is asked between blocks: True stops the work (None is returned)."""
        count = len(halves) if rows is None else len(rows)
        width = halves.shape[1]
        block = max(1, self.block_floats // max(1, width))
        # One reused buffer: a full-size temporary costs fresh page faults per slider move (10-60 ms spikes).
        buffer = torch.empty(min(block, count), width)
        picked_linear = linear if rows is None else linear[rows]
        out = []
        for negated, constant in zip(terms.negated, terms.constant):
            column = torch.empty(count)
            for start in range(0, count, block):
                if stale is not None and start and stale():
                    return None
                end = min(start + block, count)
                part = buffer[: end - start]
                if rows is None:
                    torch.maximum(halves[start:end], negated, out=part)
                else:
                    torch.index_select(halves, 0, rows[start:end], out=part)
                    torch.maximum(part, negated, out=part)
                torch.mv(part, self.relu_weights, out=column[start:end])
            column += picked_linear
            column += float(constant)
            out.append(column.numpy())
        return out

    def change(self, old_row: np.ndarray, new_row: np.ndarray) -> tuple[float, float]:
        """(low, high): every image's column moves by at least low and at most high from ``old_row`` to ``new_row``.

        Moving v by d moves 0.2 w2 . d through the linear part of the LeakyReLU, and unit j's 0.8 w2_j
        max(u_j + v_j, 0) by 0.8 w2_j times something in [min(0, d_j), max(0, d_j)] (max(., 0) is monotone
        and 1-Lipschitz): one interval for every image, in float64; the mean of the K models' intervals.
        """
        terms = self.class_terms(np.stack([old_row, new_row]))
        return self._interval(terms.negated[0], terms.negated[1])

    def change_between(self, old: ClassTerms, new: ClassTerms) -> tuple[float, float]:
        """``change`` from the two rows' ``class_terms`` (one row each), which a slider move has already made."""
        return self._interval(old.negated[0], new.negated[0])

    def _interval(self, old_negated: torch.Tensor, new_negated: torch.Tensor) -> tuple[float, float]:
        """``change``'s interval from -v_old and -v_new [K x nhF]: the move v_new - v_old in float64."""
        step = self.step_weights * (old_negated.double() - new_negated.double())
        linear = 0.2 * float(step.sum())
        return linear + 0.8 * float(step.clamp(max=0).sum()), linear + 0.8 * float(step.clamp(min=0).sum())
