"""CE-GZSL and IPCE: training, scoring of new classes, persistence (the losses by hand: test_ce_gzsl_losses.py)."""

from __future__ import annotations

import io
import math
import time

import numpy as np
import pytest
import scipy.io
import torch

from zsl_desktop.engine.methods.base import Control, EpochEnd, FeatureSource, ModelInfo, Step, TrainData
from zsl_desktop.engine.methods import get_method

# -- training on small synthetic data ---------------------------------------------------------------
K, A, D = 8, 4, 24
UNSEEN = np.array([6, 7])
TINY = {
    "ngh": 48,
    "ndh": 48,
    "embed_size": 32,
    "outz_size": 16,
    "nhF": 32,
    "batch_size": 32,
    "n_synth": 30,
    "cls_epochs": 10,
    "cls_batch": 64,
    "lr": 2e-3,
}


def synthetic(per_class=30, seed=0):
    """Classes whose features are a fixed linear function of their attributes plus noise."""
    rng = np.random.default_rng(seed)
    attributes = rng.uniform(0, 100, (K, A)).astype(np.float32)
    mix = rng.normal(size=(A, D)).astype(np.float32)
    unit = attributes / np.linalg.norm(attributes, axis=1, keepdims=True)
    labels = np.repeat(np.arange(K), per_class)
    features = np.maximum(unit[labels] @ mix * 3 + rng.normal(scale=0.3, size=(len(labels), D)), 0) + 1.0
    return features.astype(np.float32), labels, attributes


def make(name="ipce", seed=0, **hp):
    info = ModelInfo(attribute_names=tuple(f"a{i}" for i in range(A)), num_classes=K, feature_kind="pooled", channels=D)
    return get_method(name)(info, {**TINY, **hp})


def train_data(features, labels, attributes, seed=0):
    train = np.nonzero(~np.isin(labels, UNSEEN))[0]
    return TrainData(
        features=FeatureSource(pooled=features),
        train_index=train,
        train_labels=labels[train],
        class_attributes=attributes,
        seen_classes=np.setdiff1d(np.arange(K), UNSEEN),
        unseen_classes=UNSEEN,
        attribute_names=tuple(f"a{i}" for i in range(A)),
        seed=seed,
    )


def fit(method, data, epochs, start=0):
    return list(method.fit(data, Control(), epochs, start_epoch=start))


@pytest.fixture(scope="module")
def trained():
    features, labels, attributes = synthetic()
    method = make("ipce")
    events = fit(method, train_data(features, labels, attributes), 20)
    return method, events, features, labels, attributes


def test_both_names_are_registered_and_pooled():
    for name in ("ipce", "ce-gzsl"):
        cls = get_method(name)
        assert cls.feature_kind == "pooled" and cls.generative
    assert "margin" in get_method("ipce").default_hparams
    with pytest.raises(ValueError, match="unknown hyper-parameters"):
        make("ce-gzsl", margin=0.1)
    with pytest.raises(ValueError, match="scale"):
        make("ipce", scale="bogus")


def test_training_is_stable_and_learns(trained):
    method, events, features, labels, attributes = trained
    steps = [e for e in events if isinstance(e, Step)]
    assert [e.epoch for e in events if isinstance(e, EpochEnd)] == list(range(1, 21))
    assert steps[-1].step == steps[-1].total == len(steps)
    assert all(math.isfinite(v) for s in steps for v in s.losses.values())
    assert {"proto_real", "sample_real", "proto_fake", "cls_fake", "wasserstein"} <= set(steps[-1].losses)
    scores = method.score(method.encode(torch.from_numpy(features)), attributes)
    assert scores.shape == (len(features), K) and np.isfinite(scores).all()
    seen = np.setdiff1d(np.arange(K), UNSEEN)
    seen_rows = ~np.isin(labels, UNSEEN)  # among the seen classes (GZSL needs the calibration gamma)
    assert (seen[scores[seen_rows][:, seen].argmax(1)] == labels[seen_rows]).mean() > 0.9
    unseen_rows = np.isin(labels, UNSEEN)  # ZSL: restricted to the two unseen classes
    zsl = UNSEEN[scores[unseen_rows][:, UNSEEN].argmax(1)] == labels[unseen_rows]
    assert zsl.mean() > 0.75


def test_ce_gzsl_is_ipce_without_its_two_changes():
    """ipce with w_proto = 0, a fixed scale and no margin runs CE-GZSL's computation step for step."""
    features, labels, attributes = synthetic(per_class=12)
    data = train_data(features, labels, attributes)
    base = [e.losses for e in fit(make("ce-gzsl"), data, 2) if isinstance(e, Step)]
    ipce = [
        e.losses for e in fit(make("ipce", proto_weight=0.0, scale="fixed", margin=0.0), data, 2) if isinstance(e, Step)
    ]
    assert len(base) == len(ipce)
    for b, i in zip(base, ipce):
        for key in ("d_loss", "wasserstein", "cls_real", "con_real", "g_loss", "cls_fake"):
            assert i[key] == pytest.approx(b[key], rel=1e-5, abs=1e-6), key


def test_score_dataset_rows_use_the_classifier_new_rows_the_comparator(trained):
    method, _, features, _, attributes = trained
    codes = method.encode(torch.from_numpy(features[:50]))
    head = method._head
    h = torch.from_numpy(codes[:, :32])
    logits = (h @ head["weight"].t() + head["bias"]).numpy()
    assert np.allclose(method.score(codes, attributes), logits, atol=1e-4)
    # any subset or order of the dataset's rows maps onto the same classifier columns
    order = np.array([5, 2, 7])
    assert np.allclose(method.score(codes, attributes[order]), logits[:, order], atol=1e-4)
    # a drawn class: alpha * F(h, a) / tau_cls + beta, whatever rows come with it
    drawn = attributes[6] * 0.5 + attributes[1] * 0.5
    with torch.no_grad():
        a = torch.from_numpy(method.prepare_class_attributes(drawn[None]))
        f = method._F(h, a).numpy()[:, 0] / method.hparams["cls_temp"]
    alpha, beta = method._head["calibration"].tolist()
    expected = alpha * f + beta
    assert alpha > 0
    alone = method.score(codes, drawn[None])[:, 0]
    mixed = method.score(codes, np.stack([attributes[0], drawn, attributes[3]]))
    assert np.allclose(alone, expected, atol=1e-4)
    assert np.allclose(mixed[:, 1], expected, atol=1e-4) and np.allclose(mixed[:, [0, 2]], logits[:, [0, 3]], atol=1e-4)


def test_drawn_class_scoring_is_interactive(trained):
    method, _, features, _, attributes = trained
    codes = method.encode(torch.from_numpy(np.tile(features, (50, 1))[:10000]))
    rows = attributes.copy()
    method.score(codes, rows)  # the known logits are cached for these codes
    rows[3] = rows[3] * 0.9 + 1.0  # one slider move: one row the classifier does not know
    start = time.perf_counter()
    out = method.score(codes, rows)
    elapsed = time.perf_counter() - start
    assert out.shape == (10000, K)
    assert elapsed < 0.5, f"{elapsed:.3f}s for 10k images (the CPU is shared; the budget is generous)"


def test_more_new_rows_than_the_column_cache_holds_in_one_call(trained):
    """More than COLUMN_CACHE new rows on a big codes array at once: every column comes back (the cache evicts
    only after the result is built), equal to scoring the rows a few at a time."""
    from zsl_desktop.engine.methods.ce_gzsl.scoring import COLUMN_CACHE, SMALL_QUERY

    method, _, features, _, attributes = trained
    codes = method.encode(torch.from_numpy(features[: max(SMALL_QUERY, 80)]))
    rng = np.random.default_rng(3)
    drawn = rng.uniform(0, 100, (COLUMN_CACHE + 36, A)).astype(np.float32)
    alone = np.concatenate([method.score(codes, drawn[i : i + 10]) for i in range(0, len(drawn), 10)], axis=1)
    method._column_cache = None  # start cold, as a new codes array does
    together = method.score(codes, drawn)
    assert together.shape == (len(codes), len(drawn))
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-5)
    mixed = method.score(codes, np.concatenate([attributes, drawn]))  # with the classifier's rows too
    np.testing.assert_allclose(mixed[:, K:], alone, rtol=1e-5, atol=1e-5)


def test_a_drawn_class_column_moves_inside_its_bound_and_page_rows_score_alike(trained):
    """column_change bounds how far every image's comparator column moves (engine/live_page.py relies on it);
    column_rows and column_whole give the column ``score`` gives; trained rows have no bound."""
    method, _, features, _, attributes = trained
    codes = method.encode(torch.from_numpy(np.tile(features, (3, 1))))
    rng = np.random.default_rng(7)
    old = attributes[2] * 0.8 + 3.0
    for _ in range(15):
        new = old.copy()
        new[rng.integers(A)] = rng.uniform(0, 100)
        change = method.column_change(codes, old, new)
        moved = method.score(codes, new[None])[:, 0].astype(np.float64) - method.score(codes, old[None])[:, 0]
        assert change.spread is None and change.low <= change.high
        assert moved.min() >= change.low - 1e-4 and moved.max() <= change.high + 1e-4
        rows = np.sort(rng.choice(len(codes), 70, replace=False))
        np.testing.assert_allclose(
            method.column_rows(codes, rows, new), method.score(codes, new[None])[rows, 0], 1e-5, 1e-6
        )
        np.testing.assert_allclose(method.column_whole(codes, new), method.score(codes, new[None])[:, 0], 1e-5, 1e-6)
        old = new
    assert method.column_change(codes, attributes[2], old) is None  # a trained class: the classifier's column
    np.testing.assert_allclose(
        method.column_rows(codes, np.arange(5), attributes[2]),
        method.score(codes[:5], attributes[2:3])[:, 0],
        1e-5,
        1e-6,
    )
    big = np.tile(codes, (13, 1))  # more rows than one block of the comparator: stale() is asked between blocks
    assert method.column_whole(big, old * 1.1, stale=lambda: True) is None  # a newer move: stopped


def test_refit_classifier_learns_drawn_classes(trained):
    method, _, features, labels, attributes = trained
    import copy

    m = copy.deepcopy(method)
    drawn = np.stack([attributes[0], attributes[6], attributes[6] * 0.3 + attributes[2] * 0.7])
    m.refit_classifier(drawn, seed=3)
    codes = m.encode(torch.from_numpy(features))
    assert np.allclose(
        m.score(codes, drawn), codes[:, :32] @ m._head["weight"].numpy().T + m._head["bias"].numpy(), atol=1e-4
    )  # the drawn rows are classifier rows now
    rows = np.isin(labels, [0, 6])
    predicted = np.array([0, 6, -1])[m.score(codes[rows], drawn[:2]).argmax(1)]
    assert (predicted == labels[rows]).mean() > 0.75


def test_synthesize_embed_prototypes(trained):
    method, _, features, labels, attributes = trained
    x = method.synthesize(attributes[[0, 6]], 20, seed=1)
    assert x.shape == (40, D) and np.isfinite(x).all()
    assert np.array_equal(x, method.synthesize(attributes[[0, 6]], 20, seed=1))
    z = method.embed(torch.from_numpy(features))
    assert z.shape == (len(features), 16) and np.allclose(np.linalg.norm(z, axis=1), 1, atol=1e-5)
    assert np.allclose(method.embed_codes(method.encode(torch.from_numpy(features))), z, atol=1e-5)
    assert method.embed(torch.from_numpy(features), space="h").shape == (len(features), 32)
    protos = method.prototypes(attributes)
    assert protos.shape == (K, 16) and np.allclose(np.linalg.norm(protos, axis=1), 1, atol=1e-5)
    learnt = torch.nn.functional.normalize(method._proto.detach()[0], dim=0).numpy()
    assert np.allclose(protos[0], learnt, atol=1e-6)  # a training class: its learnt prototype
    # real features of a training class sit nearest their own prototype
    seen = ~np.isin(labels, UNSEEN)
    assert ((z[seen] @ protos.T)[:, :6].argmax(1) == labels[seen]).mean() > 0.9


def test_state_loads_with_weights_only_and_inference_state_has_no_critic(trained):
    method, _, features, _, attributes = trained
    state = method.state_dict()
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    inference = {k: v for k, v in loaded.items() if not k.startswith("optim.")}
    assert not any(k.startswith("critic") or k.startswith("D.") for k in inference)
    fresh = make("ipce")
    fresh.load_state_dict(inference)
    x = torch.from_numpy(features[:40])
    assert np.allclose(fresh.score(fresh.encode(x), attributes), method.score(method.encode(x), attributes), atol=1e-5)
    with pytest.raises(ValueError, match="other variant"):
        make("ce-gzsl").load_state_dict(inference)


def test_resume_repeats_the_uninterrupted_run():
    features, labels, attributes = synthetic(per_class=12)
    data = train_data(features, labels, attributes, seed=4)
    whole = make("ipce")
    fit(whole, data, 2)
    first = make("ipce")
    fit(first, data, 1)
    state = first.state_dict()
    resumed = make("ipce")
    resumed.load_state_dict(state)
    fit(resumed, data, 2, start=1)
    a, b = whole.state_dict(), resumed.state_dict()
    assert set(a) == set(b)
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=1e-5), key


# -- xlsa17 feature-only data, through the trainer and the command line -----------------------------------
def _cell(strings):
    out = np.empty((len(strings), 1), dtype=object)
    for i, s in enumerate(strings):
        out[i, 0] = np.array([s])
    return out


def write_xlsa17(folder, per_class=12):
    """A tiny res101.mat + att_splits.mat: 8 classes (6 seen, 2 unseen), 2048-d features tied to attributes."""
    rng = np.random.default_rng(7)
    original = rng.uniform(0, 100, (A, K))
    mix = rng.normal(size=(A, 2048))
    labels = np.repeat(np.arange(K), per_class)
    unit = (original / np.linalg.norm(original, axis=0)).T
    features = np.maximum(unit[labels] @ mix * 3 + rng.normal(scale=0.3, size=(len(labels), 2048)), 0)
    rows = np.arange(len(labels))
    seen_rows, unseen_rows = rows[labels < 6], rows[labels >= 6]
    test_seen = seen_rows[::4]
    trainval = np.setdiff1d(seen_rows, test_seen)
    train, val = trainval[labels[trainval] < 4], trainval[labels[trainval] >= 4]

    def loc(idx):
        return (np.asarray(idx) + 1).reshape(-1, 1).astype(np.uint16)

    scipy.io.savemat(
        folder / "att_splits.mat",
        {
            "att": original / np.linalg.norm(original, axis=0),
            "original_att": original,
            "trainval_loc": loc(trainval),
            "test_seen_loc": loc(test_seen),
            "test_unseen_loc": loc(unseen_rows),
            "train_loc": loc(train),
            "val_loc": loc(val),
            "allclasses_names": _cell([f"c{k}" for k in range(K)]),
        },
    )
    scipy.io.savemat(
        folder / "res101.mat",
        {
            "features": features.T,
            "labels": (labels + 1).reshape(-1, 1).astype(float),
            "image_files": _cell([f"/x/c{label}/{i}.jpg" for i, label in enumerate(labels)]),
        },
    )
    return folder / "res101.mat"


@pytest.mark.parametrize("name", ["ipce", "ce-gzsl"])
def test_xlsa17_features_train_from_the_command_line(tmp_path, capsys, name):
    from zsl_desktop.cli import main
    from zsl_desktop.engine.checkpoints import load_checkpoint

    path = write_xlsa17(tmp_path)
    out = tmp_path / f"{name}.pt"
    tiny = [f"--set={k}={v}" for k, v in TINY.items()]
    assert main(["train", "--dataset", str(path), "--method", name, "--epochs", "2", *tiny, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "test: " in printed
    checkpoint = load_checkpoint(out)
    assert checkpoint.header["method"] == name and checkpoint.header["channels"] == 2048
    assert not any(k.startswith("optim.") for k in checkpoint.state)
    assert main(["eval", "--checkpoint", str(out), "--dataset", str(path)]) == 0


def test_comparator_blocks_and_single_rows_match_the_network(trained, monkeypatch):
    """Blocked columns equal the network; one image's query leaves the big array's cache alone."""
    import zsl_desktop.engine.methods.ce_gzsl.scoring as ipce_module

    method, _, features, _, attributes = trained
    monkeypatch.setattr(ipce_module, "COMPARATOR_BLOCK_FLOATS", 7 * 64)  # several uneven blocks
    method._column_cache = None
    codes = method.encode(torch.from_numpy(features[:100]))
    drawn = attributes[2] * 0.3 + attributes[5] * 0.7
    h = torch.from_numpy(codes[:, :32])
    with torch.no_grad():
        a = torch.from_numpy(method.prepare_class_attributes(drawn[None]))
        f = method._F(h, a).numpy()[:, 0] / method.hparams["cls_temp"]
    alpha, beta = method._head["calibration"].tolist()
    column = method.score(codes, drawn[None])[:, 0]
    assert np.allclose(column, alpha * f + beta, atol=1e-4)
    cache = method._column_cache
    one = method.score(codes[7:8], drawn[None])[0, 0]
    assert method._column_cache is cache  # not evicted by the single row
    assert one == pytest.approx(column[7], abs=1e-4)


def test_comparator_cache_filled_inside_inference_mode_holds_no_inference_tensor(trained):
    import copy

    method, _, features, _, attributes = trained
    m = copy.deepcopy(method)
    codes = m.encode(torch.from_numpy(np.tile(features, (50, 1))[:10000]))
    rows = attributes.copy()
    rows[3] = rows[3] * 0.9 + 1.0  # a drawn row: answered by the comparator, through its cache
    with torch.inference_mode():
        m.score(codes, rows)
        m.column_change(codes, rows[3], rows[3] + 0.5)  # single rows' terms, kept in the cache too
        m.score(codes[:1], rows)
    assert m._column_cache is not None and len(m._column_cache.terms) == 2
    tensors = m._column_cache.tensors()
    assert tensors and not any(t.is_inference() for t in tensors)


@pytest.mark.parametrize(
    "hp, images",
    [({"calibration": "0.25"}, 6 * 2), ({"gamma_transfer": "folds"}, 0)],  # 6 seen classes of 9 trainval images
)
def test_calibration_share_and_gamma_transfer_are_hyper_parameters(tmp_path, hp, images):
    """``calibration`` f: the final run keeps f of each seen class aside to place gamma; ``gamma_transfer``
    "folds": it trains on all of trainval and takes the fold models' mean gamma."""
    from zsl_desktop.engine.data.xlsa17 import load_xlsa17
    from zsl_desktop.engine.events import run_to_end
    from zsl_desktop.engine.session import Session
    from zsl_desktop.engine.training import TrainConfig, train

    for name in ("ce-gzsl", "ipce"):
        cls = get_method(name)
        assert cls.calibration_fraction({}) is None  # the trainer's default, 0.1
        assert cls.calibration_fraction({"calibration": "0.2"}) == 0.2  # typed in the CLI: text
        assert cls.transfer_for({}) == "calibration"
        assert cls.transfer_for({"gamma_transfer": "folds"}) == "folds"
    dataset = load_xlsa17(write_xlsa17(tmp_path).parent)
    config = TrainConfig(method="ce-gzsl", epochs=2, hparams={**TINY, **hp}, seed=0, folds=2)
    finished = run_to_end(train(dataset, Session(dataset).features, config))
    selection = finished.header["selection"]
    assert selection["calibration_images"] == images
    assert selection["gamma_transfer"] == cls.transfer_for(hp)
    if images == 0:
        assert finished.header["gamma"] == pytest.approx(np.mean(selection["fold_gamma"]))


def test_calibration_rate_expected_aims_the_final_model_by_engine_readout(tmp_path):
    """``calibration_rate=expected``: the final model's gamma is read off its calibration images at
    ``engine.readout.rate_for_readout`` of the folds' curves; the folds' own best rate is kept beside it."""
    from zsl_desktop.engine.data.xlsa17 import load_xlsa17
    from zsl_desktop.engine.events import run_to_end
    from zsl_desktop.engine.readout import rate_for_readout
    from zsl_desktop.engine.session import Session
    from zsl_desktop.engine.training import TrainConfig, train

    assert get_method("ipce").aims_for_readout({}) is False  # IPCE's default: the best fold-mean rate
    assert get_method("ce-gzsl").aims_for_readout({}) is True  # CE-GZSL's (validation, docs/history/ce_gzsl.md)
    assert get_method("ce-gzsl").aims_for_readout({"calibration_rate": "best"}) is False
    with pytest.raises(ValueError, match="calibration_rate must be one of"):
        make("ipce", calibration_rate="median")  # refused when the model is built, before any training
    dataset = load_xlsa17(write_xlsa17(tmp_path).parent)
    hparams = {**TINY, "calibration_rate": "expected"}
    finished = run_to_end(
        train(
            dataset, Session(dataset).features, TrainConfig(method="ipce", epochs=2, hparams=hparams, seed=0, folds=2)
        )
    )
    selection = finished.header["selection"]
    fold_h = [row["h"] for row in selection["fold_rows"]]
    assert selection["calibration_images"] == 6  # one of each seen class's 9 trainval images
    assert selection["seen_rejection"] == rate_for_readout(fold_h, 6)
    assert selection["fold_mean_rate"] != selection["seen_rejection"]  # 6 images: a read-out noisy enough to move it
