"""Running under ``torchrun``: one process per GPU (or CPU slot), PyTorch's own distributed engine.

``torchrun --nproc_per_node=N -m zsl_desktop extract|train ...`` starts N
copies of the CLI with RANK / WORLD_SIZE / LOCAL_RANK set. ``context()``
turns that into a ``DistContext``: NCCL on GPUs, gloo on the CPU.

- Extraction shards the images like ``DistributedSampler`` (rank r takes
  rows r, r+N, r+2N, ...) and every rank writes its rows into the same
  memory-mapped store; rank 0 creates the files and finishes the manifest.
- Training: every method splits each batch of its one-process schedule across
  the ranks and sums their gradients (``engine.sharding``), so N processes take
  the steps one process takes. Every rank evaluates (the models are identical,
  so they agree on the epoch); rank 0 alone writes files and reports.
Outside torchrun ``context()`` is a single-process context and nothing changes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from zsl_desktop.engine.sharding import Shards


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.active:
            torch.distributed.barrier()

    def shard_rows(self, rows: np.ndarray) -> np.ndarray:
        """This rank's rows for extraction: a strided slice, no padding (each row written once)."""
        return np.asarray(rows)[self.rank :: self.world_size]

    @property
    def shards(self) -> Shards:
        """How training steps split their batches across the ranks (``engine.sharding``)."""
        return Shards(self.rank, self.world_size, self.device)


_CONTEXT: DistContext | None = None


def context() -> DistContext:
    """The process's distributed context, initialising the process group on first use under torchrun."""
    global _CONTEXT
    if _CONTEXT is not None:
        return _CONTEXT
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        _CONTEXT = DistContext()
        return _CONTEXT
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available()
    backend = "nccl" if use_cuda else "gloo"
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend=backend)
    device = f"cuda:{local_rank}" if use_cuda else "cpu"
    if use_cuda:
        torch.cuda.set_device(local_rank)
    _CONTEXT = DistContext(rank=rank, world_size=world_size, local_rank=local_rank, device=device)
    return _CONTEXT


def shutdown() -> None:
    global _CONTEXT
    if _CONTEXT is not None and _CONTEXT.active and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    _CONTEXT = None
