"""What SGMA shows of one image: its part boxes, and ``explain``'s part maps, boxes, crops and per-stream scores.

Why apart from ``method.py``: the app's picture of one image (with several final models: the newest model's
maps and boxes, the mean code's scores) is one job, read when the image view changes; the method's codes for
every image stay in ``method.py``. ``SGMAExplaining`` is a mixin of ``method.SGMA`` and expects from it
``info``, ``_net``, ``_hp``, ``_members``, ``_grid``, ``_attend``, ``_streams``, ``_raw_code``, ``_mean_code``
and ``_centred``.
"""

from __future__ import annotations

import numpy as np
import torch

from ..base import Explanation
from .crops import crop_images, encode_crops
from .parts import CROP, attribute_maps, to_corners


class SGMAExplaining:
    """``boxes`` and ``explain``."""

    @torch.no_grad()
    def boxes(self, features) -> np.ndarray:
        """[N, P, 4] part boxes (x0, y0, x1, y1 in [0, 1] of the backbone's view) for grid rows."""
        x = self._grid(features)
        return to_corners(self._attend(x)[1]).cpu().numpy()

    @torch.no_grad()
    def explain(self, features: torch.Tensor, image=None) -> Explanation:
        """Part maps and boxes for one image [C, h, w]; with ``image`` (path or PIL) also the crops.

        With the image and trained crop heads the scores use the crops (the backbone runs on them). With several
        final models the scores are their mean (as ``encode``'s), the maps, boxes and crops the newest model's:
        each model clusters its own parts, so part i of one is not part i of another.
        """
        x = torch.as_tensor(features) if not isinstance(features, torch.Tensor) else features
        x = self._grid(x[None] if x.ndim == 3 else x)[:1]
        maps, boxes = self._attend(x)
        corners = to_corners(boxes)[0].clamp(0, 1).cpu().numpy()
        extras = {"streams": ("global",) + tuple(f"part {i + 1}" for i in range(self._net.parts))}
        crop_features = None
        if image is not None:
            extras["crops"] = crop_images(image, corners)
            if float(self._net.trained[CROP]) > 0 and self._hp("crops"):
                crop_features = torch.from_numpy(self._single_crop_features(image, corners)).to(x.device)
        emb, _, _ = self._streams(x, crop_features)
        code = self._raw_code(emb)
        if self._members:
            with_crops = crop_features is not None
            code = self._mean_code(x, (lambda j, b: self._crop_features_of(image, b)) if with_crops else None)
        extras["part_features"] = "crops" if crop_features is not None else "grid"
        stream_scores = emb[0].cpu().numpy()  # [1 + P, A]
        extras["stream_scores"] = stream_scores
        part_maps = maps[0].cpu().numpy()
        return Explanation(
            attribute_scores=self._centred(code, crops=crop_features is not None)[0],
            attention=attribute_maps(stream_scores, part_maps, self._hp("part_weight")),
            part_attention=part_maps,
            part_boxes=corners.astype(np.float32),
            extras=extras,
        )

    def _crop_features_of(self, image, boxes: torch.Tensor) -> torch.Tensor:
        """[1, P, C] crop features of one image for boxes [1, P, 3] (any final model's)."""
        corners = to_corners(boxes)[0].clamp(0, 1).cpu().numpy()
        return torch.from_numpy(self._single_crop_features(image, corners)).to(boxes.device)

    def _single_crop_features(self, image, corners) -> np.ndarray:
        """[1, P, C] crop features of one image, computed now (one image: no cache needed)."""
        return encode_crops(
            image, corners, self.info.channels, self._hp("crop_size"), self._hp("crop_quantum"), self._net.heads.device
        )[None]
