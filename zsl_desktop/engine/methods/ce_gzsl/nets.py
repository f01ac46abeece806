"""Networks and losses of CE-GZSL (Han et al., CVPR 2021) and of IPCE's two changes.

Written from ``Hanzy1996/CE-GZSL@7bf5358ac4`` (``model.py``, ``losses.py``,
``CE_GZSL.py``) and METHODS.md section 5; pure functions, tested one by one
against hand-computed cases (``tests/test_ipce.py``). The formulas are in
``ipce.py``'s docstring.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def normal_init(module: nn.Module, generator: torch.Generator | None = None) -> None:
    """CE-GZSL's ``weights_init``: every Linear weight N(0, 0.02), bias 0 (seeded)."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=generator) * 0.02)
                if m.bias is not None:
                    m.bias.zero_()


class Generator(nn.Module):
    """G([eps; a]) = ReLU(FC2(LeakyReLU_0.2(FC1([eps; a])))) (``MLP_G``)."""

    def __init__(self, dim_a: int, nz: int, hidden: int, dim_x: int):
        super().__init__()
        self.nz = nz
        self.fc1 = nn.Linear(nz + dim_a, hidden)
        self.fc2 = nn.Linear(hidden, dim_x)

    def forward(self, noise: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.fc1(torch.cat((noise, a), 1)), 0.2)
        return F.relu(self.fc2(h))


class Critic(nn.Module):
    """D([x; a]) = FC2(LeakyReLU_0.2(FC1([x; a]))), a WGAN critic (``MLP_CRITIC``)."""

    def __init__(self, dim_x: int, dim_a: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim_x + dim_a, hidden)
        self.fc2 = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.leaky_relu(self.fc1(torch.cat((x, a), 1)), 0.2)).squeeze(1)


class Embedding(nn.Module):
    """h = ReLU(FC1(x)) (classified by the GZSL softmax); z = L2norm(FC2(h)) (contrastive space)."""

    def __init__(self, dim_x: int, dim_h: int, dim_z: int):
        super().__init__()
        self.fc1 = nn.Linear(dim_x, dim_h)
        self.fc2 = nn.Linear(dim_h, dim_z)

    def forward(self, x: torch.Tensor):
        h = F.relu(self.fc1(x))
        return h, F.normalize(self.fc2(h), dim=1)


class Comparator(nn.Module):
    """F([h; a]) = w2 . LeakyReLU_0.2(W_h h + W_a a + b1) + b2 (``Dis_Embed_Att``).

    The first layer is split into its image half ``fc_h`` (with the bias) and its
    class half ``fc_a``: the same function as one layer on [h; a], but a batch of
    B images against C classes costs B + C rows instead of B x C, and the image
    half can be cached per image (``image_half``) so that scoring a new class
    costs one row and one elementwise pass.
    """

    def __init__(self, dim_h: int, dim_a: int, hidden: int):
        super().__init__()
        self.fc_h = nn.Linear(dim_h, hidden)
        self.fc_a = nn.Linear(dim_a, hidden, bias=False)
        self.fc2 = nn.Linear(hidden, 1)

    def image_half(self, h: torch.Tensor) -> torch.Tensor:
        return self.fc_h(h)

    def class_half(self, a: torch.Tensor) -> torch.Tensor:
        return self.fc_a(a)

    def pair_scores(self, u: torch.Tensor, v: torch.Tensor, chunk: int = 1 << 22) -> torch.Tensor:
        """[B, C] scores from image halves u [B, H] and class halves v [C, H], chunked over B to bound memory."""
        rows = max(1, chunk // max(1, v.shape[0] * v.shape[1]))
        out = [
            F.leaky_relu(u[i : i + rows, None, :] + v[None], 0.2) @ self.fc2.weight.squeeze(0)
            for i in range(0, u.shape[0], rows)
        ]
        return torch.cat(out) + self.fc2.bias if out else u.new_zeros(0, v.shape[0])

    def forward(self, h: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Scores [B, C] of every image h against every class row a."""
        return self.pair_scores(self.image_half(h), self.class_half(a))


# -- losses ---------------------------------------------------------------------------------------
def gradient_penalty(
    critic: Critic,
    real: torch.Tensor,
    fake: torch.Tensor,
    a: torch.Tensor,
    generator: torch.Generator | None = None,
    alpha: torch.Tensor | None = None,
) -> torch.Tensor:
    """WGAN-GP: mean (||grad_x D(x_hat, a)||_2 - 1)^2, x_hat = alpha real + (1 - alpha) fake, alpha ~ U(0, 1).

    ``alpha`` [B, 1]: the mixing weights when drawn by the caller (torchrun: for the whole batch).
    """
    if alpha is None:
        alpha = torch.rand(real.shape[0], 1, generator=generator).to(real.device)
    x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    out = critic(x_hat, a)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    return ((grad.norm(2, dim=1) - 1) ** 2).mean()


def supcon_loss(z: torch.Tensor, labels: torch.Tensor, temperature: float) -> torch.Tensor:
    """CE-GZSL's ``SupConLoss_clear``: supervised contrastive loss on unit rows z.

    For anchor i with positives P(i) = {j != i : y_j = y_i}:
    l_i = -1/|P(i)| sum_{p in P(i)} log( exp(z_i.z_p / t) / sum_{j != i} exp(z_i.z_j / t) );
    anchors without a positive are left out of the mean (0 if none has one).
    """
    scale = torch.full((z.shape[0], z.shape[0]), 1.0 / temperature, device=z.device, dtype=z.dtype)
    return sample_contrastive(z @ z.t(), labels, scale)


def sample_contrastive(
    sim: torch.Tensor, labels: torch.Tensor, scale: torch.Tensor, margin: torch.Tensor | None = None
) -> torch.Tensor:
    """The sample-sample term on a similarity matrix: logits scale * (sim - margin), self excluded."""
    n = sim.shape[0]
    logits = scale * (sim if margin is None else sim - margin)
    self_mask = torch.eye(n, dtype=torch.bool, device=sim.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positive = (labels[:, None] == labels[None, :]) & ~self_mask
    count = positive.sum(1)
    has = count > 0
    if not bool(has.any()):
        return sim.sum() * 0.0
    per_anchor = torch.where(positive, log_prob, torch.zeros_like(log_prob)).sum(1)[has] / count[has]
    return -per_anchor.mean()


def comparator_loss(scores: torch.Tensor, targets: torch.Tensor, temperature: float) -> torch.Tensor:
    """Class-level loss: cross-entropy over the training classes of F(h, a_c) / t (``class_scores_in_matrix``)."""
    return F.cross_entropy(scores / temperature, targets)


# -- IPCE -----------------------------------------------------------------------------------------
def adaptive_scale(sim: torch.Tensor, positive: torch.Tensor, gamma: float, margin: float) -> torch.Tensor:
    """IPCE's instance-adaptive scale, computed on each anchor's own similarities (no gradient).

    positive pairs: gamma * [1 + m - s]_+ ; negative pairs: gamma * [s + m]_+ .
    A pair far from its optimum (s_p = 1 + m, s_n = -m) is scaled up, one already
    there is scaled down to zero: every similarity learns at its own pace, instead
    of all of them sharing one fixed temperature.
    """
    s = sim.detach()
    return gamma * torch.where(positive, (1 + margin - s).clamp_min(0), (s + margin).clamp_min(0))


def prototype_contrastive(
    z: torch.Tensor,
    labels: torch.Tensor,
    prototypes: torch.Tensor,
    margin: float,
    scale: str,
    temperature: float,
    gamma: float,
) -> torch.Tensor:
    """The prototype-sample term: softmax over the prototypes, additive margin m on the own prototype.

    ``labels`` are rows of ``prototypes`` (unit rows). Logit of anchor i for prototype c:
    s_ic * (cos(z_i, mu_c) - m [c = y_i]), s_ic = 1/t (``scale="fixed"``) or the adaptive scale.
    """
    sim = z @ prototypes.t()
    positive = F.one_hot(labels, prototypes.shape[0]).bool()
    s = adaptive_scale(sim, positive, gamma, margin) if scale == "adaptive" else 1.0 / temperature
    logits = s * (sim - margin * positive.to(sim.dtype))
    return F.cross_entropy(logits, labels)


def ipce_loss(
    z: torch.Tensor,
    labels: torch.Tensor,
    prototypes: torch.Tensor,
    margin: float,
    scale: str,
    temperature: float,
    gamma: float,
    sample_weight: float = 1.0,
    proto_rows: int | None = None,
):
    """L_PC = L_ps (prototype-sample, margin) + sample_weight * L_ss (sample-sample): (total, L_ps, L_ss).

    ``proto_rows``: only the first rows of z are anchors of L_ps (the generator step
    passes [z_fake; z_real] and supervises the fake rows with the prototypes).
    """
    n = z.shape[0] if proto_rows is None else proto_rows
    l_ps = prototype_contrastive(z[:n], labels[:n], prototypes, margin, scale, temperature, gamma)
    sim = z @ z.t()
    if scale == "adaptive":
        positive = labels[:, None] == labels[None, :]
        s = adaptive_scale(sim, positive, gamma, margin)
    else:
        s = torch.full_like(sim, 1.0 / temperature)
    l_ss = sample_contrastive(sim, labels, s)
    return l_ps + sample_weight * l_ss, l_ps, l_ss
