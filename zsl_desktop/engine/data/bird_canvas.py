"""The canvas one bird is drawn on: drawing steps recorded in the bird's frame, painted once placed.

Why apart from ``bird_drawing``: recording polygons and lines (to learn the bird's extent before it is
placed) and painting them at 2x on the image and on the optional region map is one job; what to draw is
``bird_drawing``'s.
"""

from __future__ import annotations

import numpy as np
from PIL import ImageDraw

from .bird_geometry import ellipse_points, rotate


class BirdCanvas:
    """Records the bird's drawing operations in image pixels, relative to the bird's centre.

    The bird is laid out once (to learn its extent and place it in the frame) and then
    painted at its final position, on the 2x image and, when asked, on a region map.
    """

    def __init__(self, unit, angle, flip):
        self.unit, self.angle, self.flip = unit, angle, flip
        self.ops = []
        self.points = []  # everything that counts for the bounding box

    def to_image(self, pts):
        pts = np.array(pts, dtype=np.float64).reshape(-1, 2)
        if self.flip:
            pts[:, 0] = -pts[:, 0]
        return rotate(pts, self.angle) * self.unit

    def _add(self, kind, pts, track, *args):
        img = self.to_image(pts)
        if track:
            self.points.append(img)
        self.ops.append((kind, img, *args))

    def poly(self, pts, fill, region, outline=None):
        self._add("poly", pts, True, fill, region, outline)

    def shade(self, pts, rgba):
        """A translucent overlay (shadow or highlight) that is not a region of its own."""
        self._add("shade", pts, False, rgba)

    def outline(self, pts, color):
        self._add("outline", pts, False, color)

    def line(self, pts, fill, width_units, region=None, track=True):
        self._add("line", pts, track, fill, width_units * self.unit, region)

    def dots(self, centers, radius, fill):
        for c in centers:
            self.poly(ellipse_points(c[0], c[1], radius, radius, n=12), fill, None)

    def paint(self, image, labels, offset, ss):
        draw, blend = ImageDraw.Draw(image), ImageDraw.Draw(image, "RGBA")
        ldraw = ImageDraw.Draw(labels) if labels is not None else None
        stroke = max(1, int(round(0.03 * self.unit * ss)))
        for kind, pts, *args in self.ops:
            xy = ((pts + offset) * ss).ravel().tolist()
            if kind == "poly":
                fill, region, outline = args
                draw.polygon(xy, fill=fill, outline=outline, width=stroke if outline else 0)
                if ldraw is not None and region is not None:
                    ldraw.polygon(xy, fill=region)
            elif kind == "shade":
                blend.polygon(xy, fill=args[0])
            elif kind == "outline":
                draw.polygon(xy, outline=args[0], width=stroke)
            else:
                fill, width, region = args
                w = max(1, int(round(width * ss)))
                draw.line(xy, fill=fill, width=w, joint="curve")
                if ldraw is not None and region is not None:
                    ldraw.line(xy, fill=region, width=w, joint="curve")
