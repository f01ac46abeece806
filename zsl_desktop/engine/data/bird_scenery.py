"""The habitats behind and in front of a procedural bird: sky, ground, clouds, leaves (Pillow only)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from .bird_geometry import rotate


def _smooth(rng, size, top, bottom, cells, amp):
    """A vertical gradient with soft blotches, at low resolution (it is smooth anyway)."""
    low = max(16, size // 4)
    y = np.linspace(0, 1, low)[:, None, None]
    img = np.array(top, float) * (1 - y) + np.array(bottom, float) * y
    blotch = Image.fromarray(rng.integers(0, 256, (cells, cells), dtype=np.uint8)).resize((low, low), Image.BICUBIC)
    img = img + (np.asarray(blotch, dtype=np.float64)[:, :, None] - 128) / 128 * amp
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def _cloud(draw, rng, cx, cy, w, ss):
    for _ in range(5):
        dx, dy = rng.uniform(-0.45, 0.45) * w, rng.uniform(-0.12, 0.1) * w
        rx, ry = rng.uniform(0.22, 0.38) * w, rng.uniform(0.14, 0.24) * w
        shade = int(rng.integers(236, 252))
        draw.ellipse(
            [(cx + dx - rx) * ss, (cy + dy - ry) * ss, (cx + dx + rx) * ss, (cy + dy + ry) * ss],
            fill=(shade, shade, min(255, shade + 4)),
        )


def draw_background(rng, habitat, size, ss, feet):
    """The habitat the bird stands in, as a 2x RGB image; returns (image, foreground-painter)."""
    ground = max(f[1] for f in feet)
    full = (size * ss, size * ss)
    if habitat == "branch":
        img = _smooth(rng, size, (70, 110, 75), (135, 170, 120), 5, 28).resize(full, Image.BILINEAR)
    else:
        top = tuple(int(v) for v in np.array((60, 120, 205)) + rng.integers(-15, 16, 3))
        img = _smooth(rng, size, top, (190, 218, 240), 4, 8).resize(full, Image.BILINEAR)
    if habitat == "grass":
        g0 = int(max(ground - size * 0.12, size * 0.35))
        land = _smooth(rng, size, (120, 175, 70), (55, 115, 35), 12, 14).resize(full, Image.BILINEAR)
        img.paste(land.crop((0, g0 * ss, *full)), (0, g0 * ss))
    elif habitat == "water":
        horizon = int(min(max(ground - size * 0.3, size * 0.25), size * 0.7))
        sea = _smooth(rng, size, (70, 130, 185), (20, 65, 125), 10, 10).resize(full, Image.BILINEAR)
        img.paste(sea.crop((0, horizon * ss, *full)), (0, horizon * ss))
    draw = ImageDraw.Draw(img)
    s = ss
    if habitat == "sky":
        for _ in range(int(rng.integers(2, 5))):
            _cloud(draw, rng, rng.uniform(0, size), rng.uniform(0.05, 0.95) * size, rng.uniform(0.2, 0.4) * size, s)
    elif habitat == "grass":
        n = int(60 * (size / 128) ** 1.3) + 30
        for _ in range(n):
            x, yb = rng.uniform(0, size), rng.uniform(g0 - 2, size + 4)
            h = rng.uniform(0.03, 0.09) * size
            col = (int(rng.integers(40, 110)), int(rng.integers(110, 185)), int(rng.integers(25, 70)))
            draw.line(
                [x * s, yb * s, (x + rng.uniform(-0.3, 0.3) * h) * s, (yb - h) * s],
                fill=col,
                width=max(1, int(size * s / 180)),
            )
    elif habitat == "water":
        for _ in range(int(26 * size / 128)):
            x, yw = rng.uniform(-10, size), rng.uniform(horizon + 2, size)
            w = rng.uniform(0.05, 0.12) * size * (0.5 + (yw - horizon) / size)
            draw.arc(
                [x * s, yw * s, (x + w) * s, (yw + w * 0.3) * s],
                200,
                340,
                fill=(175, 210, 235),
                width=max(1, int(size * s / 200)),
            )
        # a rock for the bird to stand on
        cx, w = (feet[0][0] + feet[1][0]) / 2, abs(feet[0][0] - feet[1][0]) + 0.12 * size
        draw.ellipse(
            [(cx - w) * s, (ground - 0.01 * size) * s, (cx + w) * s, (ground + 0.12 * size) * s],
            fill=(105, 100, 95),
            outline=(60, 58, 55),
            width=max(1, s),
        )
    elif habitat == "branch":
        for _ in range(10):  # out-of-focus foliage
            cx, cy, rr = rng.uniform(0, size), rng.uniform(0, size), rng.uniform(0.06, 0.16) * size
            g = int(rng.integers(90, 160))
            draw.ellipse(
                [(cx - rr) * s, (cy - rr * 0.6) * s, (cx + rr) * s, (cy + rr * 0.6) * s],
                fill=(int(g * 0.55), g, int(g * 0.5)),
            )
    return img, ground


def draw_foreground(draw, rng, habitat, size, ss, feet, ground):
    """What sits in front of the feet: the perch branch, grass blades over the toes."""
    s = ss
    if habitat == "branch":
        slope = rng.uniform(-0.15, 0.15)
        thick = rng.uniform(0.035, 0.055) * size
        cx = (feet[0][0] + feet[1][0]) / 2
        y0 = ground + thick * 0.45 + slope * (0 - cx)
        y1 = ground + thick * 0.45 + slope * (size - cx)
        draw.line([-5 * s, y0 * s, (size + 5) * s, y1 * s], fill=(98, 68, 42), width=int(thick * s))
        draw.line(
            [-5 * s, (y0 - thick * 0.25) * s, (size + 5) * s, (y1 - thick * 0.25) * s],
            fill=(128, 92, 60),
            width=max(1, int(thick * s * 0.2)),
        )
        tx = rng.uniform(0.05, 0.3) * size if rng.random() < 0.5 else rng.uniform(0.7, 0.95) * size
        ty = y0 + (y1 - y0) * tx / size
        draw.line(
            [tx * s, ty * s, (tx + 0.08 * size) * s, (ty + 0.1 * size) * s],
            fill=(98, 68, 42),
            width=max(1, int(thick * s * 0.4)),
        )
    elif habitat == "grass":
        for f in feet:
            for _ in range(4):
                x = f[0] + rng.uniform(-0.06, 0.06) * size
                h = rng.uniform(0.02, 0.05) * size
                draw.line(
                    [x * s, (f[1] + 0.01 * size) * s, (x + rng.uniform(-0.4, 0.4) * h) * s, (f[1] - h) * s],
                    fill=(60, 140, 40),
                    width=max(1, int(size * s / 200)),
                )


def leaf_polygon(rng, center, length, angle):
    """A foreground leaf polygon (an occluder), in image px."""
    t = np.linspace(0, 1, 12)
    w = 0.28 * length * np.sin(np.pi * t)
    x = (t - 0.5) * length
    pts = np.concatenate([np.stack([x, -w], 1), np.stack([x[::-1], w[::-1]], 1)])
    return rotate(pts, angle) + center
