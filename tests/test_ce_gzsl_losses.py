"""CE-GZSL's and IPCE's losses and networks against hand-computed cases (``ce_gzsl/nets.py``).

Apart from ``test_ipce.py`` (training, scoring, persistence): these need no trained model and read against the
papers' formulas.
"""

from __future__ import annotations

import math

import pytest
import torch

from zsl_desktop.engine.methods.ce_gzsl.nets import (
    Comparator,
    Critic,
    adaptive_scale,
    comparator_loss,
    gradient_penalty,
    ipce_loss,
    prototype_contrastive,
    supcon_loss,
)

# -- losses, by hand ---------------------------------------------------------------------------------


def lse(*values):
    return math.log(sum(math.exp(v) for v in values))


def test_supcon_by_hand():
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    labels = torch.tensor([0, 0, 1])
    # anchor 0: positive 1 (sim 0), others {1: 0, 2: 1}; anchor 1: positive 0 (sim 0), others {0: 0, 2: 0};
    # anchor 2 has no positive and is left out. Temperature 0.5 doubles every logit.
    expected = ((lse(0, 2) - 0) + (lse(0, 0) - 0)) / 2
    assert supcon_loss(z, labels, 0.5).item() == pytest.approx(expected, rel=1e-6)


def test_supcon_without_any_positive_is_zero_not_nan():
    z = torch.nn.functional.normalize(torch.randn(3, 4), dim=1)
    assert supcon_loss(z, torch.tensor([0, 1, 2]), 0.1).item() == 0.0


def test_comparator_loss_by_hand():
    scores = torch.tensor([[2.0, 0.0]])
    assert comparator_loss(scores, torch.tensor([0]), 0.5).item() == pytest.approx(math.log(1 + math.exp(-4)), rel=1e-5)


def test_prototype_term_fixed_scale_with_margin_by_hand():
    z = torch.tensor([[0.6, 0.8]])
    protos = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # logits: own prototype (0.6 - 0.25) / 0.5 = 0.7, other 0.8 / 0.5 = 1.6
    got = prototype_contrastive(z, torch.tensor([0]), protos, 0.25, "fixed", 0.5, 99.0)
    assert got.item() == pytest.approx(lse(0.7, 1.6) - 0.7, rel=1e-6)


def test_adaptive_scale_by_hand():
    sim = torch.tensor([[0.6, 0.8, -0.5]])
    positive = torch.tensor([[True, False, False]])
    # positive: 2 * (1.25 - 0.6); negatives: 2 * (0.8 + 0.25), and 0 below -m
    assert torch.allclose(adaptive_scale(sim, positive, 2.0, 0.25), torch.tensor([[1.3, 2.1, 0.0]]))


def test_prototype_term_adaptive_scale_by_hand():
    z = torch.tensor([[0.6, 0.8]])
    protos = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # own prototype: scale 1.3, logit 1.3 * (0.6 - 0.25) = 0.455; other: scale 2.1, logit 2.1 * 0.8 = 1.68
    got = prototype_contrastive(z, torch.tensor([0]), protos, 0.25, "adaptive", 0.1, 2.0)
    assert got.item() == pytest.approx(lse(0.455, 1.68) - 0.455, rel=1e-6)


def test_adaptive_scale_carries_no_gradient():
    """The scales are constants for back-propagation (as Circle loss's weights)."""
    z = torch.tensor([[0.6, 0.8]], requires_grad=True)
    protos = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    prototype_contrastive(z, torch.tensor([0]), protos, 0.25, "adaptive", 0.1, 2.0).backward()
    # d/dz of 1.3 (z.mu0 - 0.25) and 2.1 z.mu1 under softmax: (p - onehot) weighted by the constant scales
    p = torch.softmax(torch.tensor([0.455, 1.68]), 0)
    expected = (p[0] - 1) * 1.3 * protos[0] + p[1] * 2.1 * protos[1]
    assert torch.allclose(z.grad[0], expected, atol=1e-6)


def test_ipce_loss_by_hand():
    z = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 1])
    protos = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    gamma, m = 2.0, 0.25
    # prototype-sample: anchors 0 and 2 sit on their prototype (scale 0.5, logit 0.375; other: scale 0.5,
    # logit 0); anchor 1 as in the single-row case above.
    l_ps = (2 * (lse(0.375, 0.0) - 0.375) + (lse(0.455, 1.68) - 0.455)) / 3
    # sample-sample (no margin): anchor 0 -> positive 1 (sim .6, scale 1.3, logit .78), negative 2 (sim 0,
    # scale .5, logit 0); anchor 1 -> positive 0 (logit .78), negative 2 (sim .8, scale 2.1, logit 1.68);
    # anchor 2 has no positive.
    l_ss = ((lse(0.78, 0.0) - 0.78) + (lse(0.78, 1.68) - 0.78)) / 2
    total, ps, ss = ipce_loss(z, labels, protos, m, "adaptive", 0.1, gamma, sample_weight=0.5)
    assert ps.item() == pytest.approx(l_ps, rel=1e-6)
    assert ss.item() == pytest.approx(l_ss, rel=1e-6)
    assert total.item() == pytest.approx(l_ps + 0.5 * l_ss, rel=1e-6)
    # the generator step: only the first rows anchor the prototype term
    _, ps_fake, _ = ipce_loss(z, labels, protos, m, "adaptive", 0.1, gamma, proto_rows=1)
    assert ps_fake.item() == pytest.approx(lse(0.375, 0.0) - 0.375, rel=1e-6)


def test_ipce_fixed_scale_without_margin_is_supcon_plus_prototype_softmax():
    torch.manual_seed(0)
    z = torch.nn.functional.normalize(torch.randn(8, 5), dim=1)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 2, 1])
    protos = torch.nn.functional.normalize(torch.randn(3, 5), dim=1)
    _, ps, ss = ipce_loss(z, labels, protos, 0.0, "fixed", 0.2, 1.0)
    assert ss.item() == pytest.approx(supcon_loss(z, labels, 0.2).item(), rel=1e-6)
    assert ps.item() == pytest.approx(torch.nn.functional.cross_entropy(z @ protos.t() / 0.2, labels).item(), rel=1e-6)


def test_gradient_penalty_by_hand():
    critic = Critic(2, 1, 2)
    with torch.no_grad():  # hidden = x + 10 > 0, so the critic is linear: D = 3 x0 + 4 x1 + const
        critic.fc1.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
        critic.fc1.bias.fill_(10.0)
        critic.fc2.weight.copy_(torch.tensor([[3.0, 4.0]]))
    real, fake, a = torch.rand(5, 2), torch.rand(5, 2), torch.rand(5, 1)
    assert gradient_penalty(critic, real, fake, a).item() == pytest.approx((5.0 - 1.0) ** 2, rel=1e-6)


def test_split_comparator_equals_one_layer_on_the_concatenation():
    torch.manual_seed(1)
    comp = Comparator(6, 3, 5)
    joint = torch.nn.Linear(9, 5)
    with torch.no_grad():
        joint.weight.copy_(torch.cat((comp.fc_h.weight, comp.fc_a.weight), 1))
        joint.bias.copy_(comp.fc_h.bias)
    h, a = torch.randn(4, 6), torch.randn(7, 3)
    pairs = torch.cat((h[:, None].expand(4, 7, 6), a[None].expand(4, 7, 3)), 2)
    expected = comp.fc2(torch.nn.functional.leaky_relu(joint(pairs), 0.2)).squeeze(-1)
    assert torch.allclose(comp(h, a), expected, atol=1e-5)
    assert torch.allclose(comp.pair_scores(comp.image_half(h), comp.class_half(a), chunk=40), expected, atol=1e-5)
