"""MSDN: losses against independent NumPy versions, shapes, initial attention, score consistency, training."""

import io
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from zsl_desktop.engine.attention import upsample_attention
from zsl_desktop.engine.methods.base import (
    FEW_SEEN_CLASSES,
    Cancelled,
    Control,
    EpochEnd,
    FeatureSource,
    ModelInfo,
    Step,
    TrainData,
)
from zsl_desktop.engine.methods import get_method
from zsl_desktop.engine.methods.msdn import (
    MSDN,
    PARAMETER_NAMES,
    cross_entropy_loss,
    distillation_loss,
    jensen_shannon,
    self_calibration_loss,
)


# -- independent NumPy references ------------------------------------------------------------
def np_softmax(x):
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def np_ce(logits, labels):
    p = np_softmax(logits)
    return float(-np.mean(np.log(p[np.arange(len(labels)), labels])))


def np_jsd(s1, s2):
    p, q = np_softmax(s1), np_softmax(s2)
    m = (p + q) / 2

    def kl(a, b):
        return np.sum(a * np.log(a / b), axis=1).mean()

    return float((kl(q, m) + kl(p, m)) / 2)


def t64(x):
    return torch.tensor(np.asarray(x, dtype=np.float64))


# -- losses ---------------------------------------------------------------------------------------
def test_cross_entropy_removes_the_bias_and_uses_all_classes():
    # biased logits [[1,2,3],[1,1,1]] with bias [-1,-1,+1] -> [[2,3,2],[2,2,0]]
    # row 0, label 1: -log(e^3 / (2e^2 + e^3)) = log(1 + 2/e); row 1, label 0: log(2 + e^-2)
    logits, bias, labels = t64([[1, 2, 3], [1, 1, 1]]), t64([-1, -1, 1]), torch.tensor([1, 0])
    expected = (math.log(1 + 2 / math.e) + math.log(2 + math.exp(-2))) / 2
    assert cross_entropy_loss(logits, labels, bias).item() == pytest.approx(expected, rel=1e-12)
    rng = np.random.default_rng(0)
    x, b, y = rng.normal(size=(5, 7)), rng.choice([-1.0, 1.0], 7), rng.integers(0, 7, 5)
    assert cross_entropy_loss(t64(x), torch.tensor(y), t64(b)).item() == pytest.approx(np_ce(x - b, y), rel=1e-10)


def test_self_calibration_has_the_batch_mean_inside_the_log():
    # all-zero logits over 4 classes, one unseen: mass 1/4 for every row -> log 4
    assert self_calibration_loss(torch.zeros(2, 4, dtype=torch.float64), torch.tensor([3])).item() == pytest.approx(
        math.log(4)
    )
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 5)) * 3
    unseen = np.array([False, True, False, False, True])
    expected = -math.log(np.mean(np_softmax(x)[:, unseen].sum(1)))
    mean_of_logs = float(np.mean(-np.log(np_softmax(x)[:, unseen].sum(1))))
    got = self_calibration_loss(t64(x), torch.from_numpy(unseen)).item()
    assert got == pytest.approx(expected, rel=1e-10)
    assert got != pytest.approx(mean_of_logs, rel=1e-3)  # the other placement of the mean differs
    assert self_calibration_loss(t64(x), torch.tensor([1, 4])).item() == pytest.approx(expected, rel=1e-10)
    # Extreme logits stay finite (log-sum-exp), and no unseen class means no loss.
    assert math.isfinite(self_calibration_loss(t64([[1000.0, -1000.0]]), torch.tensor([1])).item())
    assert self_calibration_loss(t64(x), torch.zeros(5, dtype=torch.bool)).item() == 0.0


def test_distillation_code_and_paper_forms():
    rng = np.random.default_rng(2)
    s1, s2 = rng.normal(size=(4, 6)) * 2, rng.normal(size=(4, 6)) * 2
    d = s1 - s2
    weighted = np.mean(np.sum(d**2 / np.linalg.norm(d, axis=1, keepdims=True) * np.abs(d), axis=1))
    cubed = np.mean(np.sum(np.abs(d) ** 3, axis=1) / np.linalg.norm(d, axis=1))
    assert weighted == pytest.approx(cubed)  # the identity quoted in METHODS.md 2.4
    jsd = np_jsd(s1, s2)
    assert jensen_shannon(t64(s1), t64(s2)).item() == pytest.approx(jsd, rel=1e-9)
    assert distillation_loss(t64(s1), t64(s2), "code").item() == pytest.approx(weighted + jsd, rel=1e-9)
    paper = np.mean(np.sum(d**2, axis=1)) + jsd
    assert distillation_loss(t64(s1), t64(s2), "paper").item() == pytest.approx(paper, rel=1e-9)
    # Tiny case by hand: d = (3, 4), ||d||_2 = 5, ||d||_3^3 = 27 + 64 = 91 -> 91/5 = 18.2; JSD of equal
    # softmaxes (a constant shift) is 0.
    assert distillation_loss(t64([[3.0, 4.0]]), t64([[0.0, 0.0]]), "code").item() == pytest.approx(
        18.2 + np_jsd(np.array([[3.0, 4.0]]), np.zeros((1, 2))), rel=1e-9
    )
    assert distillation_loss(t64([[5.0, 5.0]]), t64([[0.0, 0.0]]), "paper").item() == pytest.approx(50.0)
    with pytest.raises(ValueError):
        distillation_loss(t64(s1), t64(s2), "other")


def test_distillation_of_identical_logits_is_zero_with_finite_gradients():
    s1 = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    loss = distillation_loss(s1, s1.detach().clone(), "code")
    loss.backward()
    assert loss.item() == pytest.approx(0.0, abs=1e-9)
    assert torch.isfinite(s1.grad).all()


# -- model shapes and the released initialisation ------------------------------------------------
CUB_NAMES = tuple(f"has_part_{i // 12}::value_{i % 12}" for i in range(312))


def _method(channels, grid, num_attributes=312, num_classes=200, hparams=None, names=None):
    names = names or (CUB_NAMES if num_attributes == 312 else tuple(f"attr_{i}" for i in range(num_attributes)))
    info = ModelInfo(
        attribute_names=names, num_classes=num_classes, feature_kind="grid", channels=channels, grid_size=(grid, grid)
    )
    return MSDN(info, hparams)


def _randomise(method, seed=0):
    """Non-zero W_2, W_1_1, W_2_1, as after training, so both sub-nets matter."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name in ("W_2", "W_1_1", "W_2_1"):
            w = getattr(method._net, name)
            w.copy_(torch.randn(w.shape, generator=g) * 0.3)


def test_registered_with_its_metadata():
    cls = get_method("msdn")
    assert cls is MSDN
    assert cls.title == "MSDN (Chen et al., CVPR 2022)"
    assert cls.feature_kind == "grid" and cls.has_attention
    with pytest.raises(ValueError):
        _method(16, 2, 12, 6, {"distill": "both"})
    with pytest.raises(ValueError):
        _method(16, 2, 12, 6, {"no_such_knob": 1})


@pytest.mark.parametrize("channels,grid", [(2048, 14), (1280, 7)])
def test_cub_sized_shapes(channels, grid):
    m = _method(channels, grid)
    _randomise(m)
    x = torch.rand(4, channels, grid, grid)
    codes = m.encode(x)
    assert codes.shape == (4, 312) and codes.dtype == np.float32
    ca = np.random.default_rng(0).random((200, 312)).astype(np.float32) * 100
    scores = m.score(codes, ca)
    assert scores.shape == (4, 200) and scores.dtype == np.float32
    e = m.explain(x[0])
    assert e.attribute_scores.shape == (312,)
    np.testing.assert_allclose(e.attribute_scores, codes[0], rtol=1e-4, atol=1e-5)
    assert e.attention.shape == (312, grid, grid)
    assert e.extras["attention_va"].shape == (312, grid, grid)
    assert e.extras["psi_av"].shape == e.extras["psi_va"].shape == (312,)
    np.testing.assert_allclose(e.attention.sum(axis=(1, 2)), 1.0, rtol=1e-5)  # softmax over regions
    np.testing.assert_allclose(e.extras["attention_va"].sum(axis=0), 1.0, rtol=1e-5)  # over attributes
    up = upsample_attention(e.attention[:3], (224, 224))
    assert up.shape == (3, 224, 224) and up.dtype == np.float32


def test_upsample_attention_is_bilinear_and_keeps_constants():
    maps = np.stack([np.full((7, 7), 0.5), np.arange(49.0).reshape(7, 7)])
    up = upsample_attention(maps, (14, 21))
    assert up.shape == (2, 14, 21)
    np.testing.assert_allclose(up[0], 0.5)
    assert up[1].min() >= 0 and up[1].max() <= 48
    assert upsample_attention(np.ones((2, 2)), (4, 4)).shape == (4, 4)


def test_initial_attention_is_uniform_and_psi1_is_average_pooling():
    m = _method(64, 3, 12, 6, names=tuple(f"colour {i}" for i in range(12)))
    net = m._net
    assert torch.count_nonzero(net.W_2) == 0 and torch.count_nonzero(net.W_1_1) == 0
    np.testing.assert_allclose(torch.linalg.norm(net.V, dim=1).detach().numpy(), 1.0, rtol=1e-5)
    x = torch.rand(5, 64, 3, 3, dtype=torch.float32)
    out = net(x, maps=True)
    np.testing.assert_allclose(out.alpha.detach().numpy(), 1 / 9, rtol=1e-6)
    np.testing.assert_allclose(out.beta.detach().numpy(), 1 / 12, rtol=1e-6)
    f = x.reshape(5, 64, 9).double()
    f = f / f.norm(dim=1, keepdim=True)
    expected = (net.V.double() @ net.W_1.double() @ f.mean(2).t()).t()  # v_i' W_1 (mean_r f_r)
    np.testing.assert_allclose(out.psi_av.detach().numpy(), expected.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out.psi_va.detach().numpy(), 0.0)  # W_1_1 = 0


def test_score_of_codes_equals_the_combined_unbiased_logits():
    m = _method(32, 4, 12, 6, names=tuple(f"colour {i}" for i in range(12)))
    _randomise(m, seed=3)
    x = torch.rand(7, 32, 4, 4)
    raw = np.random.default_rng(4).random((6, 12)).astype(np.float32) * 100 - 5  # a few negatives
    out = m._net(x)
    ca = torch.from_numpy(m.prepare_class_attributes(raw))
    s1, s2 = m.logits(out, ca)
    expected = (0.9 * s1 + 0.1 * s2).detach().numpy()
    np.testing.assert_allclose(m.score(m.encode(x), raw), expected, rtol=1e-5, atol=1e-5)
    prepared = m.prepare_class_attributes(raw)
    assert prepared.min() >= 0
    np.testing.assert_allclose(np.linalg.norm(prepared, axis=1), 1.0, rtol=1e-6)


# -- training ------------------------------------------------------------------------------------
def _toy_problem(seed=0, n=60, channels=16, grid=2):
    """6 classes (4 seen, 2 unseen), 12 binary-ish attributes, each region = P a_y + noise."""
    rng = np.random.default_rng(seed)
    ca = (rng.random((6, 12)) > 0.5).astype(np.float32) * 100
    projection = rng.normal(size=(channels, 12)).astype(np.float32)
    labels = rng.integers(0, 4, n)
    regions = grid * grid
    feats = np.einsum("ca,na->nc", projection, ca[labels] / 100)[:, :, None] + 0.3 * rng.normal(
        size=(n, channels, regions)
    )
    feats = np.maximum(feats, 0).reshape(n, channels, grid, grid).astype(np.float32)
    names = tuple(f"part {i // 4} colour {i % 4}" for i in range(12))
    data = TrainData(
        features=FeatureSource(grid=feats),
        train_index=np.arange(n),
        train_labels=labels,
        class_attributes=ca,
        seen_classes=np.arange(4),
        unseen_classes=np.array([4, 5]),
        attribute_names=names,
        attribute_vectors=None,
        seed=7,
    )
    info = ModelInfo(
        attribute_names=names, num_classes=6, feature_kind="grid", channels=channels, grid_size=(grid, grid)
    )
    return info, data


HP = {"batch_size": 10}


def _losses(events):
    return [e.losses["total"] for e in events if isinstance(e, Step)]


def test_fit_lowers_the_loss_and_reports_every_term():
    info, data = _toy_problem()
    m = MSDN(info, HP)
    events = list(m.fit(data, Control(), epochs=6))
    steps = [e for e in events if isinstance(e, Step)]
    ends = [e for e in events if isinstance(e, EpochEnd)]
    assert len(steps) == 6 * 6 and [e.epoch for e in ends] == list(range(1, 7))
    assert [s.step for s in steps] == list(range(1, 37)) and all(s.total == 36 for s in steps)
    assert set(steps[0].losses) == {"total", "ce_av", "ce_va", "sc_av", "sc_va", "distill"}
    assert all(math.isfinite(v) for s in steps for v in s.losses.values())
    losses = _losses(events)
    assert np.mean(losses[-6:]) < np.mean(losses[:6]) - 0.1
    # CE over seen labels on the trained model: the train rows are mostly right among the seen classes.
    codes = m.encode(data.features.rows("grid", data.train_index))
    predicted = m.score(codes, data.class_attributes)[:, :4].argmax(1)
    assert np.mean(predicted == data.train_labels) > 0.6


def test_fit_is_seeded():
    info, data = _toy_problem()
    a, b = MSDN(info, HP), MSDN(info, HP)
    assert _losses(a.fit(data, Control(), 2)) == _losses(b.fit(data, Control(), 2))
    for key, value in a.state_dict().items():
        torch.testing.assert_close(value, b.state_dict()[key], rtol=0, atol=0)


def test_cancel_raises_at_the_next_check():
    info, data = _toy_problem()
    m = MSDN(info, HP)
    control = Control()
    gen = m.fit(data, control, epochs=3)
    assert isinstance(next(gen), Step)
    control.cancel()
    with pytest.raises(Cancelled):
        next(gen)


def test_state_dict_round_trip_through_a_weights_only_file():
    info, data = _toy_problem()
    m = MSDN(info, HP)
    list(m.fit(data, Control(), epochs=2))
    state = m.state_dict()
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    assert any(k.startswith("optim.") for k in state)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    other = MSDN(info, HP)
    other.load_state_dict(loaded)
    x = data.features.rows("grid", np.arange(8))
    np.testing.assert_array_equal(
        other.score(other.encode(x), data.class_attributes), m.score(m.encode(x), data.class_attributes)
    )
    with pytest.raises(ValueError):
        _method(8, 2, 12, 6, names=info.attribute_names).load_state_dict(loaded)  # other channel count


def test_resume_continues_exactly_where_the_run_stopped():
    info, data = _toy_problem()
    straight = MSDN(info, HP)
    straight_losses = _losses(straight.fit(data, Control(), epochs=3))
    first = MSDN(info, HP)
    first_losses = _losses(first.fit(data, Control(), epochs=1))
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    resumed = MSDN(info, HP)
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    events = list(resumed.fit(data, Control(), epochs=3, start_epoch=1))
    assert [e.epoch for e in events if isinstance(e, EpochEnd)] == [2, 3]
    assert events[0].step == 7 and events[0].epoch == 2
    np.testing.assert_allclose(first_losses + _losses(events), straight_losses, rtol=1e-5)
    for key, value in straight.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[key], value, rtol=1e-5, atol=1e-6)


def test_members_average_the_codes_of_every_final_model_and_survive_a_weights_only_file():
    info, data = _toy_problem()
    models = []
    for seed in (7, 1007, 2007):  # three final models, as the trainer trains them (one seed each)
        m = MSDN(info, HP)
        list(m.fit(replace(data, seed=seed), Control(), epochs=2))
        models.append(m)
    assert MSDN(info, HP).final_models() == 5 and MSDN(info, {"final_models": "1"}).final_models() == 1
    second = MSDN(info, HP)
    second.adopt_members(models[0])
    list(second.fit(replace(data, seed=1007), Control(), epochs=2))  # trains its own net, keeps the member
    last = MSDN(info, HP)
    last.adopt_members(second)
    list(last.fit(replace(data, seed=2007), Control(), epochs=2))
    x = data.features.rows("grid", np.arange(9))
    mean = sum(m.encode(x) for m in models) / 3
    np.testing.assert_allclose(last.encode(x), mean, rtol=1e-5, atol=1e-6)
    explanation = last.explain(x[0])
    np.testing.assert_allclose(explanation.attribute_scores, mean[0], rtol=1e-5, atol=1e-6)
    assert explanation.attention.shape == (12, 2, 2)
    np.testing.assert_allclose(explanation.attention.sum((1, 2)), 1.0, rtol=1e-5)  # a mean of softmaxes

    state = last.state_dict()
    assert {k for k in state if k.startswith("member")} == {f"member{i}.{n}" for i in (0, 1) for n in PARAMETER_NAMES}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    loaded = MSDN(info, HP)
    loaded.load_state_dict(torch.load(buffer, weights_only=True))
    np.testing.assert_array_equal(loaded.encode(x), last.encode(x))
    with pytest.raises(ValueError, match="members are incomplete"):
        MSDN(info, HP).load_state_dict({k: v for k, v in state.items() if k != "member1.W_2"})
    with pytest.raises(TypeError):
        MSDN(info, HP).adopt_members(object())


def test_paper_distillation_and_normalised_v_train_too():
    info, data = _toy_problem()
    m = MSDN(info, {**HP, "distill": "paper", "normalize_V": "true", "bias": 0.5})
    losses = _losses(m.fit(data, Control(), epochs=2))
    assert all(math.isfinite(v) for v in losses)


def test_optimizer_state_moves_with_the_model_but_step_stays_on_the_cpu():
    """torch's Adam/RMSprop want ``step`` on the CPU unless capturable (checked on the meta device here)."""
    from zsl_desktop.engine.methods.base import move_optimizer_state

    p = torch.nn.Parameter(torch.zeros(3))
    opt = torch.optim.Adam([p])
    p.grad = torch.ones(3)
    opt.step()
    move_optimizer_state(opt, "meta")
    state = opt.state[p]
    assert state["exp_avg"].device.type == "meta" and state["exp_avg_sq"].device.type == "meta"
    assert state["step"].device.type == "cpu"
    move_optimizer_state(None, "meta")  # no optimizer yet: nothing to do


def test_gamma_transfer_auto_keeps_folds_unless_there_are_few_seen_classes():
    """Under 8 seen classes the fold models' gamma does not carry over: the final run calibrates its own."""
    msdn = get_method("msdn")
    assert msdn.transfer_for({}, seen_classes=40) == "folds"  # CUB, the built-in birds: as before
    assert msdn.transfer_for({}, seen_classes=7) == "calibration"  # a 10-digit set with 3 unseen
    assert msdn.transfer_for({}) == "folds"
    assert msdn.transfer_for({"gamma_transfer": "folds"}, seen_classes=7) == "folds"  # the user's choice wins
    assert msdn.transfer_for({"gamma_transfer": "training_share"}, seen_classes=40) == "training_share"


def _round_trip(state):
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def test_centre_codes_subtracts_the_training_rows_mean_code_of_all_final_models():
    info, data = _toy_problem()  # 4 seen classes: under FEW_SEEN_CLASSES
    # the default, "validation": the trainer chooses on or off on the fold models (tests/test_validation_variants.py)
    assert MSDN.default_hparams["centre_codes"] == "validation"
    auto = MSDN(info, {**HP, "centre_codes": "auto"})
    assert auto.centres_codes(4) and not auto.centres_codes(FEW_SEEN_CLASSES)  # CUB's 40, the birds' 40: no change
    off = {**HP, "centre_codes": "off"}
    assert MSDN(info, {"centre_codes": "True"}).centres_codes(40) and not MSDN(info, off).centres_codes(4)
    with pytest.raises(ValueError, match="centre_codes"):
        MSDN(info, {"centre_codes": "sometimes"})
    plain, centred = MSDN(info, off), MSDN(info, {**HP, "centre_codes": "on"})
    list(plain.fit(data, Control(), epochs=2))
    means = []
    for event in centred.fit(data, Control(), epochs=2):
        if isinstance(event, EpochEnd):  # validation encodes after every epoch: the mean must be current
            codes = centred.encode(data.features.rows("grid", data.train_index))
            means.append(np.abs(codes.mean(0)).max() / np.abs(codes).mean())
    assert len(means) == 2 and max(means) < 1e-4
    assert (plain._code_mean == 0).all() and "code_mean" not in plain.state_dict()  # off: the state as before
    x = data.features.rows("grid", np.arange(10))  # same seeded training: the codes differ by the mean only
    mean = centred._code_mean.numpy()
    assert np.abs(mean).max() > 0.1 * np.abs(plain.encode(x)).mean()
    np.testing.assert_allclose(centred.encode(x), plain.encode(x) - mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(centred.explain(x[0]).attribute_scores, centred.encode(x[:1])[0], rtol=1e-5, atol=1e-5)

    loaded = MSDN(info, HP)
    loaded.load_state_dict(_round_trip(centred.state_dict()))
    np.testing.assert_array_equal(loaded.encode(x), centred.encode(x))
    older = {k: v for k, v in centred.state_dict().items() if k != "code_mean"}  # shipped models, older checkpoints
    loaded.load_state_dict(older)
    np.testing.assert_allclose(loaded.encode(x), plain.encode(x), rtol=1e-5, atol=1e-5)  # uncentred, as before

    last = MSDN(info, {**HP, "centre_codes": "on"})  # a second final model: the mean of the averaged code
    last.adopt_members(centred)
    list(last.fit(replace(data, seed=1007), Control(), epochs=2))
    codes = last.encode(data.features.rows("grid", data.train_index))
    assert np.abs(codes.mean(0)).max() < 1e-4 * np.abs(codes).mean()
