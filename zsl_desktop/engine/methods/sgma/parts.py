"""SGMA's pieces: losses, the differentiable boxcar mask, the three sub-nets, the channel k-means.

Pure functions and small modules, each tested on hand-computed cases
(``tests/test_sgma_parts.py``); ``method.py`` puts them together. Coordinates are in
[0, 1] of the backbone's view (x right, y down) unless a name says otherwise.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


# -- maps ---------------------------------------------------------------------------------------
def cell_centres(size: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """[size] centres of the cells of one grid axis in [0, 1]: (j + 0.5) / size."""
    return (torch.arange(size, device=device, dtype=dtype) + 0.5) / size


def normalise_maps(raw: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """[..., h, w] -> min-max scaled maps in [0, 1] (0 at the minimum, 1 at the peak).

    Min-max rather than max alone: a channel mean never reaches zero (background
    activates too), and a map floating at 0.5 would make every box and overlap vague.
    """
    flat = raw.flatten(-2)
    low = flat.amin(-1)[..., None, None]
    span = flat.amax(-1)[..., None, None] - low
    return (raw - low) / (span + eps)


def as_distribution(maps: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """[..., h, w] -> the same maps scaled to sum to 1 over the grid."""
    return maps / (maps.flatten(-2).sum(-1)[..., None, None] + eps)


# -- attention losses ---------------------------------------------------------------------------------
def compactness_loss(maps: torch.Tensor) -> torch.Tensor:
    """MA-CNN's distance loss: sum over parts of E_{P_i}[ ||(x, y) - peak_i||^2 ], mean over the batch.

    ``maps`` [B, P, h, w] >= 0; P_i is map i scaled to sum 1; the peak (argmax
    cell centre, in [0, 1] units) is a constant, as in MA-CNN.
    """
    b, p, h, w = maps.shape
    prob = as_distribution(maps)
    flat = maps.detach().flatten(2).argmax(-1)  # [B, P]
    peak_y = (flat // w).to(maps.dtype).add(0.5) / h
    peak_x = (flat % w).to(maps.dtype).add(0.5) / w
    xs, ys = cell_centres(w, maps.device, maps.dtype), cell_centres(h, maps.device, maps.dtype)
    d2 = (xs.view(1, 1, 1, w) - peak_x[..., None, None]) ** 2 + (ys.view(1, 1, h, 1) - peak_y[..., None, None]) ** 2
    return (prob * d2).sum((2, 3)).sum(1).mean()


def diversity_loss(maps: torch.Tensor, margin: float = 0.2) -> torch.Tensor:
    """sum_i mean_{x,y} M_i(x, y) * max(0, max_{k != i} M_k(x, y) - margin), mean over the batch.

    ``maps`` [B, P, h, w] in [0, 1]. Zero with one part, or when maps never overlap above the margin.
    """
    b, p, h, w = maps.shape
    if p < 2:
        return maps.sum() * 0.0
    others = []
    for i in range(p):
        rest = torch.cat([maps[:, :i], maps[:, i + 1 :]], 1)
        others.append(rest.amax(1))
    others = torch.stack(others, 1)  # [B, P, h, w]: max over the other parts
    return (maps * F.relu(others - margin)).mean((2, 3)).sum(1).mean()


# -- region cropping ------------------------------------------------------------------------------
def boxcar_mask(boxes: torch.Tensor, size, k: float = 10.0, cells=None) -> torch.Tensor:
    """Differentiable square mask V(x, y) for boxes [..., 3] = (centre x, centre y, side) in [0, 1].

    V = [h(x - tx + ts/2) - h(x - tx - ts/2)] [h(y - ty + ts/2) - h(y - ty - ts/2)],
    h(z) = sigmoid(k z), evaluated at the cell centres of a ``size`` = (H, W) grid.
    Distances are measured in cells of the ``cells`` = (h, w) grid (default: ``size``),
    so k = 10 gives an edge about a fifth of a feature cell wide whatever the resolution.
    Returns [..., H, W].
    """
    height, width = int(size[0]), int(size[1])
    ch, cw = (height, width) if cells is None else (int(cells[0]), int(cells[1]))
    xs = cell_centres(width, boxes.device, boxes.dtype) * cw
    ys = cell_centres(height, boxes.device, boxes.dtype) * ch
    tx, ty, ts = boxes[..., 0:1] * cw, boxes[..., 1:2] * ch, boxes[..., 2:3]
    half_x, half_y = ts * cw / 2, ts * ch / 2
    mx = torch.sigmoid(k * (xs - tx + half_x)) - torch.sigmoid(k * (xs - tx - half_x))  # [..., W]
    my = torch.sigmoid(k * (ys - ty + half_y)) - torch.sigmoid(k * (ys - ty - half_y))  # [..., H]
    return my[..., :, None] * mx[..., None, :]


def box_fit_loss(
    prob: torch.Tensor, boxes: torch.Tensor, area_weight: float = 1.0, k: float = 10.0, cells=None
) -> torch.Tensor:
    """-(attention mass inside the boxcar) + area_weight * side^2, summed over parts, batch mean.

    ``prob`` [B, P, H, W] sums to 1 per map. At the optimum the box edges sit where the
    attention density equals ``area_weight`` times its mean (d mass / d side = 2 side rho_edge),
    so 1 means "cover the above-average attention".
    """
    mask = boxcar_mask(boxes, prob.shape[-2:], k, cells)
    mass = (mask * prob).sum((-2, -1))
    return (-mass + area_weight * boxes[..., 2] ** 2).sum(1).mean()


def to_corners(boxes: torch.Tensor) -> torch.Tensor:
    """(cx, cy, side) [..., 3] -> (x0, y0, x1, y1) [..., 4]."""
    half = boxes[..., 2:3] / 2
    return torch.cat([boxes[..., :2] - half, boxes[..., :2] + half], -1)


# -- embedding losses -------------------------------------------------------------------------------
def embedding_softmax_loss(embeddings: torch.Tensor, class_vectors: torch.Tensor, labels: torch.Tensor):
    """Cross-entropy of the compatibilities e . phi_j over the given (seen) classes; labels index them."""
    return F.cross_entropy(embeddings @ class_vectors.t(), labels)


def class_centre_triplet_loss(
    embeddings: torch.Tensor, centres: torch.Tensor, labels: torch.Tensor, margin: float = 0.8
) -> torch.Tensor:
    """mean_b max(0, margin + ||e~ - C~_y||^2 - min_{j != y} ||e~ - C~_j||^2), unit-normalised e and C.

    ``centres`` [S, A] are the seen classes' centres and ``labels`` index them. The
    negative is the hardest (nearest) other centre.
    """
    e = F.normalize(embeddings, dim=1)
    c = F.normalize(centres, dim=1)
    d = (e * e).sum(1, keepdim=True) - 2 * e @ c.t() + (c * c).sum(1)[None]  # [B, S]
    positive = d.gather(1, labels[:, None])[:, 0]
    if c.shape[0] < 2:
        return F.relu(margin + positive).mean() * 0.0
    others = d.masked_fill(F.one_hot(labels, c.shape[0]).bool(), math.inf)
    return F.relu(margin + positive - others.amin(1)).mean()


# -- channel grouping initialisation ------------------------------------------------------------------
def channel_peaks(grid: np.ndarray) -> np.ndarray:
    """[n, C, h, w] -> [C, 2n] peak (x, y) of each channel on each image, in [0, 1].

    A channel that never fires on an image (max <= 0) gets the image centre there,
    so dead channels cluster together instead of at the top-left corner.
    """
    n, c, h, w = grid.shape
    flat = np.asarray(grid, np.float32).reshape(n, c, h * w)
    arg = flat.argmax(-1)
    x = (arg % w + 0.5) / w
    y = (arg // w + 0.5) / h
    dead = flat.max(-1) <= 0
    x[dead], y[dead] = 0.5, 0.5
    return np.concatenate([x.T, y.T], 1).astype(np.float32)  # [C, 2n]


def kmeans(points: np.ndarray, k: int, seed: int = 0, iterations: int = 100) -> np.ndarray:
    """Seeded k-means (k-means++ start, Lloyd steps); returns labels [n]. Empty clusters are re-seeded."""
    points = np.asarray(points, np.float64)
    n = len(points)
    if k >= n:
        return np.arange(n) % max(k, 1)
    rng = np.random.default_rng(seed)
    centres = [points[rng.integers(n)]]
    for _ in range(1, k):
        d = np.min([((points - c) ** 2).sum(1) for c in centres], axis=0)
        total = d.sum()
        centres.append(points[rng.choice(n, p=d / total)] if total > 0 else points[rng.integers(n)])
    centres = np.stack(centres)
    labels = np.full(n, -1)
    for _ in range(iterations):
        d = ((points[:, None, :] - centres[None]) ** 2).sum(-1)
        new = d.argmin(1)
        for j in range(k):
            if not np.any(new == j):  # an empty cluster takes the point farthest from its centre
                far = int(d[np.arange(n), new].argmax())
                new[far] = j
        if np.array_equal(new, labels):
            break
        labels = new
        centres = np.stack([points[labels == j].mean(0) for j in range(k)])
    return labels


# -- the sub-nets -----------------------------------------------------------------------------------
class MultiAttention(nn.Module):
    """Channel grouping: a_i = sigmoid(FC(ReLU(FC(GAP(theta))))) per part; M_i = weighted channel mean.

    Channels are first divided by their mean activation over the training set
    (``channel_scale``), so no channel dominates a map by its scale alone.
    """

    def __init__(self, parts: int, channels: int, hidden: int):
        super().__init__()
        p, c, hd = int(parts), int(channels), int(hidden)
        self.fc1_w = nn.Parameter(torch.zeros(p, hd, c))
        self.fc1_b = nn.Parameter(torch.zeros(p, hd))
        self.fc2_w = nn.Parameter(torch.zeros(p, c, hd))
        self.fc2_b = nn.Parameter(torch.zeros(p, c))
        self.register_buffer("channel_scale", torch.ones(c))

    def reset(self, groups: np.ndarray, channel_scale: np.ndarray, seed: int, confidence: float = 3.0) -> None:
        """Start from the k-means grouping: a_i^c = sigmoid(+-confidence) for channels in / out of group i."""
        g = torch.Generator().manual_seed(int(seed))
        p, hd, c = self.fc1_w.shape
        with torch.no_grad():
            self.fc1_w.copy_(torch.randn(p, hd, c, generator=g) * math.sqrt(2.0 / c))
            self.fc1_b.zero_()
            self.fc2_w.copy_(torch.randn(p, c, hd, generator=g) * 0.01)
            groups = torch.as_tensor(np.asarray(groups, np.int64))
            member = groups[None, :] == torch.arange(p)[:, None]  # [P, C]
            self.fc2_b.copy_(torch.where(member, confidence, -confidence).float())
            self.channel_scale.copy_(torch.as_tensor(np.asarray(channel_scale, np.float32)).clamp(min=1e-6))

    def forward(self, grid: torch.Tensor):
        """grid [B, C, h, w] -> (channel weights [B, P, C], maps [B, P, h, w] in [0, 1])."""
        b, c, h, w = grid.shape
        x = grid / self.channel_scale.view(1, c, 1, 1)
        pooled = x.mean((2, 3))  # [B, C]
        hidden = F.relu(torch.einsum("phc,bc->bph", self.fc1_w, pooled) + self.fc1_b)
        weights = torch.sigmoid(torch.einsum("pch,bph->bpc", self.fc2_w, hidden) + self.fc2_b)
        raw = torch.einsum("bpc,bcr->bpr", weights, x.reshape(b, c, h * w))
        raw = raw / weights.sum(-1, keepdim=True)
        return weights, normalise_maps(raw.view(b, -1, h, w))


class CropNet(nn.Module):
    """f_CNet: two FC layers per part over the flattened map -> a square box (cx, cy, side).

    side = min + (max - min) sigmoid(u_s); the centre is parameterised inside the
    feasible range (cx = side/2 + (1 - side) sigmoid(u_x)), so every box lies in the image.
    """

    def __init__(self, parts: int, cells: int, hidden: int = 64):
        super().__init__()
        p, r, hd = int(parts), int(cells), int(hidden)
        self.l1_w = nn.Parameter(torch.zeros(p, hd, r))
        self.l1_b = nn.Parameter(torch.zeros(p, hd))
        self.l2_w = nn.Parameter(torch.zeros(p, 3, hd))
        self.l2_b = nn.Parameter(torch.zeros(p, 3))

    def reset(self, seed: int) -> None:
        """Random first layer, zero last layer: every box starts centred, at the middle side."""
        g = torch.Generator().manual_seed(int(seed) + 1)
        p, hd, r = self.l1_w.shape
        with torch.no_grad():
            self.l1_w.copy_(torch.randn(p, hd, r, generator=g) * math.sqrt(2.0 / r))
            self.l1_b.zero_()
            self.l2_w.zero_()
            self.l2_b.zero_()

    def forward(self, maps: torch.Tensor, min_side: float, max_side: float) -> torch.Tensor:
        """maps [B, P, h, w] -> boxes [B, P, 3] (cx, cy, side)."""
        b, p = maps.shape[:2]
        hidden = F.relu(torch.einsum("phr,bpr->bph", self.l1_w, maps.reshape(b, p, -1)) + self.l1_b)
        u = torch.sigmoid(torch.einsum("pkh,bph->bpk", self.l2_w, hidden) + self.l2_b)  # [B, P, 3]
        side = min_side + (max_side - min_side) * u[..., 2]
        cx = side / 2 + (1 - side) * u[..., 0]
        cy = side / 2 + (1 - side) * u[..., 1]
        return torch.stack([cx, cy, side], -1)


def attention_pool(grid: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """grid [B, C, h, w], spatial weights [B, P, h, w] -> [B, P, C] weighted means (ROI pooling)."""
    b, c = grid.shape[:2]
    weights = as_distribution(weights)
    return torch.einsum("bpr,bcr->bpc", weights.flatten(2), grid.reshape(b, c, -1))


def unit_features(x: torch.Tensor, scale: float) -> torch.Tensor:
    """Visual features to what the heads see: unit L2 norm over channels, times ``scale``."""
    return F.normalize(x, dim=-1) * scale


# -- the whole network ------------------------------------------------------------------------------
GLOBAL, GRID, CROP = 0, 1, 2  # stream kinds; streams are [global, grid part 1..N, crop part 1..N]
# SGMANet's trained tensors (``SGMANet.parameter`` names): the optimizer's order and the checkpoint's keys
NET_PARAMETERS = (
    "att.fc1_w",
    "att.fc1_b",
    "att.fc2_w",
    "att.fc2_b",
    "crop.l1_w",
    "crop.l1_b",
    "crop.l2_w",
    "crop.l2_b",
    "heads",
    "centres",
)


class SGMANet(nn.Module):
    """The three sub-nets: attention, f_CNet, and one linear head and centre set per stream."""

    def __init__(
        self,
        parts: int,
        channels: int,
        cells: int,
        num_attributes: int,
        num_classes: int,
        hidden: int,
        crop_hidden: int,
    ):
        super().__init__()
        self.parts = int(parts)
        streams = 1 + 2 * self.parts
        self.att = MultiAttention(parts, channels, hidden)
        self.crop = CropNet(parts, cells, crop_hidden)
        self.heads = nn.Parameter(torch.zeros(streams, channels, num_attributes))
        self.centres = nn.Parameter(torch.zeros(streams, num_classes, num_attributes))
        # Epochs each stream kind has been trained for: global, grid parts, crop parts.
        self.register_buffer("trained", torch.zeros(3))

    def stream_ids(self, kind: int) -> list[int]:
        return [0] if kind == GLOBAL else [1 + i + (self.parts if kind == CROP else 0) for i in range(self.parts)]

    def reset_heads(self, phi: torch.Tensor, seed: int) -> None:
        """Small random heads; every stream's centres start at the class semantics phi."""
        g = torch.Generator().manual_seed(int(seed) + 2)
        with torch.no_grad():
            self.heads.copy_(torch.randn(self.heads.shape, generator=g) * 0.01)
            self.centres.copy_(phi.to(self.centres)[None].expand_as(self.centres))
            self.trained.zero_()

    def parameter(self, name: str) -> torch.Tensor:
        obj = self
        for part in name.split("."):
            obj = getattr(obj, part)
        return obj

    def attend(self, grid: torch.Tensor, min_side: float, max_side: float):
        """grid [B, C, h, w] -> (maps [B, P, h, w], boxes [B, P, 3] from the detached maps)."""
        _, maps = self.att(grid)
        return maps, self.crop(maps.detach(), min_side, max_side)

    @staticmethod
    def grid_parts(grid: torch.Tensor, maps: torch.Tensor, boxes: torch.Tensor, k: float) -> torch.Tensor:
        """ROI pooling on the grid: weights M_i x V_i (box detached) -> [B, P, C]."""
        mask = boxcar_mask(boxes.detach(), grid.shape[-2:], k)
        return attention_pool(grid, maps * mask + 1e-6 * mask)

    def embed(self, features: torch.Tensor, streams: list[int], scale: float) -> torch.Tensor:
        """features [B, S, C] of the given streams -> embeddings [B, S, A]."""
        return torch.einsum("bsc,sca->bsa", unit_features(features, scale), self.heads[streams])


def attribute_maps(stream_scores: np.ndarray, part_maps: np.ndarray, part_weight: float = 1.0) -> np.ndarray:
    """[A, h, w] per-attribute maps from part maps [P, h, w] and stream scores [1 + P, A].

    Attribute a's map mixes the part maps (each scaled to sum 1) by the part streams'
    positive contributions to a, plus a uniform map for the global stream's; each map
    sums to 1 (uniform when nothing contributes).
    """
    p, h, w = part_maps.shape
    weights = np.clip(np.asarray(stream_scores, np.float64), 0, None)
    weights[1:] *= part_weight
    prob = part_maps / np.maximum(part_maps.reshape(p, -1).sum(1), 1e-12)[:, None, None]
    mixed = np.einsum("pa,phw->ahw", weights[1:], prob) + weights[0][:, None, None] / (h * w)
    total = weights.sum(0)[:, None, None]
    return np.where(total > 0, mixed / np.maximum(total, 1e-12), 1.0 / (h * w)).astype(np.float32)
