"""Pixels for the screen: one image at display size, and gallery thumbnails, both through the image gate.

Why in the engine: decoding is plain PIL and numpy work that the app's worker
threads run; keeping it here leaves the app with Qt only.
"""

from __future__ import annotations

import numpy as np

from zsl_desktop.engine.images import ImageFileError, check_size
from zsl_desktop.engine.session.results import ImageData
from zsl_desktop.engine.userfiles import check_file

LARGE_IMAGE_SIDE = 1024


def load_image(path, item: int, generation: int = 0, max_side: int = LARGE_IMAGE_SIDE) -> ImageData:
    from PIL import Image, ImageOps

    with gated_open(path) as im:
        im = ImageOps.exif_transpose(im)
        size = im.size
        im = im.convert("RGB")
        if max(size) > max_side:
            im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        rgb = np.ascontiguousarray(np.asarray(im, dtype=np.uint8))
    return ImageData(item, rgb, str(path), size, generation)


def gated_open(path):
    """``Image.open`` after the engine's image gate: no pipes or devices, size and pixel limits."""
    from PIL import Image

    if check_file(path, "image", ImageFileError) == 0:
        raise ImageFileError(path, "the file is empty (0 bytes)")
    image = Image.open(path)
    check_size(path, image.size)
    return image


def load_thumbnail(path, size: int) -> np.ndarray:
    """A small RGB array, decoded at reduced resolution where the format allows (JPEG draft mode)."""
    from PIL import Image, ImageOps

    with gated_open(path) as im:
        im.draft("RGB", (size * 2, size * 2))
        im = ImageOps.exif_transpose(im).convert("RGB")
        im.thumbnail((size, size), Image.Resampling.BILINEAR)
        return np.ascontiguousarray(np.asarray(im, dtype=np.uint8))
