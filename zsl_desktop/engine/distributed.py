"""Running under ``torchrun``: one process per GPU (or CPU slot), PyTorch's own distributed engine.

``torchrun --nproc_per_node=N -m zsl_desktop extract|train ...`` starts N
copies of the CLI with RANK / WORLD_SIZE / LOCAL_RANK set. ``context()``
turns that into a ``DistContext``: NCCL on GPUs, gloo on the CPU.

- Extraction shards the images like ``DistributedSampler`` (rank r takes
  rows r, r+N, r+2N, ...) and every rank writes its rows into the same
  memory-mapped store; rank 0 creates the files and finishes the manifest.
- Training wraps a method's trainable modules in DistributedDataParallel
  (through ``TrainData.wrap``) and gives each rank an equal-length shard of the
  training rows (padded by repetition, as DistributedSampler does, so every
  rank runs the same number of steps); rank 0 alone evaluates and writes files.
Outside torchrun ``context()`` is a single-process context and nothing changes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch


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

    def shard_training(self, index: np.ndarray, seed: int = 0) -> np.ndarray:
        """An equal-length shard of the training rows for this rank, padded by repetition."""
        index = np.asarray(index)
        if not self.active:
            return index
        order = np.random.default_rng(seed).permutation(len(index))
        per_rank = -(-len(index) // self.world_size)
        padded = np.resize(order, per_rank * self.world_size)
        return np.sort(index[padded[self.rank :: self.world_size]])

    def wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        """DistributedDataParallel around a method's trainable module (identity when alone)."""
        if not self.active:
            return module
        from torch.nn.parallel import DistributedDataParallel

        if self.device.startswith("cuda"):
            return DistributedDataParallel(module, device_ids=[self.local_rank])
        return DistributedDataParallel(module)


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
