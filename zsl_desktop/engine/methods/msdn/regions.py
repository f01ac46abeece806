"""MSDN's ``region_channels``: a fixed projection of the unit region vectors onto a k-dimensional subspace.

Why: MSDN's cost is the region products [B*R, C] @ [C, 4A] (forward and the weights' gradient). Projecting every
unit region vector onto k < C directions, once per ``fit`` for the frozen training features, divides that cost by
about C / k (issue 19: CPUs without native bfloat16 train in float32). The subspace is the span of the top
eigenvectors of the uncentred second moment of the training images' unit region vectors (the directions that keep
the most of their squared length), computed from training rows only.

The basis of that subspace matters, as RMSprop scales each weight's step by its own gradient history and so is
not rotation invariant: in the eigenvector basis (``principal``) one coordinate carries a fifth of the regions'
energy and the built-in birds lose 10 validation H even with every direction kept. ``aligned`` (the option's
default) gives the same subspace the basis closest to the k channels of most energy (orthogonal Procrustes), so
each projected channel is an original channel with the weak directions filtered out; measurements:
docs/history/msdn.md, sessions 12 and 13.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

# Images whose regions estimate the second moment: evenly spaced over the training rows (CUB subset: all 641;
# at 100,000 images the estimate stays ~1 s of CPU).
MOMENT_IMAGES = 1024
# The projected training regions are cached for the whole fit up to this size, else projected batch by batch.
CACHE_BYTES = 512 << 20
# The bases a subspace can be given in (module docstring).
BASES = ("aligned", "principal")


def projected_channels(region_channels: int, channels: int) -> int | None:
    """k, or None where the hyper-parameter keeps every channel (0, or at least C)."""
    k = int(region_channels)
    if k < 0:
        raise ValueError(f"msdn: region_channels must be 0 (all) or a positive channel count, not {k}")
    return None if k == 0 or k >= channels else k


def check_basis(basis: str) -> str:
    if basis not in BASES:
        raise ValueError(f"msdn: region_basis must be one of {BASES}, not {basis!r}")
    return basis


def unit_regions(grid: torch.Tensor) -> torch.Tensor:
    """[B*R, C] float32: each region of ``grid`` [B, C, ...] as a unit row over its channels."""
    b, c = grid.shape[:2]
    return F.normalize(grid.reshape(b, c, -1).transpose(1, 2).reshape(-1, c).float(), dim=1)


@torch.no_grad()
def second_moment(features, index: np.ndarray, device="cpu", chunk: int = 64) -> torch.Tensor:
    """[C, C] float64 on the CPU: the sum of f f' over the unit regions f of rows ``index`` (at most
    ``MOMENT_IMAGES`` of them, evenly spaced); only the rows given are read."""
    index = np.asarray(index)
    if len(index) == 0:
        raise ValueError("msdn: region_channels needs training rows to place its projection")
    picks = index[np.unique(np.linspace(0, len(index) - 1, min(len(index), MOMENT_IMAGES)).round().astype(np.int64))]
    moment = None
    for first in range(0, len(picks), chunk):
        f = unit_regions(features.rows("grid", picks[first : first + chunk], device))
        part = (f.t() @ f).double()
        moment = part if moment is None else moment + part
    assert moment is not None
    return moment.cpu()


def principal_directions(moment: torch.Tensor, k: int) -> torch.Tensor:
    """[C, k] float64: the top-k eigenvectors of ``moment``, largest first, each column's largest entry positive
    (so that the same rows give the same projection)."""
    if k > moment.shape[0]:
        raise ValueError(f"msdn: cannot project {moment.shape[0]} channels onto {k}")
    _, vectors = torch.linalg.eigh(moment)  # ascending eigenvalues
    top = vectors[:, -k:].flip(1)
    return top * torch.sign(top.gather(0, top.abs().argmax(0, keepdim=True)))


def aligned_basis(directions: torch.Tensor, moment: torch.Tensor) -> torch.Tensor:
    """[C, k]: the orthonormal basis of the span of ``directions`` closest (Frobenius) to the unit vectors of the k
    channels with the largest ``moment`` diagonal, in that order: ``directions`` @ U V' with U S V' the SVD of
    their rows of ``directions``, transposed (orthogonal Procrustes)."""
    k = directions.shape[1]
    strongest = torch.argsort(torch.diagonal(moment), descending=True, stable=True)[:k]
    u, _, vh = torch.linalg.svd(directions[strongest, :].t())
    return directions @ (u @ vh)


def region_projection(features, index: np.ndarray, k: int, basis: str = "aligned", device="cpu") -> torch.Tensor:
    """[C, k] float32 with orthonormal columns: the top-k principal subspace of the unit regions of rows ``index``,
    in the ``basis`` asked for (module docstring)."""
    moment = second_moment(features, index, device)
    directions = principal_directions(moment, k)
    if check_basis(basis) == "aligned":
        directions = aligned_basis(directions, moment)
    return directions.float().contiguous()


@torch.no_grad()
def cached_regions(net, features, index: np.ndarray, device, dtype: torch.dtype, chunk: int = 256):
    """[N, R, k] ``net.regions`` of rows ``index`` in ``dtype`` (the products' operand type: the same rounding as
    batch by batch), or None where they would take more than ``CACHE_BYTES``."""
    index = np.asarray(index)
    if net.projection is None or len(index) == 0:
        return None
    first_rows = features.rows("grid", index[:1], device)
    regions = int(np.prod(first_rows.shape[2:]))
    k = int(net.projection.shape[1])
    if len(index) * regions * k * torch.empty((), dtype=dtype).element_size() > CACHE_BYTES:
        return None
    parts = [
        net.regions(features.rows("grid", index[i : i + chunk], device)).to(dtype).reshape(-1, regions, k)
        for i in range(0, len(index), chunk)
    ]
    return torch.cat(parts)
