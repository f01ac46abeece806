"""Scoring every item in bounded chunks: the memory of a score matrix over 100,000 images stays small."""

from __future__ import annotations

import numpy as np

SCORE_CHUNK = 4096  # rows scored at once: bounds the memory of scoring every image
LIVE_COLUMNS = 4  # up to this many class rows are scored over every image in one call (a slider's column)


def score_in_chunks(score, codes: np.ndarray, class_attributes: np.ndarray) -> np.ndarray:
    """``score(codes, classes)`` [n, C] in SCORE_CHUNK rows at a time: bounds the memory of scoring every image.

    A few class rows (the edited class's column) are scored in one call: the output is small, and the
    methods' caches of per-codes work (CE-GZSL's and IPCE's comparator state, keyed by the codes array)
    then hit on every slider move; chunks are new arrays each time, so with 100,000 images every move
    recomputed them (CE-GZSL: ~135 ms of CPU per move, 25 chunk copies of a 200 MB array).
    """
    if len(class_attributes) <= LIVE_COLUMNS:
        return np.asarray(score(codes, class_attributes), np.float32)
    out = np.empty((len(codes), len(class_attributes)), np.float32)
    for i in range(0, len(codes), SCORE_CHUNK):
        out[i : i + SCORE_CHUNK] = score(codes[i : i + SCORE_CHUNK], class_attributes)
    return out
