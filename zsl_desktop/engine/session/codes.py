"""The on-disk cache of a model's per-image codes, keyed by the checkpoint file's content.

Why a cache: encoding every image is the slow part of loading a model (SGMA's
first load runs the backbone on two part crops of every image); the codes of
one checkpoint on one feature store never change, so they are kept beside the store.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np

from zsl_desktop.engine.atomic import atomic_write_bytes
from zsl_desktop.engine.checkpoints import Checkpoint
from zsl_desktop.engine.features import FeatureStore


def checkpoint_identity(checkpoint: Checkpoint) -> str | None:
    """A content hash of the checkpoint file: a retrained file at the same path gets new codes."""
    if checkpoint.path is None:
        return None
    try:
        return hashlib.sha256(Path(checkpoint.path).read_bytes()).hexdigest()[:16]
    except OSError:
        return None


def codes_cache_path(cache_key: str | None, store: FeatureStore | None) -> Path | None:
    """Codes depend on the model and on the features: key them by both."""
    if cache_key is None or store is None:
        return None
    return store.folder / f"codes-{cache_key}.npy"


def read_codes(path: Path | None, num_samples: int):
    if path is None or not path.is_file():
        return None
    try:
        codes = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None  # a damaged cache is recomputed, never trusted
    return codes if codes.shape[:1] == (num_samples,) else None


def write_codes(path: Path, codes: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(codes), allow_pickle=False)
    try:
        atomic_write_bytes(path, buffer.getvalue())
    except OSError:
        pass  # a cache that cannot be written only costs time
