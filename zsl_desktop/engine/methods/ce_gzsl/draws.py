"""``classifier_draws`` K: the final softmax of CE-GZSL / IPCE averaged over K synthetic draws.

Each draw is one training set of the classifier (the same real h, fresh synthetic h); one linear softmax is
trained per draw with the same generator continued, and the head keeps their mean weight and bias. Mean logits
of linear classifiers on the same h are exactly the logits of that one mean classifier, so K draws cost K fits
at training (and refit) time and nothing when scoring; the checkpoint layout is unchanged. K = 1 is the single
softmax, bit for bit. Why: GSMFlow's same option (session 10) removed much of the draw's noise; the CE-GZSL /
IPCE screen is in docs/history/ce_gzsl.md (session 10, "classifier_draws").
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from .. import generative


def averaged_softmax(draws: Iterable[tuple[torch.Tensor, torch.Tensor]], num_classes: int, hp: dict, generator, check):
    """(weight, bias): the mean of one softmax per (h, labels) draw, drawn lazily one after another.

    hp: cls_epochs, cls_batch, cls_lr, cls_beta1. A single draw returns its softmax as it is.
    """
    fits = 0
    weight = bias = None
    for h, labels in draws:
        w, b = generative.fit_softmax(
            h.cpu(),
            labels.cpu(),
            num_classes,
            hp["cls_epochs"],
            hp["cls_batch"],
            hp["cls_lr"],
            hp["cls_beta1"],
            generator,
            check,
        )
        weight, bias = (w, b) if weight is None else (weight + w, bias + b)
        fits += 1
    if weight is None or bias is None:
        raise ValueError("averaged_softmax needs at least one draw")
    return (weight, bias) if fits == 1 else (weight / fits, bias / fits)
