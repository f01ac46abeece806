"""Every dataset image's code under a model: read from the codes cache, else encoded (with progress) and cached.

Encoding is the slow part of making a model active (SGMA's first load runs the backbone on two part crops
per image): the session does it once per model, here, and reports its count and rate (an ETA).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from zsl_desktop.engine.features import FeatureStore, feature_source
from zsl_desktop.engine.methods.base import Method
from zsl_desktop.engine.scoring import encode_rows
from zsl_desktop.engine.session.codes import codes_cache_path, read_codes, write_codes
from zsl_desktop.engine.session.results import Progress


def dataset_codes(
    method: Method, dataset, store: FeatureStore | None, mirrored, tta: bool, cache_key, device, progress=None
) -> np.ndarray:
    """Codes of every image of ``dataset`` on ``store``'s features, cached beside the store per checkpoint.

    ``progress(done, total)`` while encoding; never called when the codes come from the cache.
    With ``tta`` (a model trained with flip test-time averaging) each image is scored with its mirror
    (``mirrored``, the mirrored store); those codes are cached under their own key.
    """
    cache = codes_cache_path(cache_key and (f"{cache_key}-tta" if tta else cache_key), store)
    codes = read_codes(cache, dataset.num_samples)
    if codes is None:
        with torch.inference_mode():
            codes = encode_rows(
                method,
                feature_source(dataset, store, mirrored, tta),
                np.arange(dataset.num_samples),
                device,
                progress=progress,
            )
        if cache is not None:
            write_codes(cache, codes)
    return codes


def encoding_progress(emit, message: str, every: float = 0.25):
    """A ``progress(done, total)`` for encoding every image that emits "model" Progress with a rate (at most 4/s)."""
    start = time.perf_counter()
    last = [start]

    def report(done: int, total: int) -> None:
        now = time.perf_counter()
        if done < total and now - last[0] < every:
            return
        last[0] = now
        emit(Progress("model", int(done), int(total), message, done / max(now - start, 1e-6)))

    return report
