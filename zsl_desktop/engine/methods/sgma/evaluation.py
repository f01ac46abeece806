"""Do SGMA's discovered parts land on real bird parts? Scores against part annotations.

Two figures on images with annotated part locations (CUB and the built-in birds):

(a) Attention peaks. Each part map's peak (bilinearly upsampled, as in
    ``localisation.peak_location``) is a hit when it lies within ``radius`` of
    any visible annotated part of the bird. Baselines on the same images: a
    uniformly random point (exact area of the discs inside the view) and the
    view centre. Also: for each map, how often each named part is the one
    nearest its peak (which part it "found"), and the head/tail hit rates.
(b) Crops against the head (beak, crown, forehead, eyes, nape, throat) and the
    tail. Per image and region, the best of the P crops: the share of the
    region's visible keypoints inside it (coverage) and its IoU with the
    region's box (the keypoints' bounding box padded by ``pad``). The baseline
    draws ``draws`` sets of random crops of the SAME sides (uniform positions
    inside the view, seeded) and averages the same figures.

Coordinates: [0, 1] of the square view the backbone saw (``localisation.crop_coordinates``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from zsl_desktop.engine.images import ImageFileError, image_size
from zsl_desktop.engine.localisation import RADIUS, disc_area_in_unit_square, crop_coordinates, peak_location

HEAD_PARTS = ("beak", "crown", "forehead", "left eye", "right eye", "nape", "throat")
TAIL_PARTS = ("tail",)
PAD = 0.05  # of the view side, around a region's keypoints


@dataclass(frozen=True)
class PartLocalisation:
    peak_hits: float  # share of (image, map) pairs whose peak is within radius of a visible part
    peak_uniform: float
    peak_centre: float
    head_peak_hits: float  # share of images where some map's peak is within radius of a head keypoint
    head_peak_uniform: float  # the same with as many uniformly random points as maps
    tail_peak_hits: float
    tail_peak_uniform: float
    head_coverage: float  # mean over images of the best crop's share of head keypoints inside it
    head_coverage_random: float
    head_iou: float
    head_iou_random: float
    tail_coverage: float
    tail_coverage_random: float
    tail_iou: float
    tail_iou_random: float
    mean_side: float  # mean crop side, of the view
    images: int
    head_images: int
    tail_images: int
    nearest: dict = field(default_factory=dict)  # map i -> {part name: share of its peaks nearest that part}
    radius: float = RADIUS
    skipped: int = 0  # images whose file could not be read

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def format(self) -> str:
        def pct(v):
            return f"{100 * v:.1f}%"

        top = "; ".join(
            f"map {i + 1}: " + ", ".join(f"{name} {pct(v)}" for name, v in list(parts.items())[:3])
            for i, parts in self.nearest.items()
        )
        return "\n".join(
            [
                f"part-map peaks on the bird's parts: {pct(self.peak_hits)} of {self.images} images x maps "
                f"(uniform {pct(self.peak_uniform)}, centre {pct(self.peak_centre)}; radius {self.radius:.2f})",
                f"  some peak on the head: {pct(self.head_peak_hits)} "
                f"(as many uniform points {pct(self.head_peak_uniform)}); "
                f"on the tail: {pct(self.tail_peak_hits)} (uniform {pct(self.tail_peak_uniform)})",
                f"  nearest part to each map's peak: {top}",
                f"crops (mean side {self.mean_side:.2f} of the view) vs random crops of the same sides:",
                f"  head ({self.head_images} images): keypoints covered {pct(self.head_coverage)} vs "
                f"{pct(self.head_coverage_random)}, IoU {self.head_iou:.3f} vs {self.head_iou_random:.3f}",
                f"  tail ({self.tail_images} images): keypoint covered {pct(self.tail_coverage)} vs "
                f"{pct(self.tail_coverage_random)}, IoU {self.tail_iou:.3f} vs {self.tail_iou_random:.3f}",
            ]
        )


def region_box(points: np.ndarray, pad: float = PAD) -> np.ndarray:
    """Bounding box [4] of keypoints [n, 2], padded by ``pad`` on every side and clipped to [0, 1]."""
    lo = np.clip(points.min(0) - pad, 0, 1)
    hi = np.clip(points.max(0) + pad, 0, 1)
    return np.array([lo[0], lo[1], hi[0], hi[1]])


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes [..., 4] with boxes [..., 4] (broadcast)."""
    ix = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    iy = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = ix * iy

    def area(x):
        return (x[..., 2] - x[..., 0]) * (x[..., 3] - x[..., 1])

    return inter / np.maximum(area(a) + area(b) - inter, 1e-12)


def coverage(boxes: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Share of ``points`` [n, 2] inside each box [..., 4]."""
    x, y = points[:, 0], points[:, 1]
    inside = (x >= boxes[..., 0:1]) & (x <= boxes[..., 2:3]) & (y >= boxes[..., 1:2]) & (y <= boxes[..., 3:4])
    return inside.mean(-1)


def random_boxes(sides: np.ndarray, draws: int, rng: np.random.Generator) -> np.ndarray:
    """[draws, P, 4] squares with the given sides [P], uniformly placed inside [0, 1]."""
    sides = np.asarray(sides, np.float64)
    u = rng.random((draws, len(sides), 2))
    x0 = u[..., 0] * (1 - sides)
    y0 = u[..., 1] * (1 - sides)
    return np.stack([x0, y0, x0 + sides, y0 + sides], -1)


def part_localisation(
    method,
    dataset,
    features,
    index,
    input_size: int,
    radius: float = RADIUS,
    draws: int = 20,
    seed: int = 0,
    max_images: int | None = None,
) -> PartLocalisation:
    """Score an SGMA model's part maps and crops on images ``index`` of a dataset with part annotations."""
    if dataset.part_locations is None or dataset.part_names is None:
        raise ValueError(f"{dataset.name} has no part annotations")
    names = list(dataset.part_names)
    head_ids = [names.index(p) for p in HEAD_PARTS if p in names]
    tail_ids = [names.index(p) for p in TAIL_PARTS if p in names]
    rng = np.random.default_rng(seed)
    index = np.asarray(index)[:max_images]
    peak, uniform, centre = [], [], []
    head_peak, head_peak_u, tail_peak, tail_peak_u = [], [], [], []
    cov = {"head": [], "tail": []}
    cov_r = {"head": [], "tail": []}
    iou = {"head": [], "tail": []}
    iou_r = {"head": [], "tail": []}
    nearest: dict[int, dict[str, int]] = {}
    sides, images, skipped = [], 0, 0
    for row in index:
        try:
            size = image_size(dataset.image_path(int(row)))
        except ImageFileError:  # unreadable image: skipped, like its zero row in the feature store
            skipped += 1
            continue
        pts = crop_coordinates(dataset.part_locations[row, :, :2], size, input_size)
        visible = (dataset.part_locations[row, :, 2] > 0) & np.all((pts >= 0) & (pts <= 1), axis=1)
        if not visible.any():
            continue
        images += 1
        e = method.explain(features.rows("grid", [row])[0])
        boxes = np.asarray(e.part_boxes, np.float64)
        sides.extend((boxes[:, 2] - boxes[:, 0]).tolist())
        peaks = np.array([peak_location(m) for m in e.part_attention])  # [P, 2]
        targets = pts[visible]
        d = np.linalg.norm(peaks[:, None] - targets[None], axis=2)  # [P, visible]
        peak.extend((d.min(1) <= radius).astype(float).tolist())
        area = disc_area_in_unit_square(targets, radius)
        uniform.extend([area] * len(peaks))
        centre.extend([float(np.linalg.norm(targets - 0.5, axis=1).min() <= radius)] * len(peaks))
        visible_names = [names[i] for i in np.flatnonzero(visible)]
        for i in range(len(peaks)):
            name = visible_names[int(d[i].argmin())]
            nearest.setdefault(i, {})
            nearest[i][name] = nearest[i].get(name, 0) + 1
        random = random_boxes(boxes[:, 2] - boxes[:, 0], draws, rng)  # [draws, P, 4]
        for region, ids, peak_list, peak_u in (
            ("head", head_ids, head_peak, head_peak_u),
            ("tail", tail_ids, tail_peak, tail_peak_u),
        ):
            ids = [i for i in ids if visible[i]]
            if not ids:
                continue
            points = pts[ids]
            dist = np.linalg.norm(peaks[:, None] - points[None], axis=2)
            peak_list.append(float(dist.min() <= radius))
            a = disc_area_in_unit_square(points, radius)
            peak_u.append(1 - (1 - a) ** len(peaks))
            target = region_box(points)
            cov[region].append(float(coverage(boxes, points).max()))
            cov_r[region].append(float(coverage(random, points).max(1).mean()))
            iou[region].append(float(box_iou(boxes, target).max()))
            iou_r[region].append(float(box_iou(random, target).max(1).mean()))

    def mean(xs):
        return float(np.mean(xs)) if len(xs) else 0.0

    shares = {
        i: dict(sorted(((k, v / max(images, 1)) for k, v in counts.items()), key=lambda kv: -kv[1]))
        for i, counts in sorted(nearest.items())
    }
    return PartLocalisation(
        peak_hits=mean(peak),
        peak_uniform=mean(uniform),
        peak_centre=mean(centre),
        head_peak_hits=mean(head_peak),
        head_peak_uniform=mean(head_peak_u),
        tail_peak_hits=mean(tail_peak),
        tail_peak_uniform=mean(tail_peak_u),
        head_coverage=mean(cov["head"]),
        head_coverage_random=mean(cov_r["head"]),
        head_iou=mean(iou["head"]),
        head_iou_random=mean(iou_r["head"]),
        tail_coverage=mean(cov["tail"]),
        tail_coverage_random=mean(cov_r["tail"]),
        tail_iou=mean(iou["tail"]),
        tail_iou_random=mean(iou_r["tail"]),
        mean_side=mean(sides),
        images=images,
        skipped=skipped,
        head_images=len(cov["head"]),
        tail_images=len(cov["tail"]),
        nearest=shares,
        radius=radius,
    )
