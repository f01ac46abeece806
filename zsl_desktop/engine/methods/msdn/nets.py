"""The network and the losses of MSDN (Chen et al., CVPR 2022): pure functions and one ``nn.Module``, tested one
by one against NumPy versions (``tests/test_msdn_losses.py``); the method that trains them is ``method.py``.

Model (per image, grid features f_r, r = 1..R, each L2-normalised over channels):

- V [A, 300]: learnable attribute vectors, initialised from the attribute
  word vectors with unit rows (``normalize_V`` re-normalises them every step).
- Attribute->visual sub-net: S[i,r] = v_i' W_1 f_r, alpha[i,:] = softmax_r(v_i' W_2 f_r),
  psi1_i = sum_r alpha[i,r] S[i,r]. W_1 ~ N(0, 1) (unscaled, as released; with unit
  v and f the scores start at unit variance), W_2 = 0 (uniform attention at start).
- Visual->attribute sub-net: S'[r,i] = f_r' W_1_1 v_i, beta[:,r] = softmax_i(v_i' W_2_1 f_r)
  (over attributes, per region), psi2_i = sum_r beta[i,r] S'[r,i]. W_1_1 = W_2_1 = 0.
- Class logits s^j = psi^j . a_k for L2-normalised class attribute rows a_k;
  in training, a fixed bias b_k = +bias (unseen) / -bias (seen) is added.
- Inference code (what ``encode`` returns): w1 psi1 + w2 psi2, so that
  ``score`` = code . a_k = w1 s1 + w2 s2 without bias (calibration is applied
  outside, the same way for every method).

Losses (released code): for j in {1, 2}, cross-entropy over all K classes on
s^j - b, self-calibration -log(mean_b sum_{u unseen} softmax(s^j)_u) on the
biased logits, and a mutual distillation between s1 and s2 (no stop-gradient):
``code`` form mean_b ||d||_3^3/||d||_2 + JSD(p, q), or the paper's ``paper``
form mean_b ||d||_2^2 + JSD(p, q). Total: sum_j (CE^j + lambda_sc SC^j) +
lambda_distill L_distill. RMSprop(lr 1e-4, weight decay 1e-4, momentum 0.9).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..members import frozen
from .regions import unit_regions

PARAMETER_NAMES = ("V", "W_1", "W_2", "W_1_1", "W_2_1")
DISTILL_FORMS = ("code", "paper")


# -- losses (pure functions, tested one by one) ------------------------------------------
def cross_entropy_loss(logits: torch.Tensor, labels: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """Mean cross-entropy over ALL classes of ``logits - bias`` (the training margin removed)."""
    if bias is not None:
        logits = logits - bias
    return F.cross_entropy(logits, labels)


def self_calibration_loss(logits: torch.Tensor, unseen: torch.Tensor, whole=None) -> torch.Tensor:
    """-log( mean over the batch of the softmax mass on unseen classes ) (DAZLE; mean inside the log).

    ``unseen`` is a bool mask [K] or an index tensor. Zero when there are no unseen classes.
    ``whole``: under torchrun, the whole batch's rows from this rank's (``sharding.Part.whole``).
    """
    if unseen.dtype == torch.bool:
        unseen = torch.nonzero(unseen, as_tuple=True)[0]
    if unseen.numel() == 0 or logits.shape[0] == 0:
        return logits.sum() * 0.0
    log_mass = torch.logsumexp(logits[:, unseen], dim=1) - torch.logsumexp(logits, dim=1)  # [B]
    if whole is not None:
        log_mass = whole(log_mass)
    return -(torch.logsumexp(log_mass, dim=0) - math.log(log_mass.shape[0]))


def jensen_shannon(s1: torch.Tensor, s2: torch.Tensor) -> torch.Tensor:
    """0.5 [KL(q||m) + KL(p||m)], batch mean, p = softmax(s1), q = softmax(s2), m = (p + q) / 2."""
    log_p = F.log_softmax(s1, dim=1)
    log_q = F.log_softmax(s2, dim=1)
    log_m = torch.logsumexp(torch.stack((log_p, log_q)), dim=0) - math.log(2.0)
    kl_qm = (log_q.exp() * (log_q - log_m)).sum(1).mean()
    kl_pm = (log_p.exp() * (log_p - log_m)).sum(1).mean()
    return 0.5 * (kl_qm + kl_pm)


def distillation_loss(s1: torch.Tensor, s2: torch.Tensor, form: str = "code") -> torch.Tensor:
    """Mutual distillation between the two sub-nets' logits (gradients flow into both).

    ``code``: mean_b sum_k d_bk^2 / ||d_b||_2 * |d_bk| (= ||d_b||_3^3 / ||d_b||_2) + JSD.
    ``paper``: mean_b ||d_b||_2^2 + JSD.
    """
    d = s1 - s2
    if form == "code":
        norm = torch.sqrt((d * d).sum(1, keepdim=True) + 1e-12)
        distance = (d.abs().pow(3) / norm).sum(1).mean()
    elif form == "paper":
        distance = (d * d).sum(1).mean()
    else:
        raise ValueError(f"distill must be one of {DISTILL_FORMS}, not {form!r}")
    return distance + jensen_shannon(s1, s2)


# -- the network -----------------------------------------------------------------------------
@dataclass
class Outputs:
    psi_av: torch.Tensor  # [B, A] attribute scores of the attribute->visual sub-net
    psi_va: torch.Tensor  # [B, A] attribute scores of the visual->attribute sub-net
    alpha: torch.Tensor | None = None  # [B, A, R] attention over regions, per attribute
    beta: torch.Tensor | None = None  # [B, A, R] attention over attributes, per region


class MSDNNet(nn.Module):
    """``projection`` [C, k] (``regions.py``): a fixed map of the unit regions onto k channels, or None (all C).

    The weights W act on the projected regions ([d, k]); the projection is no parameter (never trained) and is
    kept as a non-persistent buffer, so that ``.to(device)`` moves it and the checkpoint stores it once."""

    def __init__(self, num_attributes: int, channels: int, dim_v: int = 300, projection: torch.Tensor | None = None):
        super().__init__()
        a, c, d = int(num_attributes), int(channels), int(dim_v)
        if projection is not None:
            projection = torch.as_tensor(projection, dtype=torch.float32)
            if projection.ndim != 2 or projection.shape[0] != c:
                raise ValueError(f"msdn: the projection is {tuple(projection.shape)}, the features have {c} channels")
            c = projection.shape[1]
        self.register_buffer("projection", projection, persistent=False)
        self.V = nn.Parameter(torch.zeros(a, d))
        self.W_1 = nn.Parameter(torch.zeros(d, c))
        self.W_2 = nn.Parameter(torch.zeros(d, c))
        self.W_1_1 = nn.Parameter(torch.zeros(c, d))
        self.W_2_1 = nn.Parameter(torch.zeros(d, c))

    def reset(self, vectors: np.ndarray, seed: int) -> None:
        """The released initialisation: V = unit rows of the word vectors, W_1 ~ N(0,1), the rest 0."""
        generator = torch.Generator().manual_seed(int(seed))
        with torch.no_grad():
            v = torch.as_tensor(np.asarray(vectors, dtype=np.float32))
            self.V.copy_(F.normalize(v, dim=1))
            self.W_1.copy_(torch.randn(self.W_1.shape, generator=generator))
            for w in (self.W_2, self.W_1_1, self.W_2_1):
                w.zero_()

    @property
    def in_channels(self) -> int:
        """The features' channels C (the projection's rows, else the weights' width)."""
        return int(self.projection.shape[0]) if self.projection is not None else int(self.W_1.shape[1])

    def regions(self, grid: torch.Tensor) -> torch.Tensor:
        """[B*R, k] float32: each region as a unit row over the C channels, then projected when there is a
        projection. Training caches these rows once per ``fit`` (the features are frozen)."""
        f = unit_regions(grid)  # [B*R, C]
        return f if self.projection is None else f @ self.projection

    def forward(
        self,
        grid: torch.Tensor,
        normalize_v: bool = False,
        maps: bool = False,
        dtype: torch.dtype = torch.float32,
        prepared: bool = False,
    ) -> Outputs:
        """``dtype``: of the four region products only (bfloat16 while training, engine.precision).
        ``prepared``: ``grid`` is already ``regions`` as [B, R, k] (the rows ``fit`` caches), not [B, C, h, w]."""
        b = grid.shape[0]
        if prepared:
            return self.attend(grid.reshape(-1, grid.shape[2]), b, grid.shape[1], normalize_v, maps, dtype)
        return self.attend(self.regions(grid), b, math.prod(grid.shape[2:]), normalize_v, maps, dtype)

    def attend(
        self,
        f: torch.Tensor,
        b: int,
        r: int,
        normalize_v: bool = False,
        maps: bool = False,
        dtype: torch.dtype = torch.float32,
    ) -> Outputs:
        """The model on prepared region rows ``f`` [B*R, k] (``regions``), R regions an image."""
        a = self.V.shape[0]
        # The regions are rows [B*R, C] of unit length (normalised along contiguous channels), and the four
        # bilinear forms v_i' W f_r are one GEMM f @ [V W_1; V W_2; V W_1_1'; V W_2_1]' -> [B*R, 4A]; its backward
        # is one GEMM too (f' @ dS), and unbinding the four views costs one copy, not zero-fills. The same
        # FLOPs as the earlier [A, C] @ [C, B*R] products, laid out the way the CPU's GEMM runs fastest
        # (one thread, float32: ~60 -> ~90 GFLOP/s; docs/history/msdn.md, "region products").
        # In bfloat16 only the products themselves are rounded: softmaxes, sums and losses stay float32.
        f = f.to(dtype)
        v = (F.normalize(self.V, dim=1) if normalize_v else self.V).to(dtype)
        weights = (self.W_1, self.W_2, self.W_1_1.t(), self.W_2_1)  # each [d, k]
        products = torch.cat([v @ w.to(dtype) for w in weights])  # [4A, k]
        s_av, alpha_logits, s_va, beta_logits = (f @ products.t()).float().view(b, r, 4, a).unbind(2)  # [B, R, A]
        alpha = torch.softmax(alpha_logits, dim=1)  # over regions
        beta = torch.softmax(beta_logits, dim=2)  # over attributes
        psi_av = (alpha * s_av).sum(1)
        psi_va = (beta * s_va).sum(1)
        if not maps:
            return Outputs(psi_av, psi_va)
        return Outputs(psi_av, psi_va, alpha.transpose(1, 2), beta.transpose(1, 2))


def net_from(
    state: dict, prefix: str, num_attributes: int, channels: int, projection: torch.Tensor | None = None
) -> MSDNNet:
    """An ``MSDNNet`` holding the parameters stored under ``prefix`` (KeyError when one is missing)."""
    v = torch.as_tensor(state[prefix + "V"])
    net = MSDNNet(num_attributes, channels, v.shape[1], projection)
    with torch.no_grad():
        for n in PARAMETER_NAMES:
            getattr(net, n).copy_(torch.as_tensor(state[prefix + n], dtype=torch.float32))
    return net


def frozen_copy(net: MSDNNet, device) -> MSDNNet:
    """A detached copy in eval mode whose parameters take no gradient: a member, never trained again."""
    copy = MSDNNet(net.V.shape[0], net.in_channels, net.V.shape[1], net.projection)
    copy.load_state_dict(net.state_dict())
    return frozen(copy, device)
