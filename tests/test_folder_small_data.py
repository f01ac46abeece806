"""A folder dataset of few, tiny, grey images (scanned digits, sketches): it loads, extracts and says what is missing."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from zsl_desktop.engine.data.folder import load_folder
from zsl_desktop.engine.features import extract_all
from zsl_desktop.engine.training import TrainConfig, train

CLASSES_CSV = (
    "class,split,closed_loops,vertical_stroke,curve_top\n"
    "zero,seen,1,0,1\n"
    "one,seen,0,1,0\n"
    "seven,seen,0,0.5,0\n"
    "nine,unseen,1,0.5,1\n"
)


def grey_digits(base, per_class):
    """Each class: ``per_class`` images in three grey modes (8-bit, 1-bit, 16-bit), 5 x 7 pixels."""
    root = base / "digits"
    (root / "images").mkdir(parents=True)
    (root / "classes.csv").write_text(CLASSES_CSV)
    rng = np.random.default_rng(0)
    modes = ("L", "1", "I;16")
    for name in ("zero", "one", "seven", "nine"):
        folder = root / "images" / name
        folder.mkdir()
        for i in range(per_class):
            pixels = (rng.random((7, 5)) * 255).astype(np.uint8)
            image = Image.fromarray(pixels, "L")
            mode = modes[i % 3]
            if mode == "1":
                image = image.point(lambda v: 255 if v > 127 else 0).convert("1")
            elif mode == "I;16":
                image = Image.fromarray(pixels.astype(np.uint16) * 257).convert("I;16")
            image.save(folder / f"{i:02d}.png")
    return root


def test_tiny_grey_images_of_every_mode_are_extracted(tmp_path):
    dataset = load_folder(grey_digits(tmp_path, per_class=3))
    store = extract_all(dataset, root=tmp_path / "store", input_size=32)
    assert store.failed == {}
    pooled = np.asarray(store.pooled, np.float32)
    assert pooled.shape[0] == 12 and np.isfinite(pooled).all()
    assert np.abs(pooled).sum(1).min() > 0  # every row extracted, none left as zeros


def test_too_few_images_for_validation_names_the_smallest_class(tmp_path):
    dataset = load_folder(grey_digits(tmp_path, per_class=3))  # 80/20: 2 trainval images a class
    store = extract_all(dataset, root=tmp_path / "store", input_size=32)
    with pytest.raises(ValueError, match=r"too few training images.*'zero' has 2 trainval images.*3 classes are seen"):
        next(train(dataset, store.source(), TrainConfig(method="msdn", epochs=1)))
