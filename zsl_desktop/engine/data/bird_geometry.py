"""Polygon helpers of the procedural birds, in the bird's local frame (x forward, y down)."""

from __future__ import annotations

import math

import numpy as np


def rotate(pts, deg):
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    pts = np.asarray(pts, dtype=np.float64)
    return pts @ np.array([[c, s], [-s, c]])


def ellipse_points(cx, cy, rx, ry, rot=0.0, t0=0.0, t1=360.0, n=40):
    """Points of an ellipse (or of the arc t0..t1, which a polygon closes into a segment)."""
    t = np.radians(np.linspace(t0, t1, n, endpoint=(t1 - t0) < 360))
    pts = np.stack([rx * np.cos(t), ry * np.sin(t)], axis=1)
    return rotate(pts, rot) + (cx, cy)


def centroid(poly):
    x, y = poly[:, 0], poly[:, 1]
    x1, y1 = np.roll(x, -1), np.roll(y, -1)
    cross = x * y1 - x1 * y
    area = cross.sum() / 2
    return np.array([((x + x1) * cross).sum() / (6 * area), ((y + y1) * cross).sum() / (6 * area)])


def inside_polygon(poly, pts):
    """Even-odd point-in-polygon test, vectorised over pts."""
    pts = np.atleast_2d(pts)
    x, y = pts[:, 0:1], pts[:, 1:2]
    x0, y0 = poly[:, 0], poly[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    crosses = ((y0 > y) != (y1 > y)) & (x < (x1 - x0) * (y - y0) / (y1 - y0 + 1e-12) + x0)
    return crosses.sum(axis=1) % 2 == 1


def sample_inside(rng, poly, n, margin):
    """Up to n points inside poly, each at least ~margin from its edge (rejection sampling)."""
    lo, hi = poly.min(axis=0), poly.max(axis=0)
    cand = rng.uniform(lo, hi, size=(n * 4, 2))
    cand = cand[inside_polygon(poly, cand)]
    shifted = (cand[None] + np.array([[margin, 0], [-margin, 0], [0, margin], [0, -margin]])[:, None]).reshape(-1, 2)
    ok = inside_polygon(poly, shifted).reshape(4, -1).all(axis=0)
    return cand[ok][:n]
