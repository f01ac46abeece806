"""SGMA's several final models (``final_models``): the mean code, centring over all models, checkpoints."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from zsl_desktop.engine.methods.base import Control
from zsl_desktop.engine.methods.sgma import SGMA
from zsl_desktop.engine.methods.sgma.members import MEMBER_TENSORS

from sgma_toys import extracted, grid_info, round_trip, toy_problem, train_data, with_images

HP = {"batch_size": 16, "epochs": 2, "attention_epochs": 1, "kmeans_images": 40}


def train_final_models(info, data, hp, count=3):
    """As the trainer does: model j trains with seed + 1000 j and holds the earlier ones as members. Also each
    model alone: its own tensors and mean, loaded into a fresh model (the state of one model, as before)."""
    alone, last = [], None
    for j in range(count):
        model = SGMA(info, hp)
        if last is not None:
            model.adopt_members(last)
        list(model.fit(replace(data, seed=data.seed + 1000 * j), Control(), epochs=hp["epochs"]))
        state = {k: v for k, v in model.state_dict().items() if not k.startswith("member")}
        state["code_mean"] = state.pop("own_code_mean", state["code_mean"])
        single = SGMA(info, hp)
        single.load_state_dict(state)
        alone.append(single)
        last = model
    return alone, last


def test_members_average_the_codes_of_every_final_model_and_survive_a_weights_only_file():
    info, data = toy_problem()
    hp = {**HP, "centre_codes": "off"}
    assert SGMA(info, {}).final_models() == 2 and SGMA(info, {"final_models": "3"}).final_models() == 3
    alone, last = train_final_models(info, data, hp)
    x = data.features.rows("grid", np.arange(9))
    mean = sum(m.encode(x) for m in alone) / 3  # members are frozen: each is still the model it was
    np.testing.assert_allclose(last.encode(x), mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(last.encode_rows(data.features, np.arange(9)), mean, rtol=1e-5, atol=1e-5)
    explanation = last.explain(x[0])
    np.testing.assert_allclose(explanation.attribute_scores, mean[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(explanation.part_boxes, alone[-1].explain(x[0]).part_boxes)  # the newest's
    # the score is linear in the code: the mean code scores as the mean of the models' scores
    scores = sum(m.score(m.encode(x), data.class_attributes) for m in alone) / 3
    np.testing.assert_allclose(last.score(last.encode(x), data.class_attributes), scores, rtol=1e-4, atol=1e-4)

    state = last.state_dict()
    expected = {f"member{i}.{n}" for i in (0, 1) for n in (*MEMBER_TENSORS, "code_mean")}
    assert {k for k in state if k.startswith("member")} == expected and "own_code_mean" in state
    loaded = SGMA(info, hp)
    loaded.load_state_dict(round_trip(state))
    np.testing.assert_array_equal(loaded.encode(x), last.encode(x))
    with pytest.raises(ValueError, match="members are incomplete"):
        SGMA(info, hp).load_state_dict({k: v for k, v in state.items() if k != "member1.heads"})
    with pytest.raises(TypeError):
        SGMA(info, hp).adopt_members(object())


def test_one_final_model_keeps_the_state_and_codes_of_before():
    info, data = toy_problem()
    m = SGMA(info, HP)
    list(m.fit(data, Control(), epochs=3))
    state = m.state_dict()
    assert not any(k.startswith("member") or k == "own_code_mean" for k in state)  # the keys of before
    x = data.features.rows("grid", np.arange(9))
    emb = m._streams(m._grid(x))[0]  # the one model's code, minus its mean: what encode returned before
    np.testing.assert_array_equal(m.encode(x), (m._raw_code(emb) - m._code_mean[0]).numpy())
    loaded = SGMA(info, HP)
    loaded.load_state_dict(round_trip(state))
    np.testing.assert_array_equal(loaded.encode(x), m.encode(x))
    assert loaded._members == [] and torch.equal(loaded._own_mean, m._code_mean)


def test_centring_subtracts_the_mean_over_all_final_models_and_the_off_variant_leaves_it_out():
    info, data = toy_problem()  # 4 seen classes: centred under "auto"
    alone, centred = train_final_models(info, data, {**HP, "centre_codes": "on"}, count=2)
    codes = centred.encode(data.features.rows("grid", data.train_index))
    assert np.abs(codes.mean(0)).max() < 0.02 * np.abs(codes).mean()  # float16 stage-2 rows: not exact
    x = data.features.rows("grid", np.arange(10))
    means = [m._code_mean[0].numpy() for m in alone]
    assert np.abs(means[0] - means[1]).max() > 0.01 * np.abs(means[0]).max()  # each model has its own mean
    np.testing.assert_allclose(centred.encode(x), sum(m.encode(x) for m in alone) / 2, rtol=1e-5, atol=1e-4)
    with centred.scored_as("off"):  # off: the uncentred mean code
        uncentred = sum(m.encode(x) + mean for m, mean in zip(alone, means)) / 2
        np.testing.assert_allclose(centred.encode(x), uncentred, rtol=1e-5, atol=1e-4)
    loaded = SGMA(info, HP)
    loaded.load_state_dict(round_trip(centred.state_dict()))
    np.testing.assert_array_equal(loaded.encode(x), centred.encode(x))
    third = SGMA(info, {**HP, "centre_codes": "on"})  # adopting from a loaded model keeps every mean
    third.adopt_members(loaded)
    assert len(third._member_means) == 2 and torch.equal(third._member_means[1], centred._own_mean)


@pytest.fixture(scope="module")
def birds_store(small_birds, tmp_path_factory):
    return extracted(small_birds, tmp_path_factory.mktemp("sgma_members_store"))


def test_members_with_crops_average_each_models_own_crops(birds_store):
    dataset, store = birds_store
    source = with_images(dataset, store)
    info, data = grid_info(dataset, store), train_data(dataset, source)
    hp = {"batch_size": 32, "epochs": 2, "attention_epochs": 1, "crop_size": 64, "kmeans_images": 64}
    alone, last = train_final_models(info, data, hp, count=2)
    rows = dataset.splits["test_unseen"][:12]
    seen_progress = []
    codes = last.encode_rows(source, rows, progress=lambda done, total: seen_progress.append(done))
    mean = sum(m.encode_rows(source, rows) for m in alone) / 2
    np.testing.assert_allclose(codes, mean, rtol=1e-4, atol=1e-4)
    assert seen_progress == sorted(seen_progress) and seen_progress[-1] == len(rows)
    assert not np.allclose(codes, last.encode(source.rows("grid", rows)), atol=1e-3)  # crops, not the grid
    row = int(rows[0])
    e = last.explain(source.rows("grid", [row])[0], image=dataset.image_path(row))
    assert e.extras["part_features"] == "crops"
    np.testing.assert_allclose(e.attribute_scores, codes[0], rtol=1e-4, atol=1e-4)
