"""The attention-vs-part score: a model that looks at the part scores 1, the baselines stay low."""

import numpy as np
import pytest

from zsl_desktop.engine.localisation import crop_coordinates, localisation_score, peak_location
from zsl_desktop.engine.methods.base import Explanation, FeatureSource


def test_crop_coordinates_follow_resize_and_centre_crop():
    # 200x100 image, input 50: scale 0.5 -> 100x50, crop x from 25 to 75
    pts = crop_coordinates(np.array([[100.0, 50.0], [50.0, 0.0]]), (200, 100), 50)
    assert pts.tolist() == [[0.5, 0.5], [0.0, 0.0]]


def test_peak_location_of_a_one_hot_grid():
    grid = np.zeros((7, 7))
    grid[1, 5] = 1
    x, y = peak_location(grid)
    assert abs(x - 5.5 / 7) < 0.05 and abs(y - 1.5 / 7) < 0.05


class _Oracle:
    """Attention exactly on the annotated part (or uniform, or on the opposite corner)."""

    def __init__(self, dataset, mode):
        self.dataset, self.mode = dataset, mode

    def explain(self, row_features):
        row = int(row_features[0, 0, 0])
        d = self.dataset
        maps = np.full((d.num_attributes, 7, 7), 1.0 / 49)
        if self.mode == "uniform":
            return Explanation(attention=maps)
        from PIL import Image

        with Image.open(d.image_path(row)) as im:
            size = im.size
        from zsl_desktop.engine.localisation import GROUP_PARTS

        parts = crop_coordinates(d.part_locations[row, :, :2], size, 64)
        for group, idx in d.attribute_groups().items():
            names = GROUP_PARTS.get(group, ())
            ids = [
                d.part_names.index(n)
                for n in names
                if n in d.part_names and d.part_locations[row, d.part_names.index(n), 2]
            ]
            if not ids:
                continue
            x, y = np.clip(parts[ids[0]], 0, 0.999)
            if self.mode == "wrong":
                x, y = 1 - x, 1 - y
            for a in idx:
                maps[a] = 0
                maps[a, int(y * 7), int(x * 7)] = 1
        return Explanation(attention=maps)


@pytest.fixture
def indexed_features(small_birds):
    """Features whose first value is the row number, so the oracle knows which image it is."""
    n = small_birds.num_samples
    grid = np.zeros((n, 1, 7, 7), np.float32)
    grid[:, 0, 0, 0] = np.arange(n)
    return FeatureSource(grid=grid)


def test_oracle_attention_beats_both_baselines(small_birds, indexed_features):
    index = small_birds.splits["test_unseen"]
    good = localisation_score(_Oracle(small_birds, "right"), small_birds, indexed_features, index, 64)
    assert good.pairs > 0 and good.hits > 0.9
    assert good.uniform < 0.3 and good.hits > good.centre
    uniform = localisation_score(_Oracle(small_birds, "uniform"), small_birds, indexed_features, index, 64)
    assert uniform.hits < good.hits
    assert uniform.uniform == pytest.approx(good.uniform)  # same pairs, same baseline
