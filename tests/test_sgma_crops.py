"""SGMA's part crops (``methods/sgma/crops.py``): the boxes' geometry and cutting the crops (the cache: test_sgma_crop_cache.py)."""

import numpy as np

from zsl_desktop.engine.methods.sgma.crops import (
    crop_images,
    dequantise,
    quantise,
    square_boxes,
    view_to_image_box,
)


def test_boxes_quantise_and_map_to_the_original_image():
    boxes = square_boxes([0.05, 0.5], [0.5, 0.98], [0.3, 0.2])
    assert (boxes >= 0).all() and (boxes <= 1).all()
    np.testing.assert_allclose(boxes[0], [0.0, 0.35, 0.3, 0.65])
    q = quantise(boxes, 32)
    assert q.dtype == np.int32
    np.testing.assert_allclose(dequantise(q, 32), boxes, atol=1 / 64 + 1e-9)
    # A 200x100 image: the view is its centre 100x100 square, x from 50 to 150.
    assert view_to_image_box([0.0, 0.0, 0.5, 1.0], (200, 100)) == (50.0, 0.0, 100.0, 100.0)


def test_crop_images_cut_the_view_box(tmp_path):
    from PIL import Image

    array = np.zeros((100, 200, 3), np.uint8)
    array[:, 105:] = 255  # white from x = 105; the view is x 50..150
    path = tmp_path / "half.png"
    Image.fromarray(array).save(path)
    left, right = crop_images(path, [[0.0, 0.0, 0.5, 0.5], [0.65, 0.5, 1.0, 0.85]], size=8)
    assert left.shape == (8, 8, 3) and left.max() == 0 and right.min() == 255
    assert crop_images(path, [[0.0, 0.0, 0.5, 0.5]])[0].shape == (50, 50, 3)  # own pixel size
