"""Conditional GLOW-style affine coupling flow with the condition in every block, GSMFlow's
relative positioning (its condition), and the flow's two losses (NLL, prototype).

After FrEIA's ``GLOWCouplingBlock`` as GSMFlow uses it (METHODS.md 4.3), written
from the equations, not copied. One block splits x = [x1, x2] and computes

    y1 = x1 * e(s2) + t2,   [s2, t2] = g2([x2; c])
    y2 = x2 * e(s1) + t1,   [s1, t1] = g1([y1; c])
    e(s) = exp(clamp * 0.636 * atan(s / clamp)),   log|det J| = sum log e(s1) + sum log e(s2)

with subnets g = Linear([u; c] -> hidden) -> LeakyReLU(0.2) -> Linear(hidden -> 2 * out),
the output's first half s, second half t. There is no permutation between
blocks (the released code has it commented out).

Why the first layer of every subnet is split into a u part and a c part:
W [u; c] = W_u u + W_c c is the same function, but the condition term only
depends on the class, so ``condition`` computes it once per distinct class
and rows gather it. A training batch holds a few dozen classes and synthesis
one class per many rows, so this removes most of the condition's cost.

Why blocks hand each other the two halves rather than one tensor: joining
[y1, y2] and slicing it again in the next block costs nothing in arithmetic,
but in backward every slice becomes a zero-filled full-width tensor that is
then summed (the same for the subnet's [s, t] output, hence ``split``).
Passing halves and splitting gives the same values with a few percent less
time per training step.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from zsl_desktop.engine.sharding import Shards

ATAN_FACTOR = 0.636  # FrEIA's soft clamp: 0.636 * atan maps R onto about (-1, 1)


def soft_clamp(s: torch.Tensor, clamp: float) -> torch.Tensor:
    """log e(s): the log-scale, bounded to (-clamp, clamp) so one block cannot blow up."""
    return clamp * ATAN_FACTOR * torch.atan(s / clamp)


class CouplingSubnet(nn.Module):
    """g([u; c]) -> (s, t): Linear -> LeakyReLU(0.2) -> Linear, the first layer split into u and c parts."""

    def __init__(self, dim_in: int, dim_cond: int, hidden: int, dim_out: int):
        super().__init__()
        self.dim_out = int(dim_out)
        self.fc_u = nn.Linear(dim_in, hidden)
        self.fc_c = nn.Linear(dim_cond, hidden, bias=False)
        self.fc_out = nn.Linear(hidden, 2 * dim_out)

    def condition(self, c: torch.Tensor) -> torch.Tensor:
        return self.fc_c(c)

    def forward(self, u: torch.Tensor | None, c_term: torch.Tensor):
        """``u`` None: u = 0, whose first layer is its bias, exactly (the prototypes' first subnet)."""
        h = F.leaky_relu((self.fc_u.bias if u is None else self.fc_u(u)) + c_term, 0.2)
        s, t = self.fc_out(h).split(self.dim_out, 1)
        return s, t


class ConditionalCoupling(nn.Module):
    """One GLOW coupling block; both halves are transformed, each conditioned on the other and on c."""

    def __init__(self, dim: int, dim_cond: int, hidden: int, clamp: float = 1.0):
        super().__init__()
        self.len1 = dim // 2
        self.len2 = dim - self.len1
        self.clamp = float(clamp)
        self.g2 = CouplingSubnet(self.len2, dim_cond, hidden, self.len1)  # reads x2, moves x1
        self.g1 = CouplingSubnet(self.len1, dim_cond, hidden, self.len2)  # reads y1, moves x2

    def condition(self, c: torch.Tensor):
        return self.g2.condition(c), self.g1.condition(c)

    def forward(self, x: torch.Tensor, cond):
        y1, y2, logdet = self.forward_halves(*self.halves(x), cond)
        return torch.cat((y1, y2), 1), logdet

    def inverse(self, y: torch.Tensor, cond) -> torch.Tensor:
        return torch.cat(self.inverse_halves(*self.halves(y), cond), 1)

    def halves(self, x: torch.Tensor):
        return x.split((self.len1, self.len2), 1)

    def forward_halves(self, x1: torch.Tensor, x2: torch.Tensor, cond):
        s2, t2 = self.g2(x2, cond[0])
        s2 = soft_clamp(s2, self.clamp)
        y1 = x1 * torch.exp(s2) + t2
        s1, t1 = self.g1(y1, cond[1])
        s1 = soft_clamp(s1, self.clamp)
        y2 = x2 * torch.exp(s1) + t1
        return y1, y2, s2.sum(1) + s1.sum(1)

    def inverse_halves(self, y1: torch.Tensor, y2: torch.Tensor, cond, y1_zero: bool = False):
        s1, t1 = self.g1(None if y1_zero else y1, cond[1])
        x2 = (y2 - t1) * torch.exp(-soft_clamp(s1, self.clamp))
        s2, t2 = self.g2(x2, cond[0])
        x1 = (y1 - t2) * torch.exp(-soft_clamp(s2, self.clamp))
        return x1, x2


class ConditionalFlow(nn.Module):
    """A stack of conditional coupling blocks: x -> z (``forward``, with log|det J|) and z -> x (``inverse``).

    The condition ``c`` is [B, dim_cond], one row per sample; or, with
    ``index`` [B], the distinct conditions [U, dim_cond] that rows pick from
    (the fast path: condition terms computed U times instead of B times).
    """

    def __init__(self, dim: int, dim_cond: int, hidden: int = 512, blocks: int = 3, clamp: float = 1.0):
        super().__init__()
        self.dim, self.dim_cond = int(dim), int(dim_cond)
        self.blocks = nn.ModuleList(ConditionalCoupling(dim, dim_cond, hidden, clamp) for _ in range(blocks))

    def reset_parameters(self, generator: torch.Generator | None = None, std: float = 0.01) -> None:
        """Every parameter ~ std * N(0, 1), as the released code does: the flow starts near the identity."""
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype) * std)

    def _conditions(self, c: torch.Tensor, index: torch.Tensor | None):
        out = []
        for block in self.blocks:
            c2, c1 = block.condition(c)
            out.append((c2, c1) if index is None else (c2[index], c1[index]))
        return out

    def forward(self, x: torch.Tensor, c: torch.Tensor, index: torch.Tensor | None = None):
        if not len(self.blocks):
            return x, x.new_zeros(x.shape[0])
        logdet = x.new_zeros(x.shape[0])
        x1, x2 = self.blocks[0].halves(x)
        for block, cond in zip(self.blocks, self._conditions(c, index)):
            x1, x2, j = block.forward_halves(x1, x2, cond)
            logdet = logdet + j
        return torch.cat((x1, x2), 1), logdet

    def inverse(self, z: torch.Tensor, c: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        if not len(self.blocks):
            return z
        conds = self._conditions(c, index)
        z1, z2 = self.blocks[0].halves(z)
        for block, cond in zip(reversed(self.blocks), reversed(conds)):
            z1, z2 = block.inverse_halves(z1, z2, cond)
        return torch.cat((z1, z2), 1)

    def sample(
        self,
        c: torch.Tensor,
        n: int,
        generator: torch.Generator,
        chunk: int = 4096,
        shards: Shards | None = None,
        temperature: float = 1.0,
    ) -> torch.Tensor:
        """n samples per condition row, row by row: x = f^-1(z; c), z ~ N(0, T^2 I) (seeded, drawn on the CPU).

        ``temperature`` T scales the base noise (1: the flow's own distribution; the draws are the same).

        ``shards``: under torchrun every rank draws every z (the generator advances as in one process)
        and inverts its own share of the rows; the shares are then summed (``Shards.gather_rows``).
        """
        index = torch.arange(len(c), device=c.device).repeat_interleave(int(n))
        noise = [torch.randn(len(part), self.dim, generator=generator) for part in index.split(chunk)]
        if temperature != 1.0:
            noise = [z * float(temperature) for z in noise]
        if shards is None or not shards.active:
            out = [self.inverse(z.to(c.device), c, part) for z, part in zip(noise, index.split(chunk))]
            return torch.cat(out) if out else c.new_zeros(0, self.dim)
        z, own = torch.cat(noise).to(c.device), shards.owns(len(index))
        x = c.new_zeros(len(index), self.dim)
        for first in range(own.start, own.stop, chunk):
            rows = slice(first, min(first + chunk, own.stop))
            x[rows] = self.inverse(z[rows], c, index[rows])
        return shards.gather_rows(x)

    def prototypes(self, c: torch.Tensor) -> torch.Tensor:
        """f^-1(0; c): each condition's sample at the mode of the base distribution.

        Without gradients (a slider move's prototype) the last block's first subnet reads y1 = 0, so its
        first layer is skipped (1 of the 12 products, the same values); training keeps the plain inverse.
        """
        z = c.new_zeros(len(c), self.dim)
        if torch.is_grad_enabled() or not len(self.blocks):
            return self.inverse(z, c)
        conds = self._conditions(c, None)
        z1, z2 = self.blocks[-1].inverse_halves(*self.blocks[-1].halves(z), conds[-1], y1_zero=True)
        for block, cond in zip(reversed(self.blocks[:-1]), reversed(conds[:-1])):
            z1, z2 = block.inverse_halves(z1, z2, cond)
        return torch.cat((z1, z2), 1)


def nll_loss(z: torch.Tensor, logdet: torch.Tensor) -> torch.Tensor:
    """Per-dimension negative log-likelihood under N(0, I), up to a constant: mean(z^2)/2 - mean(log|J|)/D."""
    return (z * z).mean() / 2 - logdet.mean() / z.shape[1]


def prototype_loss(flow: ConditionalFlow, gsm: nn.Module, seen_attributes, class_means) -> torch.Tensor:
    """MSE(f^-1(0; a_g(a_c)), mean real feature of c) over seen classes; a_g under no_grad (trains the flow only)."""
    with torch.no_grad():
        g = gsm(seen_attributes)
    return F.mse_loss(flow.prototypes(g), class_means)


class RelativePositioning(nn.Module):
    """GSMFlow's global semantic vector: a_g = sum_k ReLU(W_k (a - anchor_k) + b_k), k over 3 anchors.

    Why: a class is described by where it sits relative to a few reference
    classes (the most isolated, the most central and the median one by
    cosine row sums), which the paper argues transfers better to unseen
    classes than the raw attribute vector.
    """

    def __init__(self, anchors: torch.Tensor, dim_out: int = 1024):
        super().__init__()
        anchors = torch.as_tensor(anchors, dtype=torch.float32)
        self.register_buffer("anchors", anchors.clone())
        k, a = anchors.shape
        self.weight = nn.Parameter(torch.empty(k, dim_out, a))
        self.bias = nn.Parameter(torch.empty(k, dim_out))
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """nn.Linear's default (uniform +-1/sqrt(fan_in)), which the released GSModule keeps."""
        bound = 1.0 / max(1, self.weight.shape[2]) ** 0.5
        with torch.no_grad():
            for p in (self.weight, self.bias):
                p.copy_((torch.rand(p.shape, generator=generator) * 2 - 1) * bound)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        offsets = a[:, None, :] - self.anchors[None]  # [B, k, A]
        responses = torch.einsum("bka,koa->bko", offsets, self.weight) + self.bias
        return F.relu(responses).sum(1)


def choose_anchors(class_attributes: torch.Tensor) -> torch.Tensor:
    """Rows with the minimum, maximum and median cosine row sum (the median: sorted position n // 2)."""
    a = F.normalize(torch.as_tensor(class_attributes, dtype=torch.float64), dim=1)
    sums = (a @ a.t()).sum(1)
    order = torch.argsort(sums, stable=True)
    picks = [int(torch.argmin(sums)), int(torch.argmax(sums)), int(order[len(order) // 2])]
    return torch.as_tensor(class_attributes)[picks].clone()
