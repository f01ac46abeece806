"""Which dtype the large training matrix products run in: float32, or bfloat16 where the CPU has it natively.

Why: MSDN's and SGMA's epochs are dominated by a few GEMMs of frozen grid
features ([A, C] @ [C, batch x regions]); in float32 they already run at this
machine's matmul rate, so only a cheaper number format makes them faster.
CPUs with AVX512-BF16 or AMX multiply bfloat16 several times faster than
float32 (accumulating in float32). Elsewhere bfloat16 is emulated and slower,
so ``"auto"`` measures both once per process and takes bfloat16 only when it
is clearly faster; where the CPU flags (or a cap on oneDNN) rule native bfloat16 out
it does not measure. Inference (``encode``) stays float32 so that scores do not
depend on the machine.
"""

from __future__ import annotations

import time
from functools import lru_cache

import torch

CHOICES = ("auto", "fp32", "bf16")
SPEED_UP_NEEDED = 1.5  # below this the rounding is not worth it


@lru_cache(maxsize=None)
def cpu_bf16_speedup(size: int = 512) -> float:
    """float32 / bfloat16 time of one square matmul on this CPU with torch's current threads (best of 3)."""

    def best(dtype) -> float:
        a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
        a @ b
        times = []
        for _ in range(3):
            start = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - start)
        return min(times)

    try:
        return best(torch.float32) / best(torch.bfloat16)
    except RuntimeError:  # a build without bfloat16 matmul on the CPU
        return 0.0


def training_dtype(choice: str, device) -> torch.dtype:
    """The dtype of the big training products for a precision choice ("auto" | "fp32" | "bf16")."""
    choice = str(choice).lower()
    if choice not in CHOICES:
        raise ValueError(f"precision must be one of {CHOICES}, not {choice!r}")
    if choice == "fp32":
        return torch.float32
    if choice == "bf16":
        return torch.bfloat16
    if torch.device(device).type != "cpu":
        return torch.float32  # GPUs: float32 is fast enough here, and results stay comparable
    if native_bf16_here() is False:  # emulated for sure: no need to measure it (0.5 CPU s a process)
        return torch.float32
    return torch.bfloat16 if cpu_bf16_speedup() >= SPEED_UP_NEEDED else torch.float32


@lru_cache(maxsize=None)
def native_bf16_here() -> bool | None:
    """``cpu.native_bf16`` for this machine and its environment (None: unknown, so "auto" measures)."""
    import os

    from zsl_desktop.engine.cpu import native_bf16, this_cpu_flags

    return native_bf16(this_cpu_flags(), os.environ)
