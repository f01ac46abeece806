"""The real CUB subset (``../shared/zsl_data``), read once per bench process.

Five places of a bench run open it (CE-GZSL's live subject in three sections, the trainer beside the
live jobs, the training rows, the scale section's tiling): ``load_cub`` parses its tables and checks
every image file each time (~0.8 s of CPU on a busy 2-core Xeon), which measures nothing. A
``Dataset`` is not changed by its users (``tiled`` makes a new one), so one copy serves them all.
"""

from __future__ import annotations

import functools


def real_cub():
    """The CUB subset as ``load_cub`` reads it, or None where the shared data is not beside the checkout."""
    from zsl_desktop.engine.paths import shared_data_dir

    shared = shared_data_dir()
    return None if shared is None else _load(str(shared / "CUB_200_2011"))


def forget_real_cub() -> None:
    """Drop the copy read so far (each bench run starts with one)."""
    _load.cache_clear()


@functools.lru_cache(maxsize=2)
def _load(path: str):
    from zsl_desktop.engine.data.cub import load_cub

    return load_cub(path)
