"""CE-GZSL / IPCE with several final models (``final_models``, ce_gzsl/members.py): the scores are the mean of
the models' scores, members survive save / load and resume, older single-model states still load."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from test_ipce import A, TINY, fit, make, synthetic, train_data, write_xlsa17
from zsl_desktop.engine.methods import get_method

SEEDS = (0, 1000, 2000)  # the trainer's final-model seeds for a run with seed 0


@pytest.fixture(scope="module")
def three():
    """Three models trained alone, and the same three as the trainer chains them (each next one adopting)."""
    features, labels, attributes = synthetic(per_class=16)
    alone = []
    for seed in SEEDS:
        model = make("ipce")
        fit(model, train_data(features, labels, attributes, seed=seed), 3)
        alone.append(model)
    chained = None
    for seed in SEEDS:
        model = make("ipce", final_models=3)
        if chained is not None:
            model.adopt_members(chained)
        fit(model, train_data(features, labels, attributes, seed=seed), 3)
        chained = model
    return alone, chained, features, attributes


def drawn_rows(attributes):
    return np.stack([attributes[1] * 0.5 + attributes[6] * 0.5, attributes[3] * 0.9 + 4.0])


def test_scores_are_the_mean_of_the_members_scores(three):
    """Known rows (classifiers) and drawn rows (comparators): the mean of the three models trained alone, so a
    member changes nothing in how the next model trains."""
    alone, chained, features, attributes = three
    x = torch.from_numpy(features)
    rows = np.concatenate([attributes, drawn_rows(attributes)])
    codes = chained.encode(x)
    assert codes.shape[1] == 3 * (TINY["embed_size"] + TINY["nhF"])
    expected = np.mean([m.score(m.encode(x), rows) for m in alone], 0)
    np.testing.assert_allclose(chained.score(codes, rows), expected, rtol=1e-5, atol=1e-5)
    singles = [m.score(m.encode(x), rows) for m in alone]
    assert min(np.abs(s - expected).max() for s in singles) > 1e-3  # the mean is not any one model's


def test_the_feature_view_shows_the_last_trained_model(three):
    alone, chained, features, attributes = three
    x = torch.from_numpy(features[:30])
    np.testing.assert_allclose(chained.embed(x), alone[-1].embed(x), atol=1e-5)
    np.testing.assert_allclose(chained.embed_codes(chained.encode(x)), alone[-1].embed(x), atol=1e-5)


def test_live_columns_with_members(three):
    """column_change bounds the averaged column's move; column_rows / column_whole give what score gives."""
    _, chained, features, attributes = three
    codes = chained.encode(torch.from_numpy(np.tile(features, (2, 1))))
    rng = np.random.default_rng(3)
    old = attributes[2] * 0.8 + 3.0
    for _ in range(8):
        new = old.copy()
        new[rng.integers(A)] = rng.uniform(0, 100)
        change = chained.column_change(codes, old, new)
        moved = chained.score(codes, new[None])[:, 0].astype(np.float64) - chained.score(codes, old[None])[:, 0]
        assert moved.min() >= change.low - 1e-4 and moved.max() <= change.high + 1e-4
        rows = np.sort(rng.choice(len(codes), 70, replace=False))
        whole = chained.score(codes, new[None])[:, 0]
        np.testing.assert_allclose(chained.column_rows(codes, rows, new), whole[rows], 1e-5, 1e-5)
        np.testing.assert_allclose(chained.column_whole(codes, new), whole, 1e-5, 1e-5)
        old = new
    assert chained.column_change(codes, attributes[2], old) is None  # a trained class: the classifiers' column
    np.testing.assert_allclose(chained.score(codes[:5], attributes), chained.score(codes, attributes)[:5], 1e-5, 1e-6)


def test_save_load_round_trip_with_members_unpickled(three):
    _, chained, features, attributes = three
    state = chained.state_dict()
    assert {k.split(".", 1)[0] for k in state if k.startswith("member")} == {"member0", "member1"}
    assert not any(k.startswith("member") and ".optim." in k for k in state)  # members carry no critic or Adam
    assert not any(k.startswith("member") and ".G." in k for k in state) and "G.fc1.weight" in state  # nor a generator
    buffer = io.BytesIO()
    torch.save({k: v for k, v in state.items() if not k.startswith("optim.")}, buffer)
    buffer.seek(0)
    loaded = make("ipce", final_models=3)
    loaded.load_state_dict(torch.load(buffer, weights_only=True))
    x = torch.from_numpy(features[:50])
    rows = np.concatenate([attributes, drawn_rows(attributes)])
    np.testing.assert_array_equal(loaded.score(loaded.encode(x), rows), chained.score(chained.encode(x), rows))
    broken = {k: v for k, v in state.items() if not k.startswith("member0.")}
    with pytest.raises(ValueError, match="members are incomplete"):
        make("ipce").load_state_dict(broken)


def test_a_single_model_state_loads_and_scores_as_one_model(three):
    """States from before final_models (no member entries) load as one model, whatever final_models says."""
    alone, _, features, attributes = three
    state = alone[0].state_dict()
    assert not any(k.startswith("member") for k in state)  # K = 1 saves what it always saved
    loaded = make("ipce", final_models=3)
    loaded.load_state_dict(state)
    x = torch.from_numpy(features[:40])
    codes = loaded.encode(x)
    assert codes.shape[1] == TINY["embed_size"] + TINY["nhF"]
    np.testing.assert_array_equal(loaded.score(codes, attributes), alone[0].score(alone[0].encode(x), attributes))


def test_resume_inside_a_later_final_model_repeats_the_uninterrupted_run():
    features, labels, attributes = synthetic(per_class=12)
    first = make("ce-gzsl", final_models=2)
    fit(first, train_data(features, labels, attributes, seed=0), 1)
    data = train_data(features, labels, attributes, seed=1000)
    whole = make("ce-gzsl", final_models=2)
    whole.adopt_members(first)
    fit(whole, data, 2)
    half = make("ce-gzsl", final_models=2)
    half.adopt_members(first)
    fit(half, data, 1)
    resumed = make("ce-gzsl", final_models=2)
    resumed.load_state_dict(half.state_dict())  # what the resume file holds
    fit(resumed, data, 2, start=1)
    a, b = whole.state_dict(), resumed.state_dict()
    assert set(a) == set(b) and any(k.startswith("member0.") for k in a)
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=1e-5), key


def test_refit_classifier_refits_every_model(three):
    import copy

    _, chained, features, attributes = three
    m = copy.deepcopy(chained)
    drawn = np.stack([attributes[0], attributes[6], attributes[6] * 0.3 + attributes[2] * 0.7])
    m.refit_classifier(drawn, seed=3)
    codes = m.encode(torch.from_numpy(features))
    dim = TINY["embed_size"] + TINY["nhF"]
    logits = [
        codes[:, i * dim : i * dim + TINY["embed_size"]] @ model._head["weight"].numpy().T + model._head["bias"].numpy()
        for i, model in enumerate(m._models())
    ]
    np.testing.assert_allclose(m.score(codes, drawn), np.mean(logits, 0), rtol=1e-5, atol=1e-4)


def refit_scores(model, features, attributes):
    import copy

    m = copy.deepcopy(model)
    drawn = np.stack([attributes[0], attributes[6], attributes[6] * 0.3 + attributes[2] * 0.7])
    m.refit_classifier(drawn, features[:40], np.array([0, 1] * 20), seed=3)
    return m.score(m.encode(torch.from_numpy(features)), drawn)


def test_states_with_and_without_the_members_generators_score_and_refit_alike(three):
    """Members keep no generator (members.py): the saved state scores and refits as the model in memory, and a
    state saved before that (every member's generator stored) loads, scores and refits the same."""
    alone, chained, features, attributes = three
    state = chained.state_dict()
    old = dict(state)
    for i, member in enumerate(alone[:2]):  # the same weights as chained's members (first test)
        old.update({f"member{i}.{k}": v for k, v in member.state_dict().items() if k.startswith("G.")})
    assert len(old) > len(state)
    x = torch.from_numpy(features[:50])
    rows = np.concatenate([attributes, drawn_rows(attributes)])
    expected = chained.score(chained.encode(x), rows)
    refit = refit_scores(chained, features, attributes)
    for saved in (state, old):
        loaded = make("ipce", final_models=3)
        loaded.load_state_dict(saved)
        np.testing.assert_array_equal(loaded.score(loaded.encode(x), rows), expected)
        np.testing.assert_allclose(refit_scores(loaded, features, attributes), refit, rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(loaded.synthesize(attributes[:2], 4), chained.synthesize(attributes[:2], 4))
    with pytest.raises(ValueError, match="no generator"):
        make("ipce").load_state_dict({k: v for k, v in state.items() if not k.startswith("G.")})


def test_adopting_members_drops_the_cached_comparators(three):
    """The column cache keeps the models' comparators and class rows' terms (scoring.ColumnCache): a model that
    adopts members scores drawn rows as the mean of all, not with the comparator it had cached alone."""
    import copy

    alone, _, features, attributes = three
    model = copy.deepcopy(alone[1])
    x = torch.from_numpy(np.tile(features, (2, 1)))
    drawn = drawn_rows(attributes)[:1]
    model.score(model.encode(x), drawn)
    assert model._column_cache is not None and model._column_cache.terms
    model.adopt_members(alone[0])
    assert model._column_cache is None
    expected = np.mean([m.score(m.encode(x), drawn) for m in alone[:2]], 0)
    np.testing.assert_allclose(model.score(model.encode(x), drawn), expected, rtol=1e-5, atol=1e-5)


def test_members_are_only_adopted_from_the_same_method(three):
    alone, _, _, _ = three
    with pytest.raises(TypeError, match="cannot average"):
        make("ce-gzsl", final_models=2).adopt_members(alone[0])


def test_the_trainer_trains_and_saves_final_models(tmp_path):
    """Through the trainer: K final models with seeds s, s + 1000; the checkpoint holds the members and loads."""
    from zsl_desktop.engine.checkpoints import load_checkpoint
    from zsl_desktop.engine.data.xlsa17 import load_xlsa17
    from zsl_desktop.engine.events import run_to_end
    from zsl_desktop.engine.session import Session
    from zsl_desktop.engine.training import TrainConfig, method_from_checkpoint, train

    assert get_method("ce-gzsl").default_hparams["final_models"] == make("ce-gzsl").final_models() == 3
    assert get_method("ipce").default_hparams["final_models"] == make("ipce").final_models() == 5  # session 11
    assert make("ipce", final_models="1").final_models() == 1
    dataset = load_xlsa17(write_xlsa17(tmp_path).parent)
    features = Session(dataset).features
    config = TrainConfig(method="ce-gzsl", epochs=2, hparams={**TINY, "final_models": 2}, seed=5, folds=2)
    out = tmp_path / "two.pt"
    finished = run_to_end(train(dataset, features, config, checkpoint_path=out))
    assert finished.header["selection"]["final_seeds"] == [5, 1005]
    checkpoint = load_checkpoint(out)
    assert any(k.startswith("member0.") for k in checkpoint.state) and not any(
        k.startswith("member1.") for k in checkpoint.state
    )
    loaded = method_from_checkpoint(checkpoint)
    x = torch.from_numpy(np.asarray(features.pooled[:20], np.float32))
    np.testing.assert_array_equal(
        loaded.score(loaded.encode(x), dataset.class_attributes),
        finished.method.score(finished.method.encode(x), dataset.class_attributes),
    )
