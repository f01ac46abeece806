"""ChunkedAdam takes exactly Adam(foreach=True)'s steps: same weights and moments, bit for bit."""

import copy

import pytest
import torch

from zsl_desktop.engine.methods.chunked_adam import CHUNK, ChunkedAdam, FusedCpuAdam

# Odd sizes: a tail shorter than a vector, a tensor spanning two chunks with a ragged end, a scalar.
SHAPES = [(7, 13), (1001,), (CHUNK + 4099,), (3, 40, 31), ()]


def _params(seed: int):
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s, generator=g) * 0.1) for s in SHAPES]


def _run(optimizer_cls, steps: int, seed: int = 0, skip_grad_of=None, **kw):
    params = _params(seed)
    optimizer = optimizer_cls(params, **kw)
    g = torch.Generator().manual_seed(seed + 1)
    for step in range(steps):
        for i, p in enumerate(params):
            p.grad = None if (skip_grad_of == i and step % 2) else torch.randn(p.shape, generator=g)
        optimizer.step()
    return params, optimizer


def _assert_same(a_params, a_opt, b_params, b_opt):
    for p, q in zip(a_params, b_params):
        assert torch.equal(p, q)
        for key in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(a_opt.state[p][key], b_opt.state[q][key]), key


@pytest.mark.parametrize("weight_decay", [0.0, 3e-5])
@pytest.mark.parametrize("foreach", [True, None])  # None: the CPU default, one tensor at a time
def test_chunked_steps_match_adam_bit_for_bit(weight_decay, foreach):
    kw = dict(lr=1e-3, betas=(0.5, 0.999), weight_decay=weight_decay)
    reference = _run(lambda ps, **k: torch.optim.Adam(ps, foreach=foreach, **k), 6, skip_grad_of=1, **kw)
    chunked = _run(ChunkedAdam, 6, skip_grad_of=1, **kw)
    _assert_same(*reference, *chunked)
    assert not torch.equal(reference[0][0], _params(0)[0])  # the steps moved the weights


def test_state_moves_between_adam_and_chunked_adam():
    """A checkpoint written by one resumes in the other with the very same steps."""
    kw = dict(lr=2e-3, weight_decay=1e-4)
    params, adam = _run(lambda ps, **k: torch.optim.Adam(ps, foreach=True, **k), 3, **kw)
    twin = [torch.nn.Parameter(p.detach().clone()) for p in params]
    chunked = ChunkedAdam(twin, **kw)
    chunked.load_state_dict(copy.deepcopy(adam.state_dict()))  # Adam would share the moments
    g = torch.Generator().manual_seed(5)
    for _ in range(3):
        for p, q in zip(params, twin):
            p.grad = torch.randn(p.shape, generator=g)
            q.grad = p.grad.clone()
        adam.step()
        chunked.step()
    _assert_same(params, adam, twin, chunked)


def test_what_it_does_not_cover_goes_to_adam():
    """A non-contiguous parameter: the step falls back to Adam's own, with the same result."""
    base = torch.randn(6, 5)
    a, b = torch.nn.Parameter(base.clone().t()), torch.nn.Parameter(base.clone().t())
    assert not a.is_contiguous()
    adam, chunked = torch.optim.Adam([a], lr=1e-2, foreach=True), ChunkedAdam([b], lr=1e-2)
    for _ in range(2):
        a.grad = torch.ones_like(a)
        b.grad = torch.ones_like(b)
        adam.step()
        chunked.step()
    assert torch.equal(a, b)


def test_fused_cpu_adam_follows_adam_within_rounding():
    """FusedCpuAdam runs torch's fused kernel: Adam's steps up to float32 rounding, not bit for bit."""
    kw = dict(lr=1e-3, betas=(0.5, 0.999), weight_decay=3e-5)
    reference = _run(lambda ps, **k: torch.optim.Adam(ps, foreach=True, **k), 6, skip_grad_of=1, **kw)
    with torch.profiler.profile() as trace:
        fused = _run(FusedCpuAdam, 6, skip_grad_of=1, **kw)
    assert any("_fused_adam" in event.name for event in trace.events())
    for p, q in zip(reference[0], fused[0]):
        torch.testing.assert_close(q, p, rtol=1e-5, atol=1e-7)
        for key in ("exp_avg", "exp_avg_sq", "step"):
            torch.testing.assert_close(fused[1].state[q][key], reference[1].state[p][key], rtol=1e-5, atol=1e-9)
    assert all(not group["fused"] and group["foreach"] for group in fused[1].state_dict()["param_groups"])


def test_fused_cpu_adam_hands_what_it_cannot_fuse_to_adam():
    """amsgrad has no chunked step: the very same steps as Adam(foreach=True)."""
    kw = dict(lr=1e-3, weight_decay=1e-4)
    reference = _run(lambda ps, **k: torch.optim.Adam(ps, foreach=True, amsgrad=True, **k), 3, **kw)

    def amsgrad(params, **k):
        optimizer = FusedCpuAdam(params, **k)
        optimizer.param_groups[0]["amsgrad"] = True
        return optimizer

    fallback = _run(amsgrad, 3, **kw)
    _assert_same(*reference, *fallback)
