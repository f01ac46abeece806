"""SGMA's pieces (``methods/sgma/parts.py``) on hand-computed cases: the attention losses, the boxcar mask and
the box fit, the embedding losses, the channel grouping and the per-attribute maps."""

import math

import numpy as np
import pytest
import torch

from zsl_desktop.engine.methods.sgma.parts import (
    attribute_maps,
    box_fit_loss,
    boxcar_mask,
    channel_peaks,
    class_centre_triplet_loss,
    compactness_loss,
    diversity_loss,
    embedding_softmax_loss,
    kmeans,
    normalise_maps,
)


def t64(x):
    return torch.tensor(np.asarray(x, dtype=np.float64))


def sig(z):
    return 1 / (1 + math.exp(-z))


# -- attention losses ---------------------------------------------------------------------------------
def test_compactness_is_the_spread_around_the_peak():
    # One map over a 1x3 grid, values (1, 1, 0): P = (1/2, 1/2, 0); the peak is the first maximum
    # (x = 1/6); the second cell is 1/3 away: 1/2 * (1/3)^2 = 1/18.
    maps = t64([[[[1.0, 1.0, 0.0]]]])
    assert compactness_loss(maps).item() == pytest.approx(1 / 18)
    # A one-hot map is perfectly compact; two parts add up; the batch is averaged.
    one_hot = t64([[[[0.0, 1.0, 0.0]]]])
    assert compactness_loss(one_hot).item() == 0.0
    two = torch.cat([maps, one_hot], 1)
    assert compactness_loss(two).item() == pytest.approx(1 / 18)
    batch = torch.cat([maps, one_hot], 0)
    assert compactness_loss(batch).item() == pytest.approx(1 / 36)
    # 2x2 map, all mass equal, peak at the top-left centre (1/4, 1/4): distances^2 0, 1/4, 1/4, 1/2 -> 1/4.
    assert compactness_loss(torch.ones(1, 1, 2, 2, dtype=torch.float64)).item() == pytest.approx(0.25)


def test_compactness_gradient_pulls_mass_to_the_peak():
    maps = t64([[[[1.0, 0.5, 0.2]]]]).requires_grad_()
    compactness_loss(maps).backward()
    assert maps.grad[0, 0, 0, 2] > maps.grad[0, 0, 0, 1] > maps.grad[0, 0, 0, 0]


def test_diversity_with_margin_by_hand():
    # M1 = (1, .5), M2 = (.5, 1): part 1: mean(1 * (.5-.2), .5 * (1-.2)) = .35; part 2 the same.
    maps = t64([[[[1.0, 0.5]], [[0.5, 1.0]]]])
    assert diversity_loss(maps, 0.2).item() == pytest.approx(0.7)
    # margin .6: only M1 cell 2 (.5 * .4) and M2 cell 1 -> .1 each -> .2
    assert diversity_loss(maps, 0.6).item() == pytest.approx(0.2)
    # Overlap below the margin costs nothing; so do disjoint maps and a single part.
    assert diversity_loss(t64([[[[1.0, 0.1, 0.0]], [[0.0, 0.1, 1.0]]]]), 0.2).item() == 0.0
    # ... but a faint map under another's peak does: .1 * (1 - .2) / 2 cells, both ways.
    assert diversity_loss(t64([[[[1.0, 0.1]], [[0.1, 1.0]]]]), 0.2).item() == pytest.approx(0.08)
    assert diversity_loss(t64([[[[1.0, 0.0]], [[0.0, 1.0]]]]), 0.2).item() == 0.0
    assert diversity_loss(maps[:, :1], 0.2).item() == 0.0
    # Three parts: the max over the OTHER maps counts.
    three = t64([[[[1.0]], [[0.5]], [[0.9]]]])
    expected = 1.0 * (0.9 - 0.2) + 0.5 * (1.0 - 0.2) + 0.9 * (1.0 - 0.2)  # one cell: the mean is the value
    assert diversity_loss(three, 0.2).item() == pytest.approx(expected)


def test_normalise_maps_is_min_max():
    out = normalise_maps(t64([[2.0, 4.0], [3.0, 6.0]]))
    np.testing.assert_allclose(out.numpy(), [[0.0, 0.5], [0.25, 1.0]], atol=1e-6)


# -- the boxcar mask ----------------------------------------------------------------------------------
def test_boxcar_mask_values_with_k_10():
    # A box of one cell centred on the middle cell of a 3x3 grid: per axis the middle cell gets
    # sigmoid(5) - sigmoid(-5), a neighbour sigmoid(-5) - sigmoid(-15).
    box = t64([[0.5, 0.5, 1 / 3]])
    v = boxcar_mask(box, (3, 3), k=10.0)[0].numpy()
    inner, outer = sig(5) - sig(-5), sig(-5) - sig(-15)
    assert v[1, 1] == pytest.approx(inner * inner, rel=1e-9)
    assert v[1, 0] == pytest.approx(inner * outer, rel=1e-9)
    assert v[0, 0] == pytest.approx(outer * outer, rel=1e-9)
    assert v[1, 1] == pytest.approx(0.973408, abs=1e-6)  # (0.9866143)^2
    # k counts per cell of ``cells``: on a 6x6 grid of the same 3x3 cells, the sub-cell centred at
    # 1.25 cells sees the box edges at 1 and 2: sigmoid(2.5) - sigmoid(-7.5).
    fine = boxcar_mask(box, (6, 6), k=10.0, cells=(3, 3))[0].numpy()
    assert fine[2, 2] == pytest.approx((sig(2.5) - sig(-7.5)) ** 2, rel=1e-9)
    # A non-square grid and batch shapes: [..., H, W]
    assert boxcar_mask(torch.rand(4, 2, 3), (5, 7)).shape == (4, 2, 5, 7)


def test_boxcar_mask_is_differentiable_in_the_box():
    box = t64([[0.4, 0.5, 0.3]]).requires_grad_()
    target = torch.zeros(7, 7, dtype=torch.float64)
    target[3, 4] = 1  # mass to the right of the box centre
    (boxcar_mask(box, (7, 7))[0] * target).sum().backward()
    assert box.grad[0, 0] > 0 and box.grad[0, 2] > 0  # move right, grow


def test_box_fit_prefers_the_box_on_the_attention():
    prob = torch.zeros(1, 1, 7, 7, dtype=torch.float64)
    prob[0, 0, 1, 5] = 1.0
    on = t64([[[5.5 / 7, 1.5 / 7, 0.3]]])
    off = t64([[[1.5 / 7, 5.5 / 7, 0.3]]])
    assert box_fit_loss(prob, on).item() < box_fit_loss(prob, off).item()
    # -mass + area * side^2, with the mass read through the mask.
    mass = (boxcar_mask(on[0], (7, 7))[0] * prob[0, 0]).sum().item()
    assert box_fit_loss(prob, on, area_weight=2.0).item() == pytest.approx(-mass + 2.0 * 0.09)


# -- embedding losses ---------------------------------------------------------------------------------
def test_class_centre_triplet_by_hand():
    centres = t64([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    # On its centre, 2 away from the nearest other: max(0, .8 + 0 - 2) = 0.
    assert class_centre_triplet_loss(t64([[3.0, 0.0]]), centres, torch.tensor([0])).item() == 0.0
    # Halfway between centres 0 and 1: both at 2 - sqrt(2); the hardest negative ties -> the margin.
    e = t64([[1.0, 1.0]])
    assert class_centre_triplet_loss(e, centres, torch.tensor([0])).item() == pytest.approx(0.8)
    # Embeddings and centres are unit-normalised first: scaling changes nothing.
    assert class_centre_triplet_loss(5 * e, 3 * centres, torch.tensor([0])).item() == pytest.approx(0.8)
    # On the wrong centre: d_pos = 2 (to [1,0] from [0,1]), nearest other = 0 -> .8 + 2.
    assert class_centre_triplet_loss(t64([[0.0, 1.0]]), centres, torch.tensor([0])).item() == pytest.approx(2.8)
    # The batch is averaged.
    batch = class_centre_triplet_loss(t64([[3.0, 0.0], [0.0, 1.0]]), centres, torch.tensor([0, 0]))
    assert batch.item() == pytest.approx(1.4)
    # margin is a parameter
    assert class_centre_triplet_loss(e, centres, torch.tensor([0]), margin=0.2).item() == pytest.approx(0.2)


def test_embedding_softmax_is_cross_entropy_of_the_compatibilities():
    rng = np.random.default_rng(0)
    e, phi, y = rng.normal(size=(5, 4)), rng.normal(size=(3, 4)), np.array([0, 2, 1, 1, 0])
    s = e @ phi.T
    p = np.exp(s - s.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    expected = -np.mean(np.log(p[np.arange(5), y]))
    assert embedding_softmax_loss(t64(e), t64(phi), torch.tensor(y)).item() == pytest.approx(expected)


# -- channel grouping ---------------------------------------------------------------------------------
def test_channel_peaks_and_kmeans():
    grid = np.zeros((2, 3, 3, 3), np.float32)
    grid[0, 0, 1, 2] = 1  # channel 0 on image 0 peaks at row 1, column 2
    grid[1, 0, 0, 0] = 1
    grid[:, 1, 2, 1] = 1
    # channel 2 never fires: the centre
    peaks = channel_peaks(grid)
    assert peaks.shape == (3, 4)  # [C, (x of each image) + (y of each image)]
    np.testing.assert_allclose(peaks[0], [2.5 / 3, 0.5 / 3, 1.5 / 3, 0.5 / 3])
    np.testing.assert_allclose(peaks[2], [0.5, 0.5, 0.5, 0.5])
    rng = np.random.default_rng(1)
    points = np.concatenate([rng.normal(0, 0.05, (20, 2)), rng.normal(1, 0.05, (30, 2))])
    labels = kmeans(points, 2, seed=3)
    assert len(set(labels[:20])) == 1 and len(set(labels[20:])) == 1 and labels[0] != labels[20]
    np.testing.assert_array_equal(labels, kmeans(points, 2, seed=3))


def test_attribute_maps_are_distributions():
    part_maps = np.zeros((2, 2, 2), np.float32)
    part_maps[0, 0, 0] = 1
    part_maps[1, 1, 1] = 1
    scores = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, -1.0], [0.0, 0.0, 1.0]])  # global, part 1, part 2
    maps = attribute_maps(scores, part_maps)
    np.testing.assert_allclose(maps.reshape(3, -1).sum(1), 1.0, rtol=1e-6)
    assert maps[0, 0, 0] == pytest.approx(1.0)  # only part 1 supports attribute 0
    np.testing.assert_allclose(maps[1], 0.25)  # nothing supports attribute 1: uniform
    assert maps[2, 1, 1] == pytest.approx(0.5 + 0.125) and maps[2, 0, 0] == pytest.approx(0.125)
