"""Running the frozen backbone on images: out-of-memory fallbacks (``BackboneRunner``) and the features of
loose images that never enter a store (``extract_images``: the user's photos, a few test rows).

The feature store (``features.py``) runs the same ``BackboneRunner`` over a whole dataset.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from zsl_desktop.engine.backbones import load_backbone, preprocess
from zsl_desktop.engine.errors import JobCancelled
from zsl_desktop.engine.events import is_out_of_memory
from zsl_desktop.engine.images import describe, open_image

log = logging.getLogger(__name__)


class ExtractionCancelled(JobCancelled):
    pass


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


class BackboneRunner:
    """Runs the backbone on a batch; when memory runs out it halves the batch, then moves to the CPU.

    ``model(images)`` gives (grid, pooled); images may sit on the CPU (the backbone moves them).
    What it did is kept for the caller to show (``take_message``).
    """

    def __init__(self, model, batch_size: int):
        self.model = model
        self.batch_size = max(1, int(batch_size))
        self.limit = self.batch_size
        self.messages: list[str] = []

    def __call__(self, images: torch.Tensor):
        while True:
            try:
                parts = [self.model(chunk) for chunk in images.split(self.limit)]
                break
            except Exception as exc:  # only out-of-memory is handled, the rest re-raised
                if not is_out_of_memory(exc):
                    raise
                self._shrink(exc, len(images))
        if len(parts) == 1:
            return parts[0]
        return torch.cat([g for g, _ in parts]), torch.cat([p for _, p in parts])

    def _shrink(self, exc: BaseException, n: int) -> None:
        device = str(getattr(self.model, "device", "cpu"))
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
        if min(self.limit, n) > 1:
            self.limit = max(1, min(self.limit, n) // 2)
            self._say(f"out of memory on {device}: continuing with batches of {self.limit} images")
        elif device != "cpu":
            self.model = self.model.to("cpu")
            self.limit = self.batch_size
            self._say(f"out of memory on {device} even one image at a time: continuing on the CPU (slower)")
        else:
            raise MemoryError(f"out of memory on the CPU even one image at a time ({exc})") from exc

    def _say(self, text: str) -> None:
        log.warning(text)
        self.messages.append(text)

    def take_message(self) -> str:
        text = "; ".join(self.messages)
        self.messages.clear()
        return text


def extract_images(
    paths,
    backbone: str = "efficientnet_lite0",
    input_size: int | None = None,
    device: str | None = None,
    batch_size: int = 8,
    cancel=None,
):
    """Features of loose images (user photos, a few test rows) without a store: (grid, pooled, errors).

    Unreadable files give zero rows and an entry in ``errors`` (path -> why); nothing raises.
    """
    model = load_backbone(backbone, device=device or default_device())
    spec = model.spec  # a timm backbone knows its channels and stride once built
    input_size = input_size or spec.default_input_size
    runner = BackboneRunner(model, batch_size)
    grids, pooled, errors = [], [], {}
    for start in range(0, len(paths), batch_size):
        if cancel is not None and cancel.is_set():
            raise ExtractionCancelled("extraction cancelled")
        batch: list[torch.Tensor | None] = []
        for path in paths[start : start + batch_size]:
            try:
                batch.append(preprocess(open_image(path), spec, input_size))
            except Exception as exc:  # a bad photo must not stop the others
                errors[str(path)] = describe(exc)
                batch.append(None)
        good = [t for t in batch if t is not None]
        if good:
            with torch.inference_mode():
                g, p = runner(torch.stack(good))
        side = spec.grid_size(input_size)
        gi = iter(range(len(good)))
        for t in batch:
            if t is None:
                grids.append(np.zeros((spec.channels, side, side), np.float32))
                pooled.append(np.zeros(spec.channels, np.float32))
            else:
                i = next(gi)
                grids.append(g[i].float().cpu().numpy())
                pooled.append(p[i].float().cpu().numpy())
    shape = (0, spec.channels, spec.grid_size(input_size), spec.grid_size(input_size))
    return (
        np.stack(grids) if grids else np.zeros(shape, np.float32),
        np.stack(pooled) if pooled else np.zeros((0, spec.channels), np.float32),
        errors,
    )
