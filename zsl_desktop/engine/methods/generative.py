"""Shared pieces of the generative methods (GSMFlow, CE-GZSL, IPCE).

- ``generator_for``: torch generators seeded by (seed, epoch, purpose), so a resumed run repeats itself.
- ``FeatureScaler``: min-max per dimension fitted on the training rows, then
  divided by the largest scaled training value (METHODS.md 1.1), as the
  released generative code does.
- ``fit_softmax``: the final GZSL classifier, a linear softmax (LINEAR_LOGSOFTMAX:
  Xavier-normal weights, zero bias, Adam with beta1 = 0.5, NLL), trained on
  real seen + synthesised unseen features; ``averaged_softmax``: the mean of one
  per synthetic draw (``classifier_draws``).
- ``nearest_class_mean_accuracy``: how often a synthesised feature is
  closest to the real mean of its own class.

Beside it, each with one job: ``gzsl_head.py`` (GSMFlow's classifier in code space with prototype columns for
drawn classes), ``class_rows.py`` (which trained column a class row is), ``boundary_mining.py`` (GSMFlow-TMM's
boundary samples).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def generator_for(*keys: int) -> torch.Generator:
    """A torch generator seeded from several integers (seed, epoch, purpose), reproducible on resume."""
    seed = int(np.random.SeedSequence([int(k) & 0xFFFFFFFF for k in keys]).generate_state(1)[0])
    return torch.Generator().manual_seed(seed)


class FeatureScaler:
    """x -> (x - lo) / scale, scale = (hi - lo) * max of the min-max-scaled training rows."""

    def __init__(self, lo: torch.Tensor, scale: torch.Tensor):
        self.lo, self.scale = lo.float(), scale.float()

    @classmethod
    def fit(cls, x: torch.Tensor) -> "FeatureScaler":
        lo, hi = x.min(0).values, x.max(0).values
        span = torch.where(hi - lo > 0, hi - lo, torch.ones_like(hi))  # constant dims: sklearn's scale 1
        top = ((x - lo) / span).max().clamp_min(1e-12)
        return cls(lo, span * top)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.lo.to(x.device)) / self.scale.to(x.device)

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale.to(x.device) + self.lo.to(x.device)

    def state(self, prefix: str) -> dict:
        return {f"{prefix}lo": self.lo.clone(), f"{prefix}scale": self.scale.clone()}

    @classmethod
    def from_state(cls, state: dict, prefix: str) -> "FeatureScaler":
        return cls(torch.as_tensor(state[f"{prefix}lo"]), torch.as_tensor(state[f"{prefix}scale"]))


def fit_softmax(
    x: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    epochs: int,
    batch_size: int,
    lr: float,
    beta1: float = 0.5,
    generator: torch.Generator | None = None,
    check=None,
    weight_decay: float = 0.0,
):
    """Linear softmax classifier -> (weight [K, d], bias [K]); ``check`` is called every batch (cancel).

    ``weight_decay``: Adam's L2 term (0, the default, is Adam without it, bit for bit).

    Under torchrun every rank trains the whole classifier (the same one): its steps are so small that
    an all-reduce per step cost more than the step (CUB-sized, 2 gloo ranks: 1.9 CPU s per rank against
    1.7 s for the whole fit alone), so the generative methods shard what feeds it instead.
    """
    n, d = x.shape
    weight = torch.randn(num_classes, d, generator=generator) * math.sqrt(2.0 / (d + num_classes))
    weight = weight.to(x.device).requires_grad_()
    bias = torch.zeros(num_classes, device=x.device, requires_grad=True)
    optimizer = torch.optim.Adam([weight, bias], lr=lr, betas=(beta1, 0.999), weight_decay=float(weight_decay))
    batch_size = max(1, int(batch_size))
    for _ in range(int(epochs)):
        order = torch.randperm(n, generator=generator).to(x.device)
        for first in range(0, n, batch_size):
            if check is not None:
                check()
            pick = order[first : first + batch_size]
            loss = F.cross_entropy(F.linear(x[pick], weight, bias), y[pick])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return weight.detach(), bias.detach()


def averaged_softmax(draws, num_classes: int, hp: dict, generator, check=None):
    """(weight, bias): the mean of one ``fit_softmax`` per (x, y) draw, trained one after another with the same
    generator continued; a single draw is returned as it is (bit for bit).

    Mean logits of linear classifiers on the same inputs are exactly the logits of their mean classifier, so K
    draws cost K fits and nothing when scoring; they average away the synthetic draw's noise (GSMFlow's and
    CE-GZSL/IPCE's ``classifier_draws``; docs/history/gsmflow.md, session 10). hp: cls_epochs, cls_batch,
    cls_lr, cls_beta1, optionally cls_weight_decay (default 0).
    """
    weights, biases = [], []
    for x, y in draws:
        weight, bias = fit_softmax(
            x,
            y,
            num_classes,
            hp["cls_epochs"],
            hp["cls_batch"],
            hp["cls_lr"],
            hp["cls_beta1"],
            generator,
            check,
            hp.get("cls_weight_decay", 0.0),
        )
        weights.append(weight)
        biases.append(bias)
    if not weights:
        raise ValueError("averaged_softmax needs at least one draw")
    if len(weights) == 1:
        return weights[0], biases[0]
    return torch.stack(weights).mean(0), torch.stack(biases).mean(0)


def nearest_class_mean_accuracy(synth, synth_labels, real, real_labels, per_class: bool = True) -> float:
    """Share of synthesised rows whose nearest real class mean (Euclidean) is their own class's.

    Only classes present in ``real_labels`` compete; ``per_class`` averages per class (like ZSL T1).
    """
    synth, real = np.asarray(synth, np.float64), np.asarray(real, np.float64)
    synth_labels, real_labels = np.asarray(synth_labels), np.asarray(real_labels)
    classes = np.unique(real_labels)
    means = np.stack([real[real_labels == c].mean(0) for c in classes])
    d = (synth * synth).sum(1, keepdims=True) - 2 * synth @ means.T + (means * means).sum(1)
    predicted = classes[np.argmin(d, axis=1)]
    hit = predicted == synth_labels
    if not per_class:
        return float(hit.mean())
    return float(np.mean([hit[synth_labels == c].mean() for c in np.unique(synth_labels)]))
