"""GSMFlow's flow (``gsmflow/flows.py``): exact inverse and log-det, the blocks' halves against the plain
formulation (values and gradients), relative positioning and its anchors, the NLL and prototype losses, the
sampling temperature."""

import math

import pytest
import torch
import torch.nn.functional as F

from zsl_desktop.engine.methods.gsmflow.flows import (
    ConditionalFlow,
    RelativePositioning,
    choose_anchors,
    nll_loss,
    prototype_loss,
    soft_clamp,
)

D = 24  # a feature dimension for the sampling test (the tiny problem's)


def _plain_forward(flow, x, c, index):
    """The equations of flows.py's docstring, one concatenated tensor between blocks, subnets sliced."""

    def subnet(g, u, c_term):
        st = g.fc_out(F.leaky_relu(g.fc_u(u) + c_term, 0.2))
        return st[:, : g.dim_out], st[:, g.dim_out :]

    logdet = x.new_zeros(len(x))
    for block in flow.blocks:
        c2, c1 = block.g2.fc_c(c)[index], block.g1.fc_c(c)[index]
        x1, x2 = x[:, : block.len1], x[:, block.len1 :]
        s2, t2 = subnet(block.g2, x2, c2)
        s2 = soft_clamp(s2, block.clamp)
        y1 = x1 * torch.exp(s2) + t2
        s1, t1 = subnet(block.g1, y1, c1)
        s1 = soft_clamp(s1, block.clamp)
        x = torch.cat((y1, x2 * torch.exp(s1) + t1), 1)
        logdet = logdet + (s2.sum(1) + s1.sum(1))
    return x, logdet


def test_forward_and_its_gradients_match_the_plain_formulation_bit_for_bit():
    torch.manual_seed(0)
    flow = ConditionalFlow(11, 5, 16, 3, clamp=1.5)  # odd width: halves of 5 and 6
    flow.reset_parameters(torch.Generator().manual_seed(1), std=0.3)
    x, c, index = torch.randn(9, 11), torch.randn(4, 5), torch.randint(0, 4, (9,))
    results = []
    for forward in (flow.forward, lambda *a: _plain_forward(flow, *a)):
        flow.zero_grad(set_to_none=True)
        z, logdet = forward(x, c, index)
        nll_loss(z, logdet).backward()
        results.append((z.detach(), logdet.detach(), [p.grad.clone() for p in flow.parameters()]))
    (z, ld, grads), (z0, ld0, grads0) = results
    assert torch.equal(z, z0) and torch.equal(ld, ld0)
    assert all(torch.equal(g, g0) for g, g0 in zip(grads, grads0))
    with torch.no_grad():  # and the inverse undoes the forward
        assert torch.allclose(flow.inverse(z, c, index), x, atol=1e-5)


def test_prototypes_without_gradients_skip_a_product_and_give_the_same_values_bit_for_bit():
    """f^-1(0; c) for a slider move skips the last block's first layer on y1 = 0 (its bias, exactly)."""
    g = torch.Generator().manual_seed(5)
    flow = ConditionalFlow(dim=12, dim_cond=7, hidden=16, blocks=3)
    flow.reset_parameters(g, std=0.5)  # far from the identity: every layer matters
    c = torch.randn(4, 7, generator=g)
    plain = flow.inverse(torch.zeros(4, 12), c)
    calls = []
    handle = flow.blocks[-1].g1.fc_u.register_forward_hook(lambda *args: calls.append(1))
    with torch.no_grad():
        skipped = flow.prototypes(c)
    handle.remove()
    assert calls == []  # the product on zeros was skipped
    assert torch.equal(skipped, plain.detach())
    assert torch.equal(flow.prototypes(c), plain)  # with gradients: the plain inverse


def _random_flow(dim=6, cond=3, hidden=8, blocks=3, seed=0, std=0.5):
    """A flow with large random weights, far from the identity, in float64."""
    flow = ConditionalFlow(dim, cond, hidden, blocks).double()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in flow.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * std)
    return flow


# -- the flow -----------------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [6, 7])
def test_flow_inverts_to_numerical_precision(dim):
    flow = _random_flow(dim)
    x = torch.randn(20, dim, dtype=torch.float64)
    c = torch.randn(20, 3, dtype=torch.float64)
    z, _ = flow(x, c)
    assert (z - x).abs().max() > 0.1  # not the identity
    assert torch.allclose(flow.inverse(z, c), x, atol=1e-12, rtol=0)
    assert torch.allclose(flow(flow.inverse(x, c), c)[0], x, atol=1e-12, rtol=0)


def test_flow_float32_round_trip_at_feature_scale():
    flow = ConditionalFlow(1280, 64, 32, 3)
    flow.reset_parameters(torch.Generator().manual_seed(0), std=0.05)
    x = torch.rand(8, 1280)
    c = torch.rand(2, 64)
    index = torch.tensor([0, 1] * 4)
    z, _ = flow(x, c, index)
    assert torch.allclose(flow.inverse(z, c, index), x, atol=1e-5)


def test_log_determinant_matches_the_brute_force_jacobian():
    flow = _random_flow(6)
    c = torch.randn(1, 3, dtype=torch.float64)
    for i in range(4):
        x = torch.randn(1, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(i))
        jac = torch.autograd.functional.jacobian(lambda v: flow(v[None], c)[0][0], x[0])
        _, logdet = flow(x, c)
        sign, expected = torch.linalg.slogdet(jac)
        assert sign.item() == 1.0  # e(s) > 0: the map preserves orientation
        assert logdet.item() == pytest.approx(expected.item(), abs=1e-10)


def test_condition_index_is_the_same_as_per_row_conditions():
    flow = _random_flow(6)
    x = torch.randn(5, 6, dtype=torch.float64)
    distinct = torch.randn(2, 3, dtype=torch.float64)
    index = torch.tensor([0, 1, 1, 0, 1])
    z1, l1 = flow(x, distinct, index)
    z2, l2 = flow(x, distinct[index])
    assert torch.allclose(z1, z2) and torch.allclose(l1, l2)
    assert torch.allclose(flow.inverse(z1, distinct, index), flow.inverse(z1, distinct[index]))


def test_soft_clamp_bounds_the_log_scale():
    s = torch.tensor([-1e6, -1.0, 0.0, 1.0, 1e6], dtype=torch.float64)
    out = soft_clamp(s, 1.0)
    assert out.abs().max() < 1.0 and out[2] == 0
    assert out[3].item() == pytest.approx(0.636 * math.atan(1.0))
    assert soft_clamp(torch.tensor([4.0]), 2.0).item() == pytest.approx(2 * 0.636 * math.atan(2.0))


def test_released_initialisation_starts_near_the_identity():
    flow = ConditionalFlow(10, 4, 16, 3)
    flow.reset_parameters(torch.Generator().manual_seed(0))
    assert all(p.abs().max() < 0.06 for p in flow.parameters())  # 0.01 * N(0, 1)
    x = torch.rand(4, 10)
    assert torch.allclose(flow(x, torch.rand(4, 4))[0], x, atol=0.05)


# -- relative positioning -------------------------------------------------------------------------
def test_anchors_are_min_max_and_median_cosine_row_sums():
    a = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.1, 0.0], [1.0, 0.2, 0.1], [0.9, 0.3, 0.2], [0.0, 0.0, 1.0]])
    sums = (torch.nn.functional.normalize(a, dim=1) @ torch.nn.functional.normalize(a, dim=1).t()).sum(1)
    order = torch.argsort(sums)
    anchors = choose_anchors(a)
    assert torch.equal(anchors[0], a[4])  # the isolated class: smallest row sum
    assert torch.equal(anchors[1], a[int(torch.argmax(sums))])
    assert torch.equal(anchors[2], a[int(order[2])])  # sorted position n // 2


def test_global_semantic_vector_is_a_sum_of_relu_responses_to_offsets():
    anchors = torch.rand(3, 5)
    gsm = RelativePositioning(anchors, 7)
    a = torch.rand(4, 5)
    expected = sum(torch.relu((a - anchors[k]) @ gsm.weight[k].t() + gsm.bias[k]) for k in range(3))
    assert torch.allclose(gsm(a), expected, atol=1e-6)
    assert gsm(anchors[:1]).shape == (1, 7)


# -- the losses and sampling ------------------------------------------------------------------------
def _identity_flow(dim=6, cond=3):
    flow = ConditionalFlow(dim, cond, 8, 2)
    with torch.no_grad():
        for p in flow.parameters():
            p.zero_()  # s = t = 0 in every block: f is the identity, log|J| = 0
    return flow


def test_nll_is_half_mean_square_minus_log_det_per_dimension():
    z = torch.tensor([[1.0, 2.0], [0.0, -2.0]])
    logdet = torch.tensor([0.5, 1.5])
    assert nll_loss(z, logdet).item() == pytest.approx((1 + 4 + 0 + 4) / 4 / 2 - 1.0 / 2)
    flow = _identity_flow()
    x = torch.randn(5, 6)
    z, ld = flow(x, torch.randn(5, 3))
    assert torch.equal(z, x) and torch.equal(ld, torch.zeros(5))


def test_prototype_loss_pulls_the_z0_prototype_toward_the_real_class_mean_and_trains_only_the_flow():
    """METHODS.md 4.3: lambda_p * MSE(f^-1(0; a_g(c)), x_bar_c) with a_g under no_grad."""
    torch.manual_seed(0)  # unseeded, the random anchors made this test fail now and then (order-dependent)
    flow = _identity_flow()
    gsm = RelativePositioning(torch.rand(3, 4), 3)
    means = torch.tensor([[1.0, 2, 3, 4, 5, 6], [0.0, 0, 0, 0, 0, 2]])
    loss = prototype_loss(flow, gsm, torch.rand(2, 4), means)
    assert loss.item() == pytest.approx(float((means**2).mean()))  # f^-1(0) = 0 for the identity flow
    loss.backward()
    assert all(p.grad is None for p in gsm.parameters())  # the semantic module is not updated by it
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in flow.parameters())
    # Gradient steps on this loss alone move each class's prototype to its own class mean.
    flow = ConditionalFlow(6, 3, 8, 2)
    flow.reset_parameters(torch.Generator().manual_seed(0), std=0.1)
    optimizer = torch.optim.Adam(flow.parameters(), lr=0.1)
    attributes = torch.rand(2, 4)
    for _ in range(150):
        optimizer.zero_grad()
        prototype_loss(flow, gsm, attributes, means).backward()
        optimizer.step()
    with torch.no_grad():
        assert torch.allclose(flow.inverse(torch.zeros(2, 6), gsm(attributes)), means, atol=0.05)


def test_synth_temperature_scales_the_base_noise():
    """temperature 0 samples the prototypes; temperature 1 is the default draw, bit for bit."""
    flow = ConditionalFlow(D, 8, 16, 2, 1.0)
    flow.reset_parameters(torch.Generator().manual_seed(0))
    flow.eval()
    c = torch.randn(3, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        default = flow.sample(c, 4, torch.Generator().manual_seed(2))
        same = flow.sample(c, 4, torch.Generator().manual_seed(2), temperature=1.0)
        cold = flow.sample(c, 4, torch.Generator().manual_seed(2), temperature=0.0)
        warm = flow.sample(c, 4, torch.Generator().manual_seed(2), temperature=1.5)
        prototypes = flow.prototypes(c)
    assert torch.equal(default, same)
    torch.testing.assert_close(cold, prototypes.repeat_interleave(4, 0), rtol=1e-5, atol=1e-5)
    spread = [(x.reshape(3, 4, D) - prototypes[:, None]).norm(dim=2).mean() for x in (default, warm)]
    assert spread[1] > spread[0]
