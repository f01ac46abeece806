"""Out-of-domain scores (engine/out_of_domain.py): the distance, the held-out threshold, persistence, AUROC."""

import numpy as np
import pytest
import torch

from zsl_desktop.engine import out_of_domain as ood
from zsl_desktop.engine.real_birds import use_real_bird_model


def clusters(rng, centre, n, spread=0.1):
    return np.abs(centre + spread * rng.standard_normal((n, len(centre)))).astype(np.float32)


def test_knn_distance_is_zero_on_the_reference_and_grows_with_the_angle():
    reference = ood.unit_rows(np.eye(4, dtype=np.float32))
    d = ood.knn_cosine_distance(reference, np.array([[2, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0.5]], np.float32), k=1)
    np.testing.assert_allclose(d, [0.0, 1 - np.sqrt(0.5), 0.0], atol=1e-6)
    # k = 2 averages the two most similar rows
    d2 = ood.knn_cosine_distance(reference, np.array([[1, 1, 0, 0]], np.float32), k=2)
    np.testing.assert_allclose(d2, [1 - np.sqrt(0.5)], atol=1e-6)


def test_threshold_accepts_unseen_species_and_flags_another_domain():
    rng = np.random.default_rng(0)
    birds = rng.random(64)  # what every species shares, plus its own offset
    species = [birds + 0.2 * rng.standard_normal(64) for _ in range(11)]
    train = np.concatenate([clusters(rng, c, 20) for c in species[:10]])
    labels = np.repeat(np.arange(10), 20)
    reference = ood.fit_reference(train, labels, false_alarm=0.05)
    assert reference.calibration_images == 200
    stand_ins = ood.leave_class_out_distances(reference.reference, labels, train, labels)
    assert np.mean(stand_ins > reference.threshold) == pytest.approx(0.05, abs=0.011)
    unseen_species = clusters(rng, species[10], 100)  # no training rows: must not be out of domain
    assert reference.is_out(unseen_species).mean() < 0.2
    other = clusters(rng, rng.random(64) * 4, 100)
    assert reference.is_out(other).mean() > 0.95
    assert ood.auroc(reference.score(unseen_species), reference.score(other)) > 0.99


def test_reference_is_bounded_and_round_trips_through_a_checkpoint(tmp_path):
    from zsl_desktop.engine.checkpoints import load_checkpoint, save_checkpoint

    rng = np.random.default_rng(1)
    big = rng.random((ood.MAX_REFERENCE + 100, 8)).astype(np.float32)
    reference = ood.fit_reference(big, np.arange(len(big)) % 7, big[:50], np.arange(50) % 7)
    assert len(reference.reference) == ood.MAX_REFERENCE
    path = save_checkpoint(
        tmp_path / "m.pt",
        {"method": "x", ood.HEADER_KEY: reference.header()},
        {"w": torch.zeros(2), **reference.state()},
    )
    checkpoint = load_checkpoint(path)
    back = ood.DomainReference.from_checkpoint(checkpoint.header, checkpoint.state)
    assert back.threshold == reference.threshold and back.k == reference.k
    query = rng.random((20, 8)).astype(np.float32)
    np.testing.assert_allclose(back.score(query), reference.score(query), atol=2e-3)  # stored as float16
    assert ood.DomainReference.from_checkpoint({"method": "x"}, {}) is None  # models without one


def test_auroc_matches_the_rank_definition_with_ties():
    assert ood.auroc([0, 1], [2, 3]) == 1.0
    assert ood.auroc([2, 3], [0, 1]) == 0.0
    assert ood.auroc([1, 1], [1, 1]) == 0.5
    inside, outside = [0.1, 0.4, 0.35, 0.8], [0.9, 0.4, 0.7]
    pairs = [(o > i) + 0.5 * (o == i) for i in inside for o in outside]
    assert ood.auroc(inside, outside) == pytest.approx(np.mean(pairs))


def test_reference_for_a_dataset_uses_its_trainval_calibration_rows(small_birds):
    from zsl_desktop.engine.methods.base import FeatureSource

    rng = np.random.default_rng(2)
    pooled = rng.random((small_birds.num_samples, 16)).astype(np.float32)
    reference = ood.reference_for_dataset(small_birds, FeatureSource(pooled=pooled), seed=0)
    train, held = ood.calibration_split(small_birds, 0)
    assert len(held) and not set(held) & set(train)
    assert set(train) | set(held) == set(small_birds.splits["trainval"].tolist())
    assert reference.calibration_images == len(train) + len(held)
    assert len(reference.reference) == len(train)


def test_which_model_predicts_a_photo():
    assert use_real_bird_model(out_for_current=True, out_for_real=False)  # a real bird on the drawings
    assert not use_real_bird_model(out_for_current=False, out_for_real=False)  # the current model knows it
    assert not use_real_bird_model(out_for_current=True, out_for_real=True)  # a cat: nobody knows it
    assert not use_real_bird_model(out_for_current=False, out_for_real=True)  # a drawing
