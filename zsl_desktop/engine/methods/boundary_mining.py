"""Boundary sample mining (GSMFlow TMM): a training-set augmentation any feature generator can use.

A relation network R(x, a) is trained with MSE against one-hot relations over the classes of each batch
(``train_relation``); then SGD on copies of the training rows keeps their class relation while maximising the
entropy of the relations (``mining_loss``), which moves them toward the class boundaries
(``mine_boundary_samples``). ``boundary_mining`` runs both and returns one mined row per training row.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from zsl_desktop.engine.sharding import Shards


class RelationNet(nn.Module):
    """R(x, a) = sigmoid(w2 . ReLU(W_x x~ + W_a a~ + b1) + b2): RelationNetV2 with its first layer split.

    x~ and a~ are the inputs standardised per dimension (statistics of the training
    rows and of the class rows, set by ``standardize``), and each half of the first
    layer has nn.Linear's init for its own fan-in. Both are reparametrisations of
    the released network (the layer absorbs any affine map of its input); why:
    on raw [0, 1] features the released setup sat at the constant answer 1/C for
    hundreds of steps here (the class term was ~10x smaller than the image term),
    standardised it learns in ~30 epochs.
    """

    def __init__(self, dim_x: int, dim_a: int, hidden: int, generator: torch.Generator | None = None):
        super().__init__()
        self.fc_x = nn.Linear(dim_x, hidden)
        self.fc_a = nn.Linear(dim_a, hidden, bias=False)
        self.fc_out = nn.Linear(hidden, 1)
        for name, size in (("x_mean", dim_x), ("x_scale", dim_x), ("a_mean", dim_a), ("a_scale", dim_a)):
            self.register_buffer(name, torch.zeros(size) if name.endswith("mean") else torch.ones(size))
        with torch.no_grad():
            for layer, fan_in in ((self.fc_x, dim_x), (self.fc_a, dim_a), (self.fc_out, hidden)):
                for p in layer.parameters():
                    p.copy_((torch.rand(p.shape, generator=generator) * 2 - 1) / math.sqrt(fan_in))

    def standardize(self, x: torch.Tensor, attributes: torch.Tensor) -> None:
        with torch.no_grad():
            for prefix, v in (("x", x), ("a", attributes)):
                getattr(self, f"{prefix}_mean").copy_(v.mean(0))
                getattr(self, f"{prefix}_scale").copy_(v.std(0).clamp_min(1e-6) if len(v) > 1 else 1.0)

    def class_term(self, a: torch.Tensor) -> torch.Tensor:
        return self.fc_a((a - self.a_mean) / self.a_scale)

    def forward(self, x: torch.Tensor, a: torch.Tensor, a_term: torch.Tensor | None = None) -> torch.Tensor:
        """Relations [B, C] of every row with every class row of ``a``."""
        a_term = self.class_term(a) if a_term is None else a_term
        h = F.relu(self.fc_x((x - self.x_mean) / self.x_scale)[:, None, :] + a_term[None])
        return torch.sigmoid(self.fc_out(h).squeeze(-1))


def batch_targets(y: torch.Tensor):
    """(distinct classes, one-hot [B, C] over them) for one batch: the relation net's target."""
    classes, position = torch.unique(y, return_inverse=True)
    return classes, F.one_hot(position, len(classes)).float()


def softmax_entropy(r: torch.Tensor) -> torch.Tensor:
    """Mean over rows of H(softmax(r)) (the released ``entropy_loss``, on the sigmoid relations)."""
    return -(F.softmax(r, 1) * F.log_softmax(r, 1)).sum(1).mean()


def mining_loss(r: torch.Tensor, onehot: torch.Tensor, entropy_weight: float, mse_weight: float = 1.0):
    """MSE(R(x'), onehot) - entropy_weight * H(softmax(R(x'))): keep the class, move toward the boundary."""
    return mse_weight * F.mse_loss(r, onehot) - entropy_weight * softmax_entropy(r)


def train_relation(
    net, x, y, attributes, epochs, batch_size, lr, weight_decay, generator, check, shards: Shards | None = None
) -> list:
    """MSE against one-hot relations over the classes of each batch; returns the loss per epoch.

    ``shards``: under torchrun each rank computes its part of every batch (the targets stay the whole batch's).
    """
    shards = shards or Shards()
    optimizer = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    losses = []
    for _ in range(int(epochs)):
        order, total = torch.randperm(len(x), generator=generator), 0.0
        for first in range(0, len(x), batch_size):
            check()
            batch = order[first : first + batch_size]
            classes, onehot = batch_targets(y[batch])
            part = shards.part(len(batch))
            loss = F.mse_loss(net(x[part.of(batch)], attributes[classes]), part.of(onehot))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            (value,) = shards.average_gradients(optimizer, part.share, loss)
            optimizer.step()
            total += value * len(batch)
        losses.append(total / len(x))
    return losses


def mine_boundary_samples(
    net, x, y, attributes, batch_size, steps, lr, entropy_weight, mse_weight, generator, check, shards=None
) -> torch.Tensor:
    """One pass: every row x becomes x' after ``steps`` plain SGD steps on ``mining_loss`` (row order kept).

    Each row's steps depend on its batch only through the batch's classes and size, so under
    torchrun each rank mines its part of every batch (its loss weighted by its share, which
    gives every row the step of the whole batch) and the mined rows are summed across ranks.
    """
    shards = shards or Shards()
    mined = torch.zeros_like(x) if shards.active else torch.empty_like(x)
    order = torch.randperm(len(x), generator=generator)
    for first in range(0, len(x), batch_size):
        check()
        batch = order[first : first + batch_size]
        classes, onehot = batch_targets(y[batch])
        part = shards.owns(len(batch))
        pick, share = batch[part], len(batch[part]) / len(batch)
        if not len(pick):
            continue
        with torch.no_grad():
            a_term = net.class_term(attributes[classes])
        xm = x[pick].clone()
        for _ in range(int(steps)):
            xm.requires_grad_(True)
            loss = mining_loss(net(xm, None, a_term), onehot[part], entropy_weight, mse_weight)
            if share != 1.0:
                loss = loss * share
            (grad,) = torch.autograd.grad(loss, xm)
            xm = (xm - lr * grad).detach()
        mined[pick] = xm
    return shards.gather_rows(mined)


def boundary_mining(x, y, attributes, hp: dict, generators, check, shards: Shards | None = None) -> torch.Tensor:
    """Train a relation network on (x, y), then mine one boundary sample per row (same order as x).

    hp: relation_hidden, relation_epochs, relation_batch, relation_lr, relation_wd,
    mining_steps, mining_lr, entropy_weight, mse_weight; ``generators``: three torch
    generators (initialisation, relation batches, mining batches).
    """
    init, batches, mining = generators
    net = RelationNet(x.shape[1], attributes.shape[1], int(hp["relation_hidden"]), init).to(x.device)
    net.standardize(x, attributes)
    train_relation(
        net,
        x,
        y,
        attributes,
        hp["relation_epochs"],
        int(hp["relation_batch"]),
        hp["relation_lr"],
        hp["relation_wd"],
        batches,
        check,
        shards,
    )
    net.eval()
    return mine_boundary_samples(
        net,
        x,
        y,
        attributes,
        int(hp["relation_batch"]),
        hp["mining_steps"],
        hp["mining_lr"],
        hp["entropy_weight"],
        hp["mse_weight"],
        mining,
        check,
        shards,
    )
