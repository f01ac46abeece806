"""Draw one cartoon bird, fully controlled by CUB-style attribute values (Pillow only).

The bird is built from polygons in a bird-local frame (x forward, y down, body
half-length 1) and mapped to the image by one affine transform (scale, rotation,
horizontal flip, shift). Part locations go through the same transform, so they
are exact: the crown point lies on the drawn crown, the beak point on the bill.
Drawing happens at twice the output size and is reduced, which anti-aliases
the edges that ``ImageDraw`` leaves jagged.

The drawing of one bird, part by part, is one sequence of steps. Beside it: what a bird can be (the
attribute groups and CUB's parts, ``bird_attributes``), the canvas that records and paints the steps
(``bird_canvas``), geometry (``bird_geometry``) and scenery (``bird_scenery``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np
from PIL import Image, ImageDraw

from .bird_attributes import PART_NAMES
from .bird_canvas import BirdCanvas
from .bird_geometry import centroid, ellipse_points, inside_polygon, rotate, sample_inside
from .bird_scenery import draw_background, draw_foreground, leaf_polygon

PALETTE = {
    "red": (205, 35, 40),
    "orange": (240, 135, 25),
    "yellow": (245, 215, 45),
    "blue": (40, 85, 210),
    "brown": (120, 72, 38),
    "grey": (140, 140, 145),
    "black": (28, 28, 30),
    "white": (242, 242, 238),
}

# Region ids of the optional label map (tests check each part lands on its region).
REGIONS = {
    "background": 0,
    "body": 1,
    "belly": 2,
    "breast": 3,
    "wing": 4,
    "tail": 5,
    "head": 6,
    "crown": 7,
    "throat": 8,
    "eye": 9,
    "bill": 10,
    "leg": 11,
    "occluder": 12,
}

_SIZE_FRACTION = {"small": 0.50, "medium": 0.65, "large": 0.80}  # bird width / image width
_BIRD_WIDTH_UNITS = 4.3  # tail tip to bill tip, roughly, in bird units
_BODY_TILT = -18.0  # degrees; the front of the body is raised
_HEAD = np.array([0.98, -0.76])
_HEAD_R = 0.47
_LEG_COLOR = (110, 92, 80)


@dataclass
class BirdImage:
    """One rendered bird: the RGB image, the 15 parts [15, 3] (x, y, visible), the box (x, y, w, h)."""

    image: Image.Image
    parts: np.ndarray
    bbox: tuple[float, float, float, float]
    labels: Image.Image | None = None  # region ids at 2x scale, only when asked for
    label_scale: int = 2


def _mix(c, other, t):
    return tuple(int(round(a + (b - a) * t)) for a, b in zip(c, other))


def _contrast(c):
    """A pattern colour that reads on c: darker on light colours, lighter on dark ones."""
    lum = 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]
    return _mix(c, (0, 0, 0), 0.62) if lum > 100 else _mix(c, (255, 255, 255), 0.62)


def _jitter(rng, c, gain):
    delta = rng.integers(-9, 10, size=3)
    return tuple(int(v) for v in np.clip(np.array(c) * gain + delta, 0, 255))


# -- the bird's parts ----------------------------------------------------------------------
def _bill(shape, long):
    """Bill polygon in head-relative units (base at x=0, pointing +x) and the beak point."""
    r = _HEAD_R
    if shape == "cone":  # short, deep, seed-cracking
        L, h = (0.95 if long else 0.55) * r, 0.4 * r
        pts = [(0, -h), (0.5 * L, -0.55 * h), (L, 0.04 * h), (0.5 * L, 0.62 * h), (0, h)]
    elif shape == "dagger":  # straight, slim, sharp
        L, h = (1.55 if long else 0.9) * r, 0.2 * r
        pts = [(0, -h), (L, 0.05 * r), (0, h)]
    elif shape == "hooked":  # deep base, upper mandible curls down past the lower one
        L, h = (1.0 if long else 0.62) * r, 0.32 * r
        pts = [
            (0, -h),
            (0.5 * L, -0.85 * h),
            (0.85 * L, -0.45 * h),
            (L, 0.1 * h),
            (0.98 * L, 0.85 * h),
            (0.88 * L, 1.05 * h),
            (0.84 * L, 0.45 * h),
            (0.7 * L, 0.4 * h),
            (0.35 * L, 0.75 * h),
            (0, h),
        ]
    else:  # needle: long, thin, slightly decurved
        L, h = (2.0 if long else 1.15) * r, 0.08 * r
        xs = np.linspace(0, L, 8)
        sag = 0.16 * L * (xs / L) ** 2
        pts = [(x, -h * (1 - 0.8 * x / L) + s) for x, s in zip(xs, sag)]
        pts += [(x, h * (1 - 0.8 * x / L) + s + 0.01 * r) for x, s in zip(xs[::-1], sag[::-1])]
    pts = np.array(pts, dtype=np.float64)
    # The beak point: 40% along the bill, midway between its upper and lower edges.
    x = 0.4 * L
    ys = [np.interp(x, *zip(*sorted(map(tuple, half)))) for half in (pts[: len(pts) // 2 + 1], pts[len(pts) // 2 :])]
    return pts, np.array([x, sum(ys) / 2])


def _tail(shape):
    """Tail polygon in tail units (u along the tail, v across) and its part point."""
    if shape == "forked":
        pts = [(0, -0.17), (1.15, -0.36), (0.98, -0.2), (0.55, 0), (0.98, 0.2), (1.15, 0.36), (0, 0.17)]
        point = (0.4, 0)
    elif shape == "rounded":
        arc = ellipse_points(0.62, 0, 0.3, 0.27, t0=-90, t1=90, n=12)
        pts = [(0, -0.18)] + [tuple(p) for p in arc] + [(0, 0.18)]
        point = (0.5, 0)
    elif shape == "pointed":
        pts = [(0, -0.2), (0.35, -0.2), (1.25, 0), (0.35, 0.2), (0, 0.2)]
        point = (0.5, 0)
    else:  # fan: wide spread, scalloped feather tips
        pts = [(0, -0.15)]
        for i, a in enumerate(np.linspace(-40, 40, 9)):
            rr = 0.88 if i % 2 == 0 else 0.8
            pts.append((rr * math.cos(math.radians(a)), rr * math.sin(math.radians(a)) * 1.05))
        pts.append((0, 0.15))
        point = (0.45, 0)
    return np.array(pts, dtype=np.float64), np.array(point, dtype=np.float64)


def _wing_edges(a=0.84, b=0.36):
    """Wing outline as top(x) / bottom(x) over x in [-a, a] (rear tip pointed, shoulder round)."""
    xs = np.linspace(a, -a, 24)
    base = np.sqrt(np.clip(1 - (xs / a) ** 2, 0, 1)) ** 0.7 * (0.3 + 0.7 * ((xs + a) / (2 * a)) ** 0.5)
    return xs, -0.75 * b * base, b * base


_WING_CENTER = rotate([[-0.24, -0.16]], _BODY_TILT)[0]
_WING_ANGLE = _BODY_TILT + 12


def _wing_local(pts):
    return rotate(pts, _WING_ANGLE) + _WING_CENTER


def _draw_bird(cv: BirdCanvas, attrs: Mapping[str, str], colors: dict, rng):
    """Draws the bird back to front; returns its part points (bird frame) and its two feet.

    Parts are keyed by CUB name, with "near"/"far" for the sided ones (the near side faces
    the viewer; which of left/right that is depends on the flip).
    """
    dark_upper = _mix(colors["wing"], (0, 0, 0), 0.45)
    body = ellipse_points(0, 0, 1.0, 0.62, rot=_BODY_TILT, n=48)
    wing = _WingShape()
    parts = _draw_tail(cv, attrs, colors, dark_upper)  # behind the body
    leg_parts, feet = _draw_legs(cv, attrs, body)  # behind the body: far leg first, then near leg
    parts.update(leg_parts)
    parts.update(_draw_body(cv, attrs, colors, rng, body, wing.outline, dark_upper))
    parts.update(_draw_wing(cv, attrs, colors, rng, wing, dark_upper))  # over the body
    parts.update(_draw_head(cv, attrs, colors, dark_upper))
    return parts, feet


class _WingShape:
    """The wing's outline in the bird frame, and its edges (top(x), bottom(x)) the bars follow."""

    def __init__(self):
        self.xs, self.top, self.bot = _wing_edges()
        xs, top, bot = self.xs, self.top, self.bot
        self.outline = _wing_local(np.concatenate([np.stack([xs, top], 1), np.stack([xs[::-1], bot[::-1]], 1)]))


def _draw_tail(cv: BirdCanvas, attrs, colors: dict, dark_upper) -> dict:
    upper = colors["wing"]
    tail_poly, tail_pt = _tail(attrs["tail_shape"])
    tail_origin = rotate([[-0.88, 0.02]], _BODY_TILT)[0]
    tail_dir = 180 + _BODY_TILT + 24
    tail_col = _mix(upper, (0, 0, 0), 0.15)
    cv.poly(rotate(tail_poly, tail_dir) + tail_origin, tail_col, REGIONS["tail"], outline=dark_upper)
    for v in (-0.08, 0.0, 0.08):
        feather = rotate([[0.1, v], [0.8, v * 2.2]], tail_dir) + tail_origin
        cv.line(feather, _mix(tail_col, (0, 0, 0), 0.3), 0.015, track=False)
    return {"tail": rotate([tail_pt], tail_dir)[0] + tail_origin}


def _draw_legs(cv: BirdCanvas, attrs, body) -> tuple[dict, list]:
    R = REGIONS
    parts = {}
    leg_len = 1.0 if attrs["leg_length"] == "long" else 0.42
    feet = []
    for key, x, col in (("far", -0.12, _mix(_LEG_COLOR, (0, 0, 0), 0.3)), ("near", 0.1, _LEG_COLOR)):
        lower = body[body[:, 1] > 0]
        xs, ys = np.asarray(sorted(map(tuple, lower))).T
        bottom = float(np.interp(x, xs, ys))
        hip = (x, bottom - 0.15)
        foot = (x + 0.05, bottom + leg_len)
        cv.line([hip, foot], col, 0.06, R["leg"])
        for dx, dy in ((0.2, 0.02), (0.16, 0.06), (-0.12, 0.03)):
            cv.line([foot, (foot[0] + dx, foot[1] + dy)], col, 0.04, R["leg"])
        parts[key + " leg"] = np.array(hip) + 0.75 * (np.array(foot) - hip)  # on the tarsus
        feet.append(foot)
    return parts, feet


def _draw_body(cv: BirdCanvas, attrs, colors: dict, rng, body, wing, dark_upper) -> dict:
    """Body, underparts and breast (its pattern only where the wing will not cover it)."""
    R = REGIONS
    upper, under = colors["wing"], colors["breast"]
    cv.poly(body, upper, R["body"])
    belly = ellipse_points(0, 0, 1.0, 0.62, rot=_BODY_TILT, t0=8, t1=175, n=32)
    cv.poly(belly, colors["belly"], R["belly"])
    breast = ellipse_points(0, 0, 1.0, 0.62, rot=_BODY_TILT, t0=-48, t1=80, n=32)
    cv.poly(breast, under, R["breast"])
    pattern = _contrast(under)
    marks = sample_inside(rng, breast, 40, 0.09)
    marks = marks[~inside_polygon(wing, marks)][:11]  # only where the wing will not cover them
    if attrs["breast_pattern"] == "spotted":
        cv.dots(marks, 0.06, pattern)
    elif attrs["breast_pattern"] == "striped":
        for c in marks:
            cv.line([(c[0], c[1] - 0.09), (c[0] - 0.01, c[1] + 0.09)], pattern, 0.04, track=False)
    cv.shade(ellipse_points(0, 0, 1.0, 0.62, rot=_BODY_TILT, t0=35, t1=150, n=24), (0, 0, 0, 40))
    cv.outline(body, dark_upper)
    return {
        "breast": centroid(breast),
        "belly": rotate([[-0.2, 0.44]], _BODY_TILT)[0],
        "back": rotate([[-0.05, -0.52]], _BODY_TILT)[0],
    }


def _draw_wing(cv: BirdCanvas, attrs, colors: dict, rng, shape: _WingShape, dark_upper) -> dict:
    wing, xs, top, bot = shape.outline, shape.xs, shape.top, shape.bot
    wing_col = colors["wing"]
    wmark = _contrast(wing_col)
    cv.poly(wing, _mix(wing_col, (255, 255, 255), 0.06), REGIONS["wing"], outline=dark_upper)
    if attrs["wing_pattern"] == "barred":
        for x0 in (0.32, -0.02, -0.36):
            band = np.linspace(x0, x0 - 0.13, 5)
            t = np.interp(band, xs[::-1], top[::-1]) * 0.92
            b = np.interp(band, xs[::-1], bot[::-1]) * 0.92
            cv.poly(
                _wing_local(np.concatenate([np.stack([band, t], 1), np.stack([band[::-1], b[::-1]], 1)])), wmark, None
            )
    elif attrs["wing_pattern"] == "spotted":
        cv.dots(sample_inside(rng, wing, 8, 0.07), 0.05, wmark)
    for v in (-0.05, 0.06):  # primary feather edges
        cv.line(_wing_local([[-0.35, v], [-0.75, v * 0.4]]), dark_upper, 0.014, track=False)
    return {"near wing": _wing_local([[0.05, 0.02]])[0]}


def _draw_head(cv: BirdCanvas, attrs, colors: dict, dark_upper) -> dict:
    """Neck, skull, throat, crown, eye and bill."""
    R = REGIONS
    parts = {}
    hx, hy, r = _HEAD[0], _HEAD[1], _HEAD_R
    upper = colors["wing"]
    cv.poly(ellipse_points(0.74, -0.44, 0.34, 0.3, rot=-30), upper, R["head"])
    head = ellipse_points(hx, hy, r, r, n=40)
    cv.poly(head, upper, R["head"], outline=dark_upper)
    cv.shade(ellipse_points(hx - 0.1 * r, hy + 0.1 * r, 0.85 * r, 0.85 * r, t0=60, t1=200, n=16), (0, 0, 0, 25))
    throat = ellipse_points(hx, hy, r, r, t0=8, t1=150, n=24)
    cv.poly(throat, colors["throat"], R["throat"])
    cv.poly(ellipse_points(hx - 0.12 * r, hy + 0.95 * r, 0.5 * r, 0.45 * r, rot=-25), colors["throat"], R["throat"])
    crown = ellipse_points(hx, hy, r, r, t0=-165, t1=-28, n=24)
    cv.poly(crown, colors["crown"], R["crown"])
    cv.outline(head, dark_upper)
    parts["throat"] = np.array([hx + 0.1 * r, hy + 0.8 * r])
    parts["crown"] = np.array([hx - 0.08 * r, hy - 0.74 * r])
    parts["forehead"] = np.array([hx + 0.55 * r, hy - 0.6 * r])
    parts["nape"] = np.array([hx - 0.82 * r, hy + 0.05 * r])

    eye = np.array([hx + 0.36 * r, hy - 0.1 * r])
    if attrs["eye_ring"] == "yes":
        cv.poly(
            ellipse_points(eye[0], eye[1], 0.27 * r, 0.27 * r, n=20), (250, 250, 250), R["eye"], outline=(20, 20, 20)
        )
    cv.poly(ellipse_points(eye[0], eye[1], 0.13 * r, 0.13 * r, n=16), (15, 15, 15), R["eye"])
    cv.poly(ellipse_points(eye[0] + 0.04 * r, eye[1] - 0.04 * r, 0.04 * r, 0.04 * r, n=8), (255, 255, 255), None)
    parts["near eye"] = eye

    bill, beak = _bill(attrs["bill_shape"], attrs["bill_length"] == "long")
    base = np.array([hx + 0.9 * r, hy + 0.08 * r])
    bill = rotate(bill, 6) + base
    cv.poly(bill, colors["bill"], R["bill"], outline=_mix(colors["bill"], (0, 0, 0), 0.5))
    parts["beak"] = rotate([beak], 6)[0] + base
    return parts


# -- the public entry point -----------------------------------------------------------------
def render_bird(
    attrs: Mapping[str, str],
    rng: np.random.Generator,
    size: int = 256,
    occluder_probability: float = 0.1,
    with_labels: bool = False,
) -> BirdImage:
    """Render one bird with exactly the given attribute values (one per group in ``bird_attributes.GROUPS``).

    Pose, position, colour shades, background details and the occasional occluding
    leaf come from ``rng``; the attributes themselves are never changed here.
    """
    ss = 2
    gain = rng.uniform(0.9, 1.08)
    colors = {g: _jitter(rng, PALETTE[attrs[g + "_color"]], gain) for g in ("crown", "throat", "breast", "wing")}
    colors["belly"] = _mix(colors["breast"], (255, 255, 255), 0.35)
    lum = sum(colors["wing"]) / 3
    colors["bill"] = (214, 190, 140) if lum < 90 else (55, 48, 42)

    unit = size * _SIZE_FRACTION[attrs["size"]] * rng.uniform(0.93, 1.07) / _BIRD_WIDTH_UNITS
    angle = rng.uniform(-10, 10)
    flip = bool(rng.random() < 0.5)

    # Lay the bird out once around the origin to learn its extent, then place it in the frame.
    layout = BirdCanvas(unit, angle, flip)
    parts_local, feet_local = _draw_bird(layout, attrs, colors, rng)
    pts = np.concatenate(layout.points)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    margin = 0.03 * size
    cx = rng.uniform(margin - lo[0], max(margin - lo[0], size - margin - hi[0]) + 1e-9)
    cy = rng.uniform(margin - lo[1], max(margin - lo[1], size - 0.08 * size - hi[1]) + 1e-9)
    center = np.array([cx, cy])
    feet = [tuple(layout.to_image([f])[0] + center) for f in feet_local]
    bbox_pts = pts + center

    image, ground = draw_background(rng, attrs["habitat"], size, ss, feet)
    labels = Image.new("L", image.size, 0) if with_labels else None
    layout.paint(image, labels, center, ss)
    draw = ImageDraw.Draw(image)
    draw_foreground(draw, rng, attrs["habitat"], size, ss, feet, ground)

    occluder = None
    if rng.random() < occluder_probability:
        b_lo, b_hi = bbox_pts.min(axis=0), bbox_pts.max(axis=0)
        c = rng.uniform(b_lo, b_hi)
        occluder = leaf_polygon(rng, c, rng.uniform(0.14, 0.26) * size, rng.uniform(0, 180))
        green = (int(rng.integers(50, 90)), int(rng.integers(120, 165)), int(rng.integers(35, 60)))
        draw.polygon((occluder * ss).ravel().tolist(), fill=green, outline=(30, 80, 25), width=max(1, ss))
        ends = np.array([occluder[0], occluder[11]]) * ss  # the midrib
        draw.line(ends.ravel().tolist(), fill=(40, 95, 30), width=max(1, ss))
        if labels is not None:
            ImageDraw.Draw(labels).polygon((occluder * ss).ravel().tolist(), fill=REGIONS["occluder"])

    # Parts: a bird looking right (unflipped) shows the viewer its right side; the flip
    # swaps sides. The far eye and wing are hidden by the head and body; both legs show.
    out = np.zeros((len(PART_NAMES), 3), dtype=np.float64)
    near = "left" if flip else "right"
    for i, name in enumerate(PART_NAMES):
        key = name
        if name.startswith(("left ", "right ")):
            side, what = name.split(" ", 1)
            key = ("near " if side == near else "far ") + what
            if key not in parts_local:  # far eye, far wing
                continue
        x, y = layout.to_image([parts_local[key]])[0] + center
        if not (0 <= x < size and 0 <= y < size):
            continue
        if occluder is not None and inside_polygon(occluder, [(x, y)])[0]:
            continue
        out[i] = (x, y, 1)

    # finish: reduce to the output size (anti-aliasing) and add fine sensor noise
    small = image.reduce(ss)
    arr = np.asarray(small, dtype=np.int16)
    noise = rng.integers(-5, 6, size=arr.shape, dtype=np.int16)
    arr = np.clip(arr + noise, 0, 255).astype(np.uint8)
    lo_b, hi_b = np.clip(bbox_pts.min(axis=0), 0, size), np.clip(bbox_pts.max(axis=0), 0, size)
    bbox = (float(lo_b[0]), float(lo_b[1]), float(hi_b[0] - lo_b[0]), float(hi_b[1] - lo_b[1]))
    return BirdImage(Image.fromarray(arr), out, bbox, labels, ss)
