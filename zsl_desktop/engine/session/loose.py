"""The user's loose photos: their backbone features, extracted on demand and never written into a dataset.

Items 0..N-1 are the dataset's images, N.. the loose photos in the order added.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from zsl_desktop.engine.backbones import load_backbone, preprocess, weights_path
from zsl_desktop.engine.images import describe, open_image
from zsl_desktop.engine.session.results import LooseAdded, LooseItem

MAX_LOOSE_PER_DROP = 2000
BATCH = 16

_backbone_cache: list = []  # [(key, model)]: one backbone, kept across datasets (loading it takes a second)


def cached_backbone(name: str, device):
    key = (name, device, str(weights_path(name)))  # a timm backbone's weights file may change (--backbone-weights)
    if not _backbone_cache or _backbone_cache[0][0] != key:
        _backbone_cache[:] = [(key, load_backbone(name, device=device))]
    return _backbone_cache[0][1]


class LoosePhotos:
    """The photos a user added to one session, with their grid and pooled features (float16)."""

    def __init__(self, backbone: str, input_size: int, device):
        self.backbone, self.input_size, self.device = backbone, input_size, device
        self.items: list[LooseItem] = []
        self._grid: dict[str, np.ndarray] = {}
        self._pooled: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.items)

    def rows(self, kind: str, items) -> np.ndarray:
        """Features of ``items`` (LooseItems) as float32 [n, ...] of ``kind`` ("grid" or "pooled")."""
        store = self._grid if kind == "grid" else self._pooled
        return np.stack([store[i.path] for i in items]).astype(np.float32)

    def add(self, paths, still_wanted=lambda: True) -> LooseAdded:
        """Extract features of new photos; unreadable files are listed with the reason, the rest kept.

        ``still_wanted()`` turning False (another dataset was opened) stops after the current batch.
        """
        known = {i.path for i in self.items}
        added, errors = [], []
        todo = [str(p) for p in paths if str(p) not in known]
        model = cached_backbone(self.backbone, self.device)
        spec = model.spec  # a timm backbone knows its facts once built
        for start in range(0, len(todo), BATCH):
            batch, batch_paths = [], []
            for path in todo[start : start + BATCH]:
                try:  # the engine's image gate: pipes, huge and damaged files are refused with a reason
                    batch.append(preprocess(open_image(path), spec, self.input_size))
                    batch_paths.append(path)
                except Exception as exc:  # unreadable file: say which and why, keep going
                    errors.append((path, describe(exc)))
            if not batch:
                continue
            with torch.inference_mode():
                grid, pooled = model(torch.stack(batch))
            if not still_wanted():
                break
            for k, path in enumerate(batch_paths):
                self._grid[path] = grid[k].numpy().astype(np.float16)
                self._pooled[path] = pooled[k].numpy().astype(np.float16)
                item = LooseItem(path=path, name=Path(path).name)
                self.items.append(item)
                added.append(item)
        return LooseAdded(tuple(added), tuple(errors))
