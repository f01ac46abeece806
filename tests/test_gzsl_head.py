"""The GZSL head (``methods/gzsl_head.py``): known rows scored by the classifier, new rows by calibrated
prototype columns, its state and logit cache."""

import numpy as np
import torch

from zsl_desktop.engine.methods.generative import FeatureScaler, fit_softmax
from zsl_desktop.engine.methods.gzsl_head import GZSLHead, code_basis


def _toy_head(seed=0, d=12, k=4, pca=3):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(k, d, generator=g) * 2
    y = torch.arange(k).repeat_interleave(30)
    x = centres[y] + 0.3 * torch.randn(len(y), d, generator=g)
    scaler = FeatureScaler(torch.zeros(d), torch.ones(d))
    basis = code_basis([centres, x.mean(0, keepdim=True), torch.linalg.svd(x - x.mean(0))[2][:pca]])
    w, b = fit_softmax(x @ basis, y, k, 60, 32, 0.05, generator=g)
    rows = np.arange(k * 3, dtype=np.float32).reshape(k, 3)
    head = GZSLHead.build(scaler, basis, rows, w, b, centres, (x @ basis)[:64])
    return head, centres, x, y, rows


def test_head_scores_known_rows_with_the_classifier_and_new_rows_with_prototypes():
    head, centres, x, y, rows = _toy_head()
    codes = head.encode(x)
    known = head.score(codes, rows, prototype_fn=None)
    assert (known.argmax(1) == y.numpy()).mean() > 0.95
    # reordered subsets of known rows pick the matching columns
    np.testing.assert_allclose(head.score(codes, rows[[2, 0]], None), known[:, [2, 0]], rtol=1e-6)
    # a "new" row whose prototype is class 1's centre behaves like class 1
    new_row = np.full((1, 3), 99.0, np.float32)
    mixed = head.score(codes, np.concatenate([rows[[0, 2, 3]], new_row]), lambda r: centres[[1]])
    assert mixed.shape == (len(x), 4)
    in_class_1 = y.numpy() == 1
    assert (mixed[in_class_1].argmax(1) == 3).mean() > 0.9
    assert (mixed[~in_class_1].argmax(1) != 3).mean() > 0.9
    assert head.calibration[0] > 0
    assert head.score(codes, rows[:0], None).shape == (len(x), 0)
    only_new = head.score(codes, new_row, lambda r: centres[[1]])
    np.testing.assert_allclose(only_new[:, 0], mixed[:, 3], rtol=1e-5, atol=1e-5)


def test_head_prototype_columns_reproduce_the_known_classes():
    """With every class replaced by its prototype column, the ranking stays close to the classifier's."""
    head, centres, x, y, rows = _toy_head(seed=1)
    codes = head.encode(x)
    w, b = head.new_columns(centres)
    proto_scores = codes @ w.numpy().T + b.numpy()
    assert (proto_scores.argmax(1) == y.numpy()).mean() > 0.95


def test_head_state_round_trip_and_cache():
    head, centres, x, y, rows = _toy_head()
    again = GZSLHead.from_state(head.state("h."), "h.")
    codes = head.encode(x)
    np.testing.assert_array_equal(again.score(codes, rows, None), head.score(codes, rows, None))
    first = head.score(codes, rows, None)
    assert head._cache[0] is codes  # the known-class logits are cached for this codes array
    np.testing.assert_array_equal(head.score(codes, rows, None), first)
