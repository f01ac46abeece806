"""MSDNNet's forward pass against the model written out term by term (einsum over [B, A, R]): the same outputs,
attention maps and parameter gradients, whatever layout the fast path computes them in."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from zsl_desktop.engine.methods.msdn.nets import MSDNNet


def written_out(net: MSDNNet, grid: torch.Tensor, normalize_v: bool):
    """psi1, psi2 [B, A] and alpha, beta [B, A, R] straight from the docstring's formulas, in float32."""
    b, c = grid.shape[:2]
    f = F.normalize(grid.reshape(b, c, -1), dim=1)  # [B, C, R]
    v = F.normalize(net.V, dim=1) if normalize_v else net.V

    def form(w: torch.Tensor) -> torch.Tensor:  # v_i' W f_r: [B, A, R]
        return torch.einsum("id,dc,bcr->bir", v, w, f)

    alpha = torch.softmax(form(net.W_2), dim=2)  # over regions
    beta = torch.softmax(form(net.W_2_1), dim=1)  # over attributes
    psi_av = (alpha * form(net.W_1)).sum(2)
    psi_va = (beta * form(net.W_1_1.t())).sum(2)
    return psi_av, psi_va, alpha, beta


def trained_looking_net(attributes=13, channels=24, dim_v=7, seed=0) -> MSDNNet:
    net = MSDNNet(attributes, channels, dim_v)
    net.reset(np.random.default_rng(seed).normal(size=(attributes, dim_v)), seed)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # W_2, W_1_1, W_2_1 start at 0: give every product a say
        for w in (net.W_2, net.W_1_1, net.W_2_1):
            w.copy_(0.5 * torch.randn(w.shape, generator=generator))
    return net


def outputs_and_gradients(net: MSDNNet, grid, normalize_v, forward, weights):
    net.zero_grad(set_to_none=True)
    psi_av, psi_va, alpha, beta = forward(net, grid, normalize_v)
    # every output in the loss, each with its own weights, so a wrong gradient anywhere shows
    loss = (
        (psi_av * weights[0]).sum()
        + (psi_va * weights[1]).sum()
        + (alpha * weights[2]).sum()
        + (beta * weights[3]).sum()
    )
    loss.backward()
    grads = [p.grad.clone() for p in (net.V, net.W_1, net.W_2, net.W_1_1, net.W_2_1)]
    return [t.detach() for t in (psi_av, psi_va, alpha, beta)], grads


def fast(dtype=torch.float32):
    def forward(net, grid, normalize_v):
        out = net(grid, normalize_v, maps=True, dtype=dtype)
        return out.psi_av, out.psi_va, out.alpha, out.beta

    return forward


@pytest.mark.parametrize("normalize_v", [False, True])
@pytest.mark.parametrize("grid_shape", [(5, 24, 3, 4), (1, 24, 2, 2)])
def test_forward_and_gradients_match_the_written_out_model(normalize_v, grid_shape):
    net = trained_looking_net()
    grid = torch.rand(grid_shape, generator=torch.Generator().manual_seed(1))
    shapes = [(grid_shape[0], 13)] * 2 + [(grid_shape[0], 13, grid_shape[2] * grid_shape[3])] * 2
    weights = [torch.randn(s, generator=torch.Generator().manual_seed(2 + i)) for i, s in enumerate(shapes)]
    want, want_grads = outputs_and_gradients(net, grid, normalize_v, written_out, weights)
    got, got_grads = outputs_and_gradients(net, grid, normalize_v, fast(), weights)
    for w, g in zip(want + want_grads, got + got_grads):
        assert g.shape == w.shape
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got[2].sum(2), torch.ones(grid_shape[0], 13))  # alpha: over regions
    torch.testing.assert_close(got[3].sum(1), torch.ones(grid_shape[0], grid_shape[2] * grid_shape[3]))  # beta


def test_bfloat16_products_stay_close_to_float32():
    """bfloat16 rounds only the products' operands (~3 significant digits): outputs and gradients stay near."""
    net = trained_looking_net()
    grid = torch.rand(4, 24, 3, 3, generator=torch.Generator().manual_seed(1))
    shapes = [(4, 13)] * 2 + [(4, 13, 9)] * 2
    weights = [torch.randn(s, generator=torch.Generator().manual_seed(2 + i)) for i, s in enumerate(shapes)]
    want, want_grads = outputs_and_gradients(net, grid, False, written_out, weights)
    got, got_grads = outputs_and_gradients(net, grid, False, fast(torch.bfloat16), weights)
    for w, g in zip(want + want_grads, got + got_grads):
        assert g.dtype == torch.float32
        assert float((g - w).abs().max()) <= 0.05 * float(w.abs().max()) + 1e-3
