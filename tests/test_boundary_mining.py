"""Boundary sample mining (``methods/boundary_mining.py``): the loss by hand, samples moved toward the boundary
on their own side, the whole pass seeded and in row order."""

import pytest
import torch

from zsl_desktop.engine.methods.boundary_mining import (
    RelationNet,
    batch_targets,
    boundary_mining,
    mine_boundary_samples,
    mining_loss,
    softmax_entropy,
    train_relation,
)


def test_mining_loss_by_hand():
    r = torch.tensor([[0.8, 0.2]])
    onehot = torch.tensor([[1.0, 0.0]])
    mse = (0.2**2 + 0.2**2) / 2
    p = torch.softmax(r, 1)
    entropy = float(-(p * p.log()).sum())
    assert softmax_entropy(r).item() == pytest.approx(entropy)
    assert mining_loss(r, onehot, 10.0).item() == pytest.approx(mse - 10 * entropy)
    assert mining_loss(r, onehot, 0.0, 2.0).item() == pytest.approx(2 * mse)
    classes, target = batch_targets(torch.tensor([7, 3, 7]))
    assert classes.tolist() == [3, 7] and target.tolist() == [[0, 1], [1, 0], [0, 1]]


def _blobs(seed=0):
    g = torch.Generator().manual_seed(seed)
    attributes = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    y = torch.arange(2).repeat_interleave(40)
    x = torch.randn(80, 6, generator=g) * 0.3 + torch.tensor([1.5, 0, 0, 0, 0, 0]) * (2 * y[:, None] - 1)
    return x, y, attributes


def test_mining_moves_samples_toward_the_boundary_but_keeps_their_class():
    """METHODS.md 4.5: keep the true relation, maximise the entropy -> samples near the decision boundary."""
    x, y, attributes = _blobs()
    torch.manual_seed(0)
    net = RelationNet(6, 2, 32, torch.Generator().manual_seed(0))
    train_relation(net, x, y, attributes, 150, 40, 3e-3, 0.0, torch.Generator().manual_seed(1), lambda: None)
    with torch.no_grad():
        r = net(x, attributes)
    assert (r.argmax(1) == y).float().mean() == 1.0
    mined = mine_boundary_samples(
        net, x, y, attributes, 40, 20, 2.0, 10.0, 1.0, torch.Generator().manual_seed(2), lambda: None
    )
    with torch.no_grad():
        rm = net(mined, attributes)

    def margin(rel):
        return rel[torch.arange(len(y)), y] - rel[torch.arange(len(y)), 1 - y]

    assert mined.shape == x.shape and not torch.equal(mined, x)
    assert softmax_entropy(rm) > softmax_entropy(r)  # more uncertain
    assert margin(rm).mean() < margin(r).mean()  # closer to the boundary
    assert (rm.argmax(1) == y).float().mean() > 0.9  # still on their own side
    # Without the entropy term the same steps only make the relations more certain.
    sure = mine_boundary_samples(
        net, x, y, attributes, 40, 20, 2.0, 0.0, 1.0, torch.Generator().manual_seed(2), lambda: None
    )
    with torch.no_grad():
        assert margin(net(sure, attributes)).mean() >= margin(r).mean()


def test_boundary_mining_end_to_end_keeps_row_order():
    x, y, attributes = _blobs(1)
    hp = {
        "relation_hidden": 16,
        "relation_epochs": 5,
        "relation_batch": 32,
        "relation_lr": 1e-3,
        "relation_wd": 0.0,
        "mining_steps": 3,
        "mining_lr": 1.0,
        "entropy_weight": 10.0,
        "mse_weight": 1.0,
    }
    gens = tuple(torch.Generator().manual_seed(k) for k in range(3))
    mined = boundary_mining(x, y, attributes, hp, gens, lambda: None)
    assert mined.shape == x.shape and torch.isfinite(mined).all()
    assert (mined - x).norm(dim=1).max() < 2.0  # a nudge per row, not a new sample
    again = boundary_mining(
        x, y, attributes, hp, tuple(torch.Generator().manual_seed(k) for k in range(3)), lambda: None
    )
    assert torch.equal(mined, again)  # seeded
