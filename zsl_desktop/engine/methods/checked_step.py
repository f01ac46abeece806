"""One optimizer step that refuses a non-finite loss: MSDN's and SGMA's batches end with it.

Why refuse: a NaN or infinite loss steps NaN into every weight, and the run would go on silently with a
broken model; stopping at once names the epoch and step, and the usual cure (a lower learning rate).
"""

from __future__ import annotations

import math

import torch

from zsl_desktop.engine.sharding import Part


def checked_step(
    method: str, optimizer: torch.optim.Optimizer, part: Part, losses, epoch: int, step: int
) -> list[float]:
    """Back-propagate ``losses[0]``, sum the gradients over the ranks (``part.shards``) and step.

    ``losses``: the loss to minimise, then any terms to report; returns their values (summed over the ranks).
    ``epoch`` and ``step`` count from 1, for the message. Raises ``FloatingPointError`` before stepping when
    the loss is not finite.
    """
    optimizer.zero_grad(set_to_none=True)
    losses[0].backward()
    figures = part.shards.average_gradients(optimizer, part.share, *losses)
    if not math.isfinite(figures[0]):
        raise FloatingPointError(
            f"{method}: the loss became {figures[0]} at epoch {epoch}, step {step}; try a lower learning rate"
        )
    optimizer.step()
    return figures
