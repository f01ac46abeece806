"""Helpers for attention maps on the feature grid (shared by the attention methods and the app)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def upsample_attention(maps, size) -> np.ndarray:
    """Bilinear upsampling of grid maps [A, h, w] (or [h, w]) to ``size`` = (H, W), float32 numpy.

    ``align_corners=False``: each grid cell covers an equal block of the image,
    which is how a convolutional feature map relates to its input.
    """
    array = torch.as_tensor(np.asarray(maps, dtype=np.float32))
    squeeze = array.ndim == 2
    if squeeze:
        array = array[None]
    if array.ndim != 3:
        raise ValueError(f"attention maps must be [A, h, w] or [h, w], got shape {tuple(array.shape)}")
    height, width = int(size[0]), int(size[1])
    if array.shape[0] == 0:
        return np.zeros((0, height, width), np.float32)
    out = F.interpolate(array[None], size=(height, width), mode="bilinear", align_corners=False)[0]
    maps_out = out.numpy().astype(np.float32, copy=False)
    return maps_out[0] if squeeze else maps_out
