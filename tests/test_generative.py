"""Shared generative pieces: the conditional flow (exact inverse and log-det), relative positioning,
feature scaling, the GZSL head's scoring of known and new classes, boundary mining, NCM accuracy."""

import math

import numpy as np
import pytest
import torch

from zsl_desktop.engine.methods.gsmflow.flows import ConditionalFlow, RelativePositioning, choose_anchors, soft_clamp
from zsl_desktop.engine.methods.generative import (
    FeatureScaler,
    GZSLHead,
    RelationNet,
    batch_targets,
    boundary_mining,
    KnownRows,
    code_basis,
    fit_softmax,
    match_rows,
    mine_boundary_samples,
    mining_loss,
    nearest_class_mean_accuracy,
    softmax_entropy,
    train_relation,
)


def _random_flow(dim=6, cond=3, hidden=8, blocks=3, seed=0, std=0.5):
    """A flow with large random weights, far from the identity, in float64."""
    flow = ConditionalFlow(dim, cond, hidden, blocks).double()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in flow.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * std)
    return flow


# -- the flow -----------------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [6, 7])
def test_flow_inverts_to_numerical_precision(dim):
    flow = _random_flow(dim)
    x = torch.randn(20, dim, dtype=torch.float64)
    c = torch.randn(20, 3, dtype=torch.float64)
    z, _ = flow(x, c)
    assert (z - x).abs().max() > 0.1  # not the identity
    assert torch.allclose(flow.inverse(z, c), x, atol=1e-12, rtol=0)
    assert torch.allclose(flow(flow.inverse(x, c), c)[0], x, atol=1e-12, rtol=0)


def test_flow_float32_round_trip_at_feature_scale():
    flow = ConditionalFlow(1280, 64, 32, 3)
    flow.reset_parameters(torch.Generator().manual_seed(0), std=0.05)
    x = torch.rand(8, 1280)
    c = torch.rand(2, 64)
    index = torch.tensor([0, 1] * 4)
    z, _ = flow(x, c, index)
    assert torch.allclose(flow.inverse(z, c, index), x, atol=1e-5)


def test_log_determinant_matches_the_brute_force_jacobian():
    flow = _random_flow(6)
    c = torch.randn(1, 3, dtype=torch.float64)
    for i in range(4):
        x = torch.randn(1, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(i))
        jac = torch.autograd.functional.jacobian(lambda v: flow(v[None], c)[0][0], x[0])
        _, logdet = flow(x, c)
        sign, expected = torch.linalg.slogdet(jac)
        assert sign.item() == 1.0  # e(s) > 0: the map preserves orientation
        assert logdet.item() == pytest.approx(expected.item(), abs=1e-10)


def test_condition_index_is_the_same_as_per_row_conditions():
    flow = _random_flow(6)
    x = torch.randn(5, 6, dtype=torch.float64)
    distinct = torch.randn(2, 3, dtype=torch.float64)
    index = torch.tensor([0, 1, 1, 0, 1])
    z1, l1 = flow(x, distinct, index)
    z2, l2 = flow(x, distinct[index])
    assert torch.allclose(z1, z2) and torch.allclose(l1, l2)
    assert torch.allclose(flow.inverse(z1, distinct, index), flow.inverse(z1, distinct[index]))


def test_soft_clamp_bounds_the_log_scale():
    s = torch.tensor([-1e6, -1.0, 0.0, 1.0, 1e6], dtype=torch.float64)
    out = soft_clamp(s, 1.0)
    assert out.abs().max() < 1.0 and out[2] == 0
    assert out[3].item() == pytest.approx(0.636 * math.atan(1.0))
    assert soft_clamp(torch.tensor([4.0]), 2.0).item() == pytest.approx(2 * 0.636 * math.atan(2.0))


def test_released_initialisation_starts_near_the_identity():
    flow = ConditionalFlow(10, 4, 16, 3)
    flow.reset_parameters(torch.Generator().manual_seed(0))
    assert all(p.abs().max() < 0.06 for p in flow.parameters())  # 0.01 * N(0, 1)
    x = torch.rand(4, 10)
    assert torch.allclose(flow(x, torch.rand(4, 4))[0], x, atol=0.05)


# -- relative positioning -------------------------------------------------------------------------
def test_anchors_are_min_max_and_median_cosine_row_sums():
    a = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.1, 0.0], [1.0, 0.2, 0.1], [0.9, 0.3, 0.2], [0.0, 0.0, 1.0]])
    sums = (torch.nn.functional.normalize(a, dim=1) @ torch.nn.functional.normalize(a, dim=1).t()).sum(1)
    order = torch.argsort(sums)
    anchors = choose_anchors(a)
    assert torch.equal(anchors[0], a[4])  # the isolated class: smallest row sum
    assert torch.equal(anchors[1], a[int(torch.argmax(sums))])
    assert torch.equal(anchors[2], a[int(order[2])])  # sorted position n // 2


def test_global_semantic_vector_is_a_sum_of_relu_responses_to_offsets():
    anchors = torch.rand(3, 5)
    gsm = RelativePositioning(anchors, 7)
    a = torch.rand(4, 5)
    expected = sum(torch.relu((a - anchors[k]) @ gsm.weight[k].t() + gsm.bias[k]) for k in range(3))
    assert torch.allclose(gsm(a), expected, atol=1e-6)
    assert gsm(anchors[:1]).shape == (1, 7)


# -- scaling and the classifier head --------------------------------------------------------------
def test_feature_scaler_is_min_max_then_divided_by_the_train_max():
    x = torch.tensor([[0.0, 2.0, 5.0], [4.0, 6.0, 5.0], [2.0, 4.0, 5.0]])
    s = FeatureScaler.fit(x)
    out = s(x)
    assert torch.allclose(out, torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.5, 0.5, 0.0]]))
    assert torch.allclose(s.inverse(out), x)
    again = FeatureScaler.from_state(s.state("p."), "p.")
    assert torch.equal(again(x), out)


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


def test_match_rows_handles_duplicates_and_new_rows():
    known = [r.tobytes() for r in np.array([[1, 2], [3, 4], [1, 2]], np.float32)]
    got = match_rows(known, np.array([[1, 2], [5, 6], [1, 2], [3, 4]], np.float32))
    assert got.tolist() == [0, -1, 2, 1]


def _match_rows_one_key_per_row(known_rows, class_rows):
    """``match_rows`` as it was before ``KnownRows``: a key per row, duplicates matched in order."""
    table: dict = {}
    for i, row in enumerate(np.asarray(known_rows, np.float32)):
        table.setdefault(row.tobytes(), []).append(i)
    used: dict = {}
    out = []
    for row in np.asarray(class_rows, np.float32):
        cols, k = table.get(row.tobytes()), row.tobytes()
        n = used.get(k, 0)
        out.append(cols[min(n, len(cols) - 1)] if cols else -1)
        used[k] = n + 1
    return out


def test_known_rows_match_as_one_key_per_row_did():
    """The fast path (the known rows first, in order) gives the same columns, duplicates and -0.0 included."""
    rng = np.random.default_rng(0)
    for trial in range(300):
        pool = rng.integers(0, 4, (5, 3)).astype(np.float32)
        pool[0, 0] = -0.0 if trial % 2 else 0.0  # equal as floats, not as bytes: a different row
        known = pool[rng.integers(0, 5, rng.integers(0, 6))]
        extra = np.concatenate([pool, -pool])[rng.integers(0, 10, rng.integers(0, 4))]
        cases = [np.concatenate([known, extra]), extra, np.concatenate([extra, known]), known[::-1]]
        for class_rows in cases:
            class_rows = class_rows.reshape(-1, 3)
            expected = _match_rows_one_key_per_row(known, class_rows)
            assert match_rows(KnownRows(known.reshape(-1, 3)), class_rows).tolist() == expected, (known, class_rows)
            assert match_rows([r.tobytes() for r in known], class_rows).tolist() == expected


def test_known_rows_take_the_prefix_in_one_comparison():
    known = np.arange(12, dtype=np.float32).reshape(4, 3)
    rows = KnownRows(known)
    assert rows.prefix(np.vstack([known, [[9, 9, 9]]])) == 4
    assert rows.prefix(np.vstack([known[:3], [[9, 9, 9]]])) == 0
    assert rows.prefix(known.astype(np.float64)) == 4  # compared as float32, as the keys are
    assert rows.prefix(known[:, :2]) == 0


def test_softmax_classifier_learns_separable_data():
    g = torch.Generator().manual_seed(0)
    x = torch.cat((torch.randn(50, 4, generator=g) + 3, torch.randn(50, 4, generator=g) - 3))
    y = torch.arange(2).repeat_interleave(50)
    w, b = fit_softmax(x, y, 2, 20, 16, 0.05, generator=g)
    assert ((x @ w.t() + b).argmax(1) == y).float().mean() == 1.0


# -- boundary mining ------------------------------------------------------------------------------
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


def test_nearest_class_mean_accuracy():
    real = np.array([[0.0, 0], [0, 0.2], [5, 5], [5, 5.2]])
    labels = np.array([0, 0, 1, 1])
    synth = np.array([[0.1, 0], [4.9, 5], [0, 0.1], [0.2, 0.1]])
    synth_labels = np.array([0, 1, 1, 1])
    assert nearest_class_mean_accuracy(synth, synth_labels, real, labels, per_class=False) == 0.5
    assert nearest_class_mean_accuracy(synth, synth_labels, real, labels) == pytest.approx((1 + 1 / 3) / 2)
