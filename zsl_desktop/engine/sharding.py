"""Data-parallel training steps under torchrun, one helper for every method.

Each rank walks the same seeded schedule as a one-process run (the same epoch order,
the same batches, the same draws from the seeded generators) and computes its own
contiguous part of every batch (``part``). After ``backward`` the ranks' gradients are
summed, each weighted by its share of the batch (``average_gradients``): for a loss
that is a mean over the batch's rows this is exactly the gradient of the whole
batch's mean, so every rank takes the step the one-process run takes, and the
models stay identical on every rank (gloo and NCCL give every rank the same sum).
Terms that look at the batch as a whole (SupCon's and IPCE's pairs, MSDN's
batch-mean self-calibration) are computed on the whole batch's rows, gathered from
every rank by a differentiable all-gather (``Part.whole``), so they match too.
Measured on small data: two processes score the test images as one process does to
within 4e-6 of the largest score after two epochs, for all five methods
(tests/test_distributed.py); only the order of float sums differs.

Work that is not a training step is split by rows and summed back
(``gather_rows``): boundary-sample mining, GSMFlow's synthetic features for its
classifier, SGMA's stage-2 crop features. What every rank does whole, because it is
cheap or must be identical: feature scaling, class means, the principal directions,
CE-GZSL's synthetic features (1,000 rows through a small MLP), the trainer's
per-epoch evaluation, and the final linear softmax classifiers: their steps are so
small that one all-reduce per step cost more than the step (measured on the CUB
subset's sizes with 2 gloo ranks: 1.9 CPU s per rank for a sharded fit against 1.7 s
for the whole fit in one process).

Why not ``DistributedDataParallel``'s wrapper: the generative methods take steps
that it does not support or supports only with ``find_unused_parameters``: the
WGAN critic runs three times per step, once under ``autograd.grad`` for the
gradient penalty, the generator step runs through frozen copies of the critic and
the embedding, GSMFlow's prototype loss runs the flow backwards, and some
parameters are bare tensors (IPCE's prototypes, the softmax classifier). Summing
the gradients after ``backward`` is what DDP's reducer does; here it is one
all-reduce of one flat buffer per optimizer step, which also carries the step's
losses so that every rank reports (and checks for NaN) the whole batch's figures.

Alone (no torchrun) every call is a no-op: one-process training is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Shards:
    """Which part of each batch this rank computes, and the sums that make the parts one step."""

    rank: int = 0
    world_size: int = 1
    device: str = "cpu"  # where the collectives run (NCCL: this rank's GPU)

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def part(self, size: int) -> Part:
        """This rank's part of a batch of ``size`` rows (contiguous; sizes differ by one at most)."""
        rows = self.owns(size)
        share = (rows.stop - rows.start) / size if size else 0.0
        if rows.stop == rows.start:  # a batch shorter than the number of ranks: run its first row, weighted 0
            rows = slice(0, min(1, size))
        return Part(self, int(size), rows, share)

    def average_gradients(self, parameters, share: float, *losses: torch.Tensor) -> list[float]:
        """Sum of ``share`` x gradient over the ranks into each parameter's ``.grad``; the losses' global values.

        ``parameters``: an optimizer (its parameters) or an iterable of tensors; those
        without a gradient are left alone (every rank must backpropagate through the same
        ones). Returns ``[loss.item(), ...]`` summed the same way (alone: as they are).
        """
        if isinstance(parameters, torch.optim.Optimizer):
            parameters = [p for group in parameters.param_groups for p in group["params"]]
        if not self.active:
            return [loss.item() if isinstance(loss, torch.Tensor) else float(loss) for loss in losses]
        grads = [p.grad for p in parameters if p.grad is not None]
        if not grads and not losses:
            return []
        device, dtype = (grads[0].device, grads[0].dtype) if grads else (torch.device(self.device), torch.float32)
        values = [torch.as_tensor(loss).detach().to(device, dtype).reshape(1) for loss in losses]
        flat = torch.cat([g.reshape(-1) for g in grads] + values)  # no host round trip until the end
        flat = flat * share if share > 0 else torch.zeros_like(flat)  # an empty part adds nothing, NaN included
        torch.distributed.all_reduce(flat)
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()
        return flat[offset:].tolist()

    def gather_rows(self, rows: torch.Tensor) -> torch.Tensor:
        """Rows each rank filled for its own part (zeros elsewhere), summed: every rank gets all of them."""
        if not self.active:
            return rows
        summed = rows.to(self.device, torch.float32)  # float32: zeros added to float16 values leave them exact
        torch.distributed.all_reduce(summed)
        return summed.to(rows.device, rows.dtype)

    def owns(self, size: int) -> slice:
        """This rank's contiguous rows of ``size`` rows (as np.array_split); empty when it has none."""
        if not self.active:
            return slice(0, size)
        base, extra = divmod(int(size), self.world_size)
        start = self.rank * base + min(self.rank, extra)
        return slice(start, start + base + (1 if self.rank < extra else 0))


@dataclass(frozen=True)
class Part:
    """One rank's part of one batch: its rows, its weight, and its rows of draws made for the whole batch.

    Random draws (noise, mixing weights) are made for the whole batch on every rank, so
    the seeded generators advance as in one process, and each rank takes its rows of them.
    A rank with no rows (a batch shorter than the number of ranks) runs the batch's first
    row with ``share`` 0, so that every rank runs the same code and the same collectives.
    """

    shards: Shards
    size: int  # rows in the whole batch
    rows: slice  # this rank's rows of it
    share: float  # this rank's real rows over the batch's: its gradients' weight

    def of(self, whole: torch.Tensor) -> torch.Tensor:
        """This rank's rows of something made for the whole batch."""
        return whole[self.rows]

    def whole(self, mine: torch.Tensor) -> torch.Tensor:
        """The whole batch's rows of something each rank computed for its own part (alone: ``mine``).

        Differentiable: a loss computed on the whole batch (SupCon's pairs, MSDN's batch-mean
        self-calibration) then gives exactly the one-process gradient once the ranks' gradients
        are summed by ``average_gradients`` (``_WholeBatch``).
        """
        if not self.shards.active:
            return mine
        return _WholeBatch.apply(mine, self)


class _WholeBatch(torch.autograd.Function):
    """All-gather of each rank's rows; backward hands every rank the share-weighted sum of the whole batch's
    gradients for its own rows, divided by its share (``average_gradients`` multiplies it back)."""

    @staticmethod
    def forward(ctx, mine: torch.Tensor, part: Part) -> torch.Tensor:
        ctx.part = part
        shards, size = part.shards, part.size
        whole = mine.new_zeros((size,) + tuple(mine.shape[1:]))
        own = shards.owns(size)
        whole[own] = mine[: own.stop - own.start]
        return shards.gather_rows(whole)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        part: Part = ctx.part
        summed = part.shards.gather_rows(grad * part.share)
        own = part.shards.owns(part.size)
        out = grad.new_zeros((part.rows.stop - part.rows.start,) + tuple(grad.shape[1:]))
        if part.share > 0:
            out[: own.stop - own.start] = summed[own] / part.share
        return out, None
