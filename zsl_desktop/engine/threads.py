"""How many CPU threads torch and numpy's BLAS get, set once per process (CLI, bench, app).

Why one place: torch (OpenMP) and numpy's OpenBLAS each keep a pool of
threads that spin for a while after every parallel call. Two pools of the
machine's size oversubscribe the cores: on 2 cores a QR of a 1280x60 matrix
went from 2 ms to 1.2 s of wall clock beside a training run, and small live
scoring calls had 30-70 ms spikes. Our numpy products are small, so BLAS
gets one thread and torch gets the rest; the app leaves one core to the GUI.

Why OpenMP keeps its default (spinning) wait: ``OMP_WAIT_POLICY=PASSIVE`` (threads sleep at once
instead of spinning) was measured for issue #19 on two-thread extraction, alternated runs. Nearly quiet
(batch 16) it cost a quarter of the speed: 198 -> 141 img/s, medians of 6 pairs, 22-32% in each
(``GOMP_SPINCOUNT=10000``: 147). On a machine busy with other work (batch 4 and 16) it was 4-50x faster,
0.6-3.5 -> 5-94 img/s, with an eighth of the CPU time: a spinning thread burns its turn waiting for one
that is not running. The targets are for a quiet machine, so the default stays; on a busy machine the
user can set the variable (the CLI reads it before torch starts).
"""

from __future__ import annotations

import os
import sys

GUI_CORES = 1  # cores left to the GUI thread in the app


def cores() -> int:
    """Cores this process may run on (its CPU affinity, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def worker_threads() -> int:
    """Torch threads in the app: every core but the GUI's."""
    return max(1, cores() - GUI_CORES)


def limit_blas_threads(n: int) -> int | None:
    """Cap numpy's OpenBLAS pool at ``n`` threads; returns the previous size when known.

    Before numpy is imported the environment variable is enough; afterwards the
    library's own setter is called (Linux; elsewhere nothing changes).
    """
    if "numpy" not in sys.modules:
        os.environ["OPENBLAS_NUM_THREADS"] = str(n)
        return None
    import ctypes

    try:
        with open("/proc/self/maps") as maps:
            libs = sorted({line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line})
    except OSError:
        return None
    previous = None
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("64_", ""):
                setter = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                getter = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                if setter is not None:
                    if getter is not None:
                        getter.restype = ctypes.c_int
                        previous = int(getter())
                    setter(ctypes.c_int(n))
                    return previous
    return previous


def configure(torch_threads: int | None = None) -> int:
    """Torch gets ``torch_threads``, numpy's BLAS one; returns torch's count.

    The default is ``OMP_NUM_THREADS`` when set (torchrun sets 1 per process), else every core.
    """
    if not torch_threads:
        env = os.environ.get("OMP_NUM_THREADS", "")
        torch_threads = int(env) if env.isdigit() and int(env) > 0 else cores()
    n = max(1, int(torch_threads))
    from zsl_desktop.engine.allocator import keep_large_blocks

    keep_large_blocks()  # the other per-process CPU setting (allocator.py says why)
    limit_blas_threads(1)
    import torch

    # Always, also when the count is already ``n``: torch.set_num_threads also turns MKL's dynamic thread choice
    # off (MKL may then use fewer threads than asked), which is on in a fresh process. Called only on a change, it
    # left the matrix products in one of two states by the process's history (issue #19: ``bench --only extract``
    # timed its matmul bound with MKL dynamic, the whole ``--quick`` run, whose earlier sections ran on one thread,
    # without).
    torch.set_num_threads(n)
    return n


def configure_without_importing_torch(torch_threads: int) -> int:
    """``configure(torch_threads)`` for the app, whose start-up modules do not import torch (issue #19: ~2 s
    of CPU before the first predictions): torch, imported later by a worker, reads ``OMP_NUM_THREADS``
    when it starts. When torch is in already, its pool is set as ``configure`` does. Only the app calls
    this: the variable is inherited by the processes it starts (the first launch's drawing pool, numpy only).
    """
    if "torch" in sys.modules:
        return configure(torch_threads)
    n = max(1, int(torch_threads))
    from zsl_desktop.engine.allocator import keep_large_blocks

    keep_large_blocks()
    limit_blas_threads(1)
    os.environ["OMP_NUM_THREADS"] = str(n)
    return n
