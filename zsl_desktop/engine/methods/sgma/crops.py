"""Part crops of the original images, re-encoded by the frozen backbone, with a disk cache.

SGMA (``method.py`` of this package) zooms into square boxes found by its attention maps and
runs the backbone on each crop. On a CPU that costs more than everything else
in training, so crop features are computed once and cached:

- Boxes live in the coordinates the backbone saw: [0, 1] of the centre square
  of the image (``backbones.preprocess`` resizes the shorter side and centre
  crops, so that square is the central min(w, h) x min(w, h) region of the
  original, whatever the input size). Crops are cut from the ORIGINAL image,
  so a small box of a large photo keeps its detail when zoomed.
- A box is quantised (centre and side rounded to 1/``quantum`` of the view)
  BEFORE cropping, and the crop is cut at the quantised box; the cache key is
  (row, quantised cx, cy, side). A cached feature therefore always equals what
  the key describes, and boxes that move less than half a quantum reuse it.
- The cache (``crop_cache.py``) lives beside the feature store (its folder is keyed
  by dataset fingerprint, backbone and input size, so rows mean the same images),
  under a byte cap that evicts the oldest crops first; crops it no longer holds
  are computed again.

``ImageAccess`` is how a method reaches the original images: the row -> file
mapping, the backbone and input size of the feature store, and its folder.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from PIL import Image

from zsl_desktop.engine.backbones import BACKBONES, load_backbone, spec_for
from zsl_desktop.engine.events import prefetch
from zsl_desktop.engine.feature_source import ImageAccess
from zsl_desktop.engine.images import ImageFileError, open_image

from .crop_cache import shared_cache


# -- geometry ---------------------------------------------------------------------------------
def square_boxes(cx, cy, side) -> np.ndarray:
    """(centre x, centre y, side) in [0, 1] -> [..., 4] x0, y0, x1, y1, shifted to lie inside [0, 1]."""
    cx, cy, side = (np.asarray(v, np.float64) for v in (cx, cy, side))
    side = np.clip(side, 1e-3, 1.0)
    cx = np.clip(cx, side / 2, 1 - side / 2)
    cy = np.clip(cy, side / 2, 1 - side / 2)
    return np.stack([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], -1)


def quantise(boxes: np.ndarray, quantum: int) -> np.ndarray:
    """[..., 4] boxes -> int32 [..., 3] (cx, cy, side) in units of 1/quantum of the view."""
    boxes = np.asarray(boxes, np.float64)
    cx = (boxes[..., 0] + boxes[..., 2]) / 2
    cy = (boxes[..., 1] + boxes[..., 3]) / 2
    side = np.maximum(boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1])
    q = np.stack([cx, cy, side], -1) * quantum
    q = np.rint(q).astype(np.int32)
    q[..., 2] = np.clip(q[..., 2], 1, quantum)
    return q


def dequantise(q: np.ndarray, quantum: int) -> np.ndarray:
    """int (cx, cy, side) -> [..., 4] boxes inside [0, 1]."""
    q = np.asarray(q, np.float64) / quantum
    return square_boxes(q[..., 0], q[..., 1], q[..., 2])


def view_to_image_box(box, image_size) -> tuple:
    """A [0, 1] box of the backbone's view -> (left, top, right, bottom) pixels of the original image."""
    w, h = image_size
    side = min(w, h)
    left, top = (w - side) / 2, (h - side) / 2
    x0, y0, x1, y1 = (float(v) for v in box)
    return left + x0 * side, top + y0 * side, left + x1 * side, top + y1 * side


def _open_rgb(path) -> Image.Image:
    """Through the engine's image gate: a damaged file raises ImageFileError naming it."""
    return open_image(path)


def crop_images(image, boxes, size: int | None = None) -> list[np.ndarray]:
    """uint8 RGB crops [s, s, 3] of ``image`` (a path or PIL image) at [0, 1] view boxes [P, 4].

    ``size`` None keeps the crop's own pixel size (at least 1 px); what the app shows beside the image.
    """
    image = image if isinstance(image, Image.Image) else _open_rgb(image)
    out = []
    for box in np.asarray(boxes, np.float64).reshape(-1, 4):
        pixels = view_to_image_box(box, image.size)
        side = size or max(1, round(pixels[2] - pixels[0]))
        out.append(np.asarray(image.resize((side, side), Image.Resampling.BILINEAR, box=pixels), np.uint8))
    return out


def crop_tensors(image: Image.Image, boxes, crop_size: int, spec) -> torch.Tensor:
    """Normalised float32 [P, 3, S, S] backbone inputs: each box zoomed (bilinear) to ``crop_size``."""
    crops = crop_images(image, boxes, crop_size)
    x = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(spec.mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(spec.std, dtype=torch.float32).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous()


# -- the encoder --------------------------------------------------------------------------------
class CropEncoder:
    """Pooled backbone features of part crops, through the cache.

    ``features(rows, boxes)`` -> float32 [n, P, C]. Only crops missing from the
    cache run the backbone (images decoded on two threads, crops batched).
    """

    def __init__(
        self,
        access: ImageAccess,
        channels: int,
        crop_size: int = 128,
        quantum: int = 32,
        device="cpu",
        batch_size: int = 16,
    ):
        self.access = access
        self.spec = spec_for(access.backbone)
        if self.spec.channels != int(channels):
            raise ValueError(
                f"crops: backbone {access.backbone} gives {self.spec.channels} channels, the model expects {channels}"
            )
        self.crop_size, self.quantum = int(crop_size), int(quantum)
        self.device = device
        self.batch_size = max(1, int(batch_size))
        self.cache = shared_cache(access.cache_dir, self.crop_size, self.quantum, self.spec.channels)
        self._backbone = None
        self.computed = 0  # crops that ran the backbone (for reports and tests)
        self.failed: dict[str, str] = {}  # image file -> why it could not be read (its crops are zeros)

    def backbone(self):
        if self._backbone is None:
            self._backbone = load_backbone(self.access.backbone, device=self.device)
        return self._backbone

    def keys(self, rows, boxes) -> np.ndarray:
        """int32 [n, P, 4] cache keys (row, qcx, qcy, qside)."""
        rows = np.asarray(rows, np.int64)
        q = quantise(np.asarray(boxes).reshape(len(rows), -1, 4), self.quantum)
        r = np.broadcast_to(rows[:, None, None], q.shape[:2] + (1,))
        return np.concatenate([r, q], -1).astype(np.int32)

    def features(self, rows, boxes, control=None, progress=None) -> np.ndarray:
        """Crop features [n, P, C] for view boxes [n, P, 4] of ``rows``; ``control.check()`` between batches."""
        keys = self.keys(rows, boxes)
        n, parts = keys.shape[:2]
        out, found = self.cache.get(keys.reshape(-1, 4))
        out = out.reshape(n, parts, -1)
        missing = np.flatnonzero(~found.reshape(n, parts).all(axis=1))  # images with a crop to compute
        if len(missing):
            self._compute(keys, missing, out, control, progress)
        return out

    def _compute(self, keys, todo, out, control, progress) -> None:
        per_batch = max(1, self.batch_size // keys.shape[1])
        batches = [todo[i : i + per_batch] for i in range(0, len(todo), per_batch)]

        def load(batch):
            tensors = []
            for i in batch:
                path = self.access.path(int(keys[i, 0, 0]))
                try:
                    image = _open_rgb(path)
                except ImageFileError as exc:  # like the feature store: zero features, named, the rest go on
                    self._skip(path, exc.problem)
                    tensors.append(None)
                    continue
                tensors.append(crop_tensors(image, dequantise(keys[i, :, 1:], self.quantum), self.crop_size, self.spec))
            return tensors

        done = 0
        model = self.backbone()
        with ThreadPoolExecutor(max_workers=2) as pool:
            for batch, tensors in zip(batches, prefetch(pool, load, batches)):
                if control is not None:
                    control.check()
                good = [k for k, t in enumerate(tensors) if t is not None]
                pooled = np.zeros((len(batch), keys.shape[1], self.spec.channels), np.float32)
                if good:
                    with torch.inference_mode():
                        _, p = model(torch.cat([tensors[k] for k in good]).to(model.device))
                    # Rounded to float16 as stored, so a cached and a fresh crop give identical scores.
                    p = p.float().cpu().numpy().astype(np.float16).astype(np.float32)
                    pooled[good] = p.reshape(len(good), keys.shape[1], -1)
                    kept = np.asarray(batch)[good]
                    self.cache.put(keys[kept].reshape(-1, 4), pooled[good].reshape(-1, pooled.shape[-1]))
                out[batch] = pooled
                self.computed += len(good) * pooled.shape[1]
                done += len(batch)
                if progress is not None:
                    progress(done, len(todo))

    def _skip(self, path, problem: str) -> None:
        if str(path) not in self.failed:
            logging.getLogger(__name__).warning("%s: skipped in the crop pass: %s", path, problem)
        self.failed[str(path)] = problem


def encode_crops(
    image, boxes, channels: int, crop_size: int = 128, quantum: int = 32, device="cpu", backbone: str | None = None
) -> np.ndarray:
    """[P, C] crop features of one image (path or PIL) at view boxes [P, 4], as ``CropEncoder`` makes them.

    ``backbone`` None: the one with ``channels`` output channels (the first such).
    """
    name = backbone or next((n for n, s in BACKBONES.items() if s.channels == int(channels)), None)
    if name is None:
        raise ValueError(f"crops: no backbone gives {channels} channels")
    pil = image if isinstance(image, Image.Image) else _open_rgb(image)
    tensors = crop_tensors(pil, dequantise(quantise(boxes, quantum), quantum), crop_size, spec_for(name))
    _, pooled = load_backbone(name, device=device)(tensors)
    return pooled.float().cpu().numpy().astype(np.float16).astype(np.float32)
