"""MSDN's ``region_channels``: a fixed projection of the unit regions, placed on training rows only, used by every
path that runs the net (training, codes, attention maps) and kept in the checkpoint."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from msdn_toys import HP, toy_problem, weights_only_round_trip
from test_msdn_nets import outputs_and_gradients, trained_looking_net
from zsl_desktop.engine.methods.base import Control, FeatureSource
from zsl_desktop.engine.methods.msdn import MSDN, PARAMETER_NAMES, regions
from zsl_desktop.engine.methods.msdn.nets import MSDNNet
from zsl_desktop.engine.methods.msdn.regions import projected_channels, region_projection, unit_regions

K = 6  # of the toy problem's 16 channels


class RowsRead(FeatureSource):
    """A feature source that records which rows were read."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.read: set[int] = set()

    def rows(self, kind, index, device="cpu"):
        self.read.update(int(i) for i in np.atleast_1d(np.asarray(index)))
        return super().rows(kind, index, device)


def forward_of(net, grid, normalize_v):
    out = net(grid, normalize_v, maps=True)
    return out.psi_av, out.psi_va, out.alpha, out.beta


@pytest.mark.parametrize("normalize_v", [False, True])
def test_an_identity_projection_gives_the_unprojected_model(normalize_v):
    """k = C with the identity: the same outputs, maps and gradients as the model without a projection."""
    plain = trained_looking_net()
    projected = MSDNNet(13, 24, 7, torch.eye(24))
    projected.load_state_dict(plain.state_dict())
    grid = torch.rand(5, 24, 3, 4, generator=torch.Generator().manual_seed(1))
    shapes = [(5, 13)] * 2 + [(5, 13, 12)] * 2
    weights = [torch.randn(s, generator=torch.Generator().manual_seed(2 + i)) for i, s in enumerate(shapes)]
    want, want_grads = outputs_and_gradients(plain, grid, normalize_v, forward_of, weights)
    got, got_grads = outputs_and_gradients(projected, grid, normalize_v, forward_of, weights)
    for w, g in zip(want + want_grads, got + got_grads):
        torch.testing.assert_close(g, w, rtol=1e-6, atol=1e-6)


def test_a_projection_is_the_model_on_projected_unit_regions():
    """With P [C, k] the net is the k-channel net on the rows f P of the unit regions f."""
    p = torch.linalg.qr(torch.randn(24, 5, generator=torch.Generator().manual_seed(3)))[0]
    net = MSDNNet(13, 24, 7, p)
    small = MSDNNet(13, 5, 7)
    net.reset(np.random.default_rng(0).normal(size=(13, 7)), 0)
    small.load_state_dict(net.state_dict())
    grid = torch.rand(3, 24, 2, 2, generator=torch.Generator().manual_seed(1))
    want = small.attend(unit_regions(grid) @ p, 3, 4, maps=True)
    got = net(grid, maps=True)
    for field in ("psi_av", "psi_va", "alpha", "beta"):
        torch.testing.assert_close(getattr(got, field), getattr(want, field))
    assert net.in_channels == 24 and net.W_1.shape == (7, 5)
    with pytest.raises(ValueError, match="projection"):
        MSDNNet(13, 23, 7, p)


@pytest.mark.parametrize("basis", ["aligned", "principal"])
def test_the_projection_keeps_the_most_energy_and_is_orthonormal(basis):
    info, data = toy_problem()
    p = region_projection(data.features, data.train_index, K, basis)
    assert p.shape == (16, K) and p.dtype == torch.float32
    torch.testing.assert_close(p.t() @ p, torch.eye(K), rtol=0, atol=1e-5)
    f = unit_regions(data.features.rows("grid", data.train_index)).double()
    kept = ((f @ p.double()) ** 2).sum()
    for seed in range(5):  # no other k-dimensional subspace keeps more of the regions' squared length
        q = torch.linalg.qr(torch.randn(16, K, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))[0]
        assert ((f @ q) ** 2).sum() <= kept + 1e-9
    if basis == "principal":
        assert (p.abs().argmax(0) == p.argmax(0)).all()  # signs fixed: each column's largest entry positive
        other = region_projection(data.features, data.train_index, K, "aligned").double()
        torch.testing.assert_close(p.double() @ p.double().t(), other @ other.t(), rtol=0, atol=1e-5)  # one span
    else:  # Procrustes: the rows of the K strongest channels form a symmetric positive semi-definite matrix
        strongest = torch.argsort((f**2).sum(0), descending=True)[:K]
        square = p[strongest].double()
        torch.testing.assert_close(square, square.t(), rtol=0, atol=1e-5)
        assert torch.linalg.eigvalsh(square).min() > -1e-6
    assert projected_channels(0, 16) is None and projected_channels(16, 16) is None and projected_channels(6, 16) == 6
    with pytest.raises(ValueError, match="region_channels"):
        MSDN(info, {"region_channels": -1})
    with pytest.raises(ValueError, match="region_basis"):
        MSDN(info, {"region_basis": "eigen"})


def test_the_aligned_basis_is_the_strongest_channels_where_the_span_holds_them():
    """Channels 3, 9 and 12 carry every region's energy (9 the most): the aligned basis of the top-3 subspace is
    their unit vectors in the order of their energy, the principal basis a rotation of them."""
    grid = np.zeros((30, 16, 2, 2), np.float32)
    rng = np.random.default_rng(0)
    for channel, scale in ((3, 1.0), (9, 2.0), (12, 0.5)):
        grid[:, channel] = scale * (0.2 + rng.random((30, 2, 2)))
    source = FeatureSource(grid=grid)
    p = region_projection(source, np.arange(30), 3, "aligned")
    torch.testing.assert_close(p, torch.eye(16)[:, [9, 3, 12]], rtol=0, atol=1e-5)
    principal = region_projection(source, np.arange(30), 3, "principal")
    assert principal[[3, 9, 12]].abs().sum(0).min() > 0.99 and (principal[[3, 9, 12]].abs() < 0.99).any()


def test_fit_places_the_projection_on_training_rows_only():
    info, data = toy_problem()
    train = np.arange(40)  # rows 40-59 are not the training rows
    source = RowsRead(grid=data.features.grid)
    data = replace(data, features=source, train_index=train, train_labels=data.train_labels[:40])
    m = MSDN(info, {**HP, "region_channels": K})
    list(m.fit(data, Control(), epochs=1))
    assert source.read <= set(train.tolist())
    changed = data.features.grid.copy()
    changed[40:] = np.random.default_rng(1).random(changed[40:].shape)  # other rows change: the projection not
    again = MSDN(info, {**HP, "region_channels": K})
    list(again.fit(replace(data, features=FeatureSource(grid=changed)), Control(), epochs=1))
    torch.testing.assert_close(again._net.projection, m._net.projection)
    torch.testing.assert_close(m._net.projection, region_projection(source, train, K, "aligned"))
    assert m._net.W_1.shape == (300, K)


def test_the_cached_regions_train_as_the_batch_by_batch_path(monkeypatch):
    info, data = toy_problem()
    cached = MSDN(info, {**HP, "region_channels": K})
    list(cached.fit(data, Control(), epochs=1))
    monkeypatch.setattr(regions, "CACHE_BYTES", 0)  # too large to cache: projected batch by batch
    batched = MSDN(info, {**HP, "region_channels": K})
    list(batched.fit(data, Control(), epochs=1))
    for n in PARAMETER_NAMES:
        torch.testing.assert_close(getattr(cached._net, n), getattr(batched._net, n), rtol=1e-4, atol=1e-5)


def test_codes_maps_and_a_checkpoint_round_trip_use_the_projection():
    """Final models share one projection, stored once; codes and attention maps read through it after a load."""
    info, data = toy_problem()
    hp = {**HP, "region_channels": K, "centre_codes": "off"}  # codes as the nets give them (4 seen classes)
    first = MSDN(info, hp)
    list(first.fit(data, Control(), epochs=1))
    last = MSDN(info, hp)
    last.adopt_members(first)
    list(last.fit(replace(data, seed=1007), Control(), epochs=1))
    assert last._net.projection is not first._net.projection
    torch.testing.assert_close(last._net.projection, first._net.projection)
    x = data.features.rows("grid", np.arange(9))
    p = first._net.projection
    by_hand = []
    for net in (first._net, last._net):  # each net on the projected unit regions of the raw features
        small = MSDNNet(12, K, 300)
        small.load_state_dict(net.state_dict())
        out = small.attend(unit_regions(x) @ p, 9, 4)
        by_hand.append(0.9 * out.psi_av + 0.1 * out.psi_va)
    np.testing.assert_allclose(last.encode(x), (sum(by_hand) / 2).detach().numpy(), rtol=1e-5, atol=1e-6)

    state = last.state_dict()
    assert "projection" in state and not any(k.endswith(".projection") for k in state)
    loaded = MSDN(info, HP)  # the checkpoint, not the hyper-parameters, says the model is projected
    loaded.load_state_dict(weights_only_round_trip(state))
    np.testing.assert_array_equal(loaded.encode(x), last.encode(x))
    a, b = loaded.explain(x[0]), last.explain(x[0])
    np.testing.assert_array_equal(a.attention, b.attention)
    np.testing.assert_array_equal(a.extras["attention_va"], b.extras["attention_va"])
    assert a.attention.shape == (12, 2, 2)
    with pytest.raises(ValueError, match="channels"):
        MSDN(info, HP).load_state_dict({**state, "projection": state["projection"][:, :-1]})
    unprojected = MSDN(info, HP)
    list(unprojected.fit(data, Control(), epochs=1))
    assert "projection" not in unprojected.state_dict()  # all channels (older checkpoints too): no key
    older = MSDN(info, {**hp, "region_channels": K})  # a projecting recipe loads an older state as it was saved
    older.load_state_dict(weights_only_round_trip(unprojected.state_dict()))
    assert older._net.projection is None
    np.testing.assert_array_equal(older.encode(x), unprojected.encode(x))
    np.testing.assert_array_equal(older.explain(x[0]).attention, unprojected.explain(x[0]).attention)


def test_the_default_keeps_every_channel():
    """region_channels is an option: the default trains the released model (docs/history/msdn.md, session 13);
    set, it projects in the aligned basis (the principal one loses 4.4 validation H on the built-in birds)."""
    assert MSDN.default_hparams["region_channels"] == 0
    assert MSDN.default_hparams["region_basis"] == "aligned"
