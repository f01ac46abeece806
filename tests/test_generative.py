"""Shared generative pieces (``methods/generative.py``): feature scaling, the softmax classifier, NCM accuracy.

The flow's tests are in test_gsmflow_flows.py, the head's in test_gzsl_head.py, row matching's in
test_class_rows.py, boundary mining's in test_boundary_mining.py.
"""

import numpy as np
import pytest
import torch

from zsl_desktop.engine.methods.generative import FeatureScaler, fit_softmax, nearest_class_mean_accuracy


def test_feature_scaler_is_min_max_then_divided_by_the_train_max():
    x = torch.tensor([[0.0, 2.0, 5.0], [4.0, 6.0, 5.0], [2.0, 4.0, 5.0]])
    s = FeatureScaler.fit(x)
    out = s(x)
    assert torch.allclose(out, torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.5, 0.5, 0.0]]))
    assert torch.allclose(s.inverse(out), x)
    again = FeatureScaler.from_state(s.state("p."), "p.")
    assert torch.equal(again(x), out)


def test_softmax_classifier_learns_separable_data():
    g = torch.Generator().manual_seed(0)
    x = torch.cat((torch.randn(50, 4, generator=g) + 3, torch.randn(50, 4, generator=g) - 3))
    y = torch.arange(2).repeat_interleave(50)
    w, b = fit_softmax(x, y, 2, 20, 16, 0.05, generator=g)
    assert ((x @ w.t() + b).argmax(1) == y).float().mean() == 1.0


def test_nearest_class_mean_accuracy():
    real = np.array([[0.0, 0], [0, 0.2], [5, 5], [5, 5.2]])
    labels = np.array([0, 0, 1, 1])
    synth = np.array([[0.1, 0], [4.9, 5], [0, 0.1], [0.2, 0.1]])
    synth_labels = np.array([0, 1, 1, 1])
    assert nearest_class_mean_accuracy(synth, synth_labels, real, labels, per_class=False) == 0.5
    assert nearest_class_mean_accuracy(synth, synth_labels, real, labels) == pytest.approx((1 + 1 / 3) / 2)


def test_the_classifier_weight_decay_shrinks_its_weights_and_zero_is_plain_adam():
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(60, 5)).astype(np.float32))
    y = torch.from_numpy(rng.integers(0, 3, 60))

    def fit(**kwargs):
        return fit_softmax(x, y, 3, 20, 16, 1e-2, 0.5, torch.Generator().manual_seed(0), **kwargs)

    plain, zero, decayed = fit(), fit(weight_decay=0.0), fit(weight_decay=0.5)
    assert torch.equal(plain[0], zero[0]) and torch.equal(plain[1], zero[1])
    assert decayed[0].norm() < 0.9 * plain[0].norm()
