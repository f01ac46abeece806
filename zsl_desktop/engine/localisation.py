"""Does a method look at the right place? Attention peaks against annotated part locations.

For each test image and each attribute group tied to a body part (crown
colour -> crown, bill shape -> beak, tail shape -> tail, ...), take the
attribute of that group the image's class has most, find the peak of its
attention map, and count a hit when the peak lies within ``radius`` (a
fraction of the centre-cropped image side the backbone saw) of a visible
annotated location of that part. Two baselines use the same images:

- ``uniform``: uniform attention has no peak; a uniformly random point in
  the crop hits with probability area(disc within the crop) -- computed on a
  fine grid, so the figure is exact up to the grid, not a random draw;
- ``centre``: the crop centre as the peak (birds are usually centred, so
  this baseline is the harder one to beat).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zsl_desktop.engine.images import ImageFileError, image_size

RADIUS = 0.15  # of the crop side: about one cell of a 7x7 grid

# Attribute group -> CUB part names it describes (CUB's 28 groups and the built-in birds' groups).
GROUP_PARTS = {
    "bill_shape": ("beak",),
    "bill_length": ("beak",),
    "bill_color": ("beak",),
    "crown_color": ("crown",),
    "forehead_color": ("forehead",),
    "nape_color": ("nape",),
    "eye_color": ("left eye", "right eye"),
    "eye_ring": ("left eye", "right eye"),
    "throat_color": ("throat",),
    "breast_color": ("breast",),
    "breast_pattern": ("breast",),
    "belly_color": ("belly",),
    "belly_pattern": ("belly",),
    "back_color": ("back",),
    "back_pattern": ("back",),
    "wing_color": ("left wing", "right wing"),
    "wing_pattern": ("left wing", "right wing"),
    "wing_shape": ("left wing", "right wing"),
    "tail_shape": ("tail",),
    "tail_pattern": ("tail",),
    "upper_tail_color": ("tail",),
    "under_tail_color": ("tail",),
    "leg_color": ("left leg", "right leg"),
    "leg_length": ("left leg", "right leg"),
}


@dataclass(frozen=True)
class LocalisationScore:
    hits: float  # fraction of (image, group) pairs where the attention peak hit the part
    uniform: float  # the uniform-attention baseline on the same pairs
    centre: float  # the crop-centre baseline on the same pairs
    pairs: int
    images: int
    per_group: dict  # group -> (hit rate, pairs)
    radius: float = RADIUS
    skipped: int = 0  # images whose file could not be read

    def format(self) -> str:
        return (
            f"attention peak on the part: {100 * self.hits:.1f}% of {self.pairs} (image, part) pairs "
            f"over {self.images} images (uniform attention {100 * self.uniform:.1f}%, "
            f"crop centre {100 * self.centre:.1f}%; radius {self.radius:.2f} of the crop side)"
            + (f"; {self.skipped} unreadable images skipped" if self.skipped else "")
        )


def crop_coordinates(points: np.ndarray, image_size: tuple, input_size: int) -> np.ndarray:
    """Image pixel (x, y) -> [0, 1] coordinates in the resize-shorter-side + centre crop of preprocess()."""
    w, h = image_size
    scale = input_size / min(w, h)
    nw, nh = max(input_size, round(w * scale)), max(input_size, round(h * scale))
    left, top = (nw - input_size) // 2, (nh - input_size) // 2
    out = np.asarray(points, np.float64).copy()
    out[..., 0] = (out[..., 0] * scale - left) / input_size
    out[..., 1] = (out[..., 1] * scale - top) / input_size
    return out


def peak_location(attention_map: np.ndarray, upsample: int = 8) -> tuple[float, float]:
    """(x, y) in [0, 1] of the maximum of a bilinearly upsampled grid map."""
    from zsl_desktop.engine.attention import upsample_attention  # torch: not at the app's start-up (issue #19)

    h, w = attention_map.shape
    fine = upsample_attention(attention_map, (h * upsample, w * upsample))
    y, x = np.unravel_index(int(np.argmax(fine)), fine.shape)
    return (x + 0.5) / fine.shape[1], (y + 0.5) / fine.shape[0]


def disc_area_in_unit_square(points: np.ndarray, radius: float, grid: int = 64) -> float:
    """Mean over ``points`` of the share of the unit square within ``radius`` of the nearest point."""
    axis = (np.arange(grid) + 0.5) / grid
    gx, gy = np.meshgrid(axis, axis)
    cells = np.stack([gx.ravel(), gy.ravel()], 1)
    d = np.linalg.norm(cells[:, None, :] - points[None, :, :], axis=2).min(axis=1)
    return float(np.mean(d <= radius))


def localisation_score(
    method, dataset, features, index, input_size: int, radius: float = RADIUS, max_images: int | None = None
) -> LocalisationScore:
    """Score ``method.explain`` attention on images ``index`` of a dataset with part annotations."""
    if dataset.part_locations is None or dataset.part_names is None:
        raise ValueError(f"{dataset.name} has no part annotations")
    part_id = {name: i for i, name in enumerate(dataset.part_names)}
    groups = dataset.attribute_groups()
    scored = {g: [part_id[p] for p in parts if p in part_id] for g, parts in GROUP_PARTS.items() if g in groups}
    scored = {g: ids for g, ids in scored.items() if ids}
    index = np.asarray(index)[:max_images]
    per_group: dict[str, list] = {g: [] for g in scored}
    hits, uniform, centre, images = [], [], [], 0
    skipped = 0
    for row in index:
        try:
            size = image_size(dataset.image_path(int(row)))
        except ImageFileError:  # unreadable image: skipped, like its zero row in the feature store
            skipped += 1
            continue
        parts = crop_coordinates(dataset.part_locations[row, :, :2], size, input_size)
        visible = dataset.part_locations[row, :, 2] > 0
        inside = visible & np.all((parts >= 0) & (parts <= 1), axis=1)
        explanation = method.explain(features.rows("grid", [row])[0])
        class_values = dataset.class_attributes[dataset.labels[row]]
        used = False
        for group, ids in scored.items():
            ids = [i for i in ids if inside[i]]
            if not ids:
                continue
            attribute = groups[group][int(np.argmax(class_values[groups[group]]))]
            peak = np.array(peak_location(explanation.attention[attribute]))
            targets = parts[ids]
            hit = float(np.linalg.norm(targets - peak, axis=1).min() <= radius)
            hits.append(hit)
            per_group[group].append(hit)
            uniform.append(disc_area_in_unit_square(targets, radius))
            centre.append(float(np.linalg.norm(targets - 0.5, axis=1).min() <= radius))
            used = True
        images += used

    def mean(xs):
        return float(np.mean(xs)) if xs else 0.0

    return LocalisationScore(
        hits=mean(hits),
        uniform=mean(uniform),
        centre=mean(centre),
        pairs=len(hits),
        images=images,
        skipped=skipped,
        per_group={g: (mean(v), len(v)) for g, v in per_group.items() if v},
        radius=radius,
    )
