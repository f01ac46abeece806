"""Each final model its own calibration images (``calibration_splits`` "each", engine.training.calibration_splits):
the splits, the single models the gammas are read on, and the trainer's gamma (the mean of the models' own)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from test_ipce import TINY, fit, make, synthetic, train_data, write_xlsa17
from zsl_desktop.engine.methods import get_method
from zsl_desktop.engine.selection import hold_out_per_class
from zsl_desktop.engine.training.calibration_splits import model_calibration_splits


def test_model_zero_keeps_the_shared_split_and_the_others_hold_other_images():
    labels = np.repeat(np.arange(6), 20)
    index = np.arange(len(labels))[::-1].copy()  # any order: the splits come back sorted
    splits = model_calibration_splits(index, labels, seed=12, fraction=0.1, count=5)
    shared = hold_out_per_class(index, labels, 12, fraction=0.1)
    assert len(splits) == 5
    np.testing.assert_array_equal(splits[0][0], shared[0])
    np.testing.assert_array_equal(splits[0][1], shared[1])
    held = [set(h.tolist()) for _, h in splits]
    for train, aside in splits:
        assert len(aside) == 12 and not set(train.tolist()) & set(aside.tolist())
        assert sorted([*train.tolist(), *aside.tolist()]) == sorted(index.tolist())
        assert all(np.sum(labels[aside] == c) == 2 for c in range(6))  # 10 % of every class
    assert all(not held[i] & held[j] for i in range(5) for j in range(i + 1, 5))  # 5 x 2 of 20: disjoint


def test_small_classes_wrap_round_and_tiny_ones_keep_nothing_aside():
    labels = np.array([0] * 10 + [1] * 2)
    splits = model_calibration_splits(np.arange(12), labels, seed=0, fraction=0.3, count=5)
    for train, aside in splits:
        assert len(aside) == 3 and set(labels[aside]) == {0}  # class 1 (2 images) keeps none aside
        assert len(train) == 9
    union = set().union(*(set(h.tolist()) for _, h in splits))
    assert union == set(range(10))  # 5 x 3 slices of 10 wrap round: every image is someone's


def test_the_defaults_and_a_wrong_value():
    assert get_method("ipce").calibrates_each_model({}) is False  # an option (session 12)
    assert get_method("ce-gzsl").calibrates_each_model({}) is False
    assert get_method("ipce").calibrates_each_model({"calibration_splits": " Each"}) is True
    with pytest.raises(ValueError, match="calibration_splits"):
        make("ipce", calibration_splits="every")


def test_single_models_score_alone_and_average_to_the_whole():
    features, labels, attributes = synthetic(per_class=12)
    chained = None
    for seed in (0, 1000):
        model = make("ipce", final_models=2)
        if chained is not None:
            model.adopt_members(chained)
        fit(model, train_data(features, labels, attributes, seed=seed), 2)
        chained = model
        if seed == 0:
            first_alone = model.score(model.encode(torch.as_tensor(features)), attributes)
    x = torch.as_tensor(features)
    singles = chained.single_models()
    assert len(singles) == 2 and singles[1] is not chained
    scores = [m.score(m.encode(x), attributes) for m in singles]
    np.testing.assert_allclose(scores[0], first_alone, rtol=1e-6, atol=1e-6)  # training order: model 0 first
    np.testing.assert_allclose(np.mean(scores, 0), chained.score(chained.encode(x), attributes), rtol=1e-5, atol=1e-5)
    assert make("ipce").single_models()[0] is not None


@pytest.mark.parametrize("splits", ["each", "shared"])
def test_the_trainer_reads_gamma_as_the_splits_say(tmp_path, splits):
    from zsl_desktop.engine.checkpoints import load_checkpoint
    from zsl_desktop.engine.data.xlsa17 import load_xlsa17
    from zsl_desktop.engine.events import run_to_end
    from zsl_desktop.engine.scoring import gamma_for_rejection_rate
    from zsl_desktop.engine.session import Session
    from zsl_desktop.engine.training import TrainConfig, method_from_checkpoint, train

    dataset = load_xlsa17(write_xlsa17(tmp_path).parent)
    features = Session(dataset).features
    hparams = {**TINY, "final_models": 2, "calibration_splits": splits, "calibration": 0.25}
    config = TrainConfig(method="ipce", epochs=2, hparams=hparams, seed=3, folds=2)
    out = tmp_path / "two.pt"
    finished = run_to_end(train(dataset, features, config, checkpoint_path=out))
    selection = finished.header["selection"]
    assert selection["calibration_splits"] == splits
    method = method_from_checkpoint(load_checkpoint(out))
    seen, unseen, rate = dataset.seen_classes, dataset.unseen_classes, selection["seen_rejection"]
    trainval = dataset.splits["trainval"]
    if splits == "each":
        parts = model_calibration_splits(trainval, dataset.labels, 3 + 7, 0.25, 2)
        gammas = [
            gamma_for_rejection_rate(m, dataset, features, held, seen, unseen, rate)
            for m, (_, held) in zip(method.single_models(), parts)
        ]
        expected = float(np.mean(gammas))
        assert selection["calibration_images"] == len(parts[1][1])
    else:
        _, held = hold_out_per_class(trainval, dataset.labels, 3 + 7, fraction=0.25)
        expected = gamma_for_rejection_rate(method, dataset, features, held, seen, unseen, rate)
    assert selection["calibration_images"] > 0
    assert finished.header["gamma"] == pytest.approx(expected, abs=1e-5)
