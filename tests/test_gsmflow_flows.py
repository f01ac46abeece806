"""The flow's blocks pass halves to each other: exactly the values and gradients of the plain formulation."""

import torch
import torch.nn.functional as F

from zsl_desktop.engine.methods.gsmflow.flows import ConditionalFlow, nll_loss, soft_clamp


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
