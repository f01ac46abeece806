"""The shipped real-bird model (trained/ce-gzsl_cub.pt) and its 200 species (resources/cub_classes.csv).

Like the other shipped-model tests: the CUB subset's test photos are re-extracted from the
real images (../shared/zsl_data; skipped where it is absent) and scored by the shipped file,
which must reach the figures it states, against all 200 species and among the subset's 50.
The out-of-domain reference must pass the test photos and flag non-bird photos.
"""

from pathlib import Path

import numpy as np
import pytest

from shipped import made_on_default_features
from zsl_desktop.engine import evaluation as ev
from zsl_desktop.engine import real_birds
from zsl_desktop.engine.checkpoints import load_checkpoint

# Seed 0 of `zsl-desktop train --dataset ../shared/zsl_data/CUB_200_2011 --method ce-gzsl --seed 0`, its softmax
# refit over the 200 species by docs/real_birds/make_shipped.py (see the README's "Real photos").
STATED_ALL_SPECIES = {"zsl_t1": 0.205, "u": 0.145, "s": 0.687, "h": 0.239}
STATED_SUBSET = {"zsl_t1": 0.590, "u": 0.230, "s": 0.752, "h": 0.352}
TOLERANCE = 0.01


@pytest.fixture(scope="module")
def cub_subset(shared_data):
    from zsl_desktop.engine.data import load_dataset

    return load_dataset(shared_data / "CUB_200_2011")


@pytest.fixture(scope="module")
def test_features(cub_subset):
    """Pooled Lite0 features of the subset's test photos (seen, then unseen), re-extracted."""
    from zsl_desktop.engine.extraction import extract_images

    d = cub_subset
    rows = np.concatenate([d.splits["test_seen"], d.splits["test_unseen"]])
    _, pooled, errors = extract_images([d.image_path(int(i)) for i in rows])
    assert not errors
    return pooled


def test_the_species_file_is_cubs_200_classes(shared_data):
    names, matrix = real_birds.cub_classes()
    root = shared_data / "CUB_200_2011"
    expected = [line.split(" ", 1)[1] for line in (root / "classes.txt").read_text().splitlines() if line.strip()]
    assert list(names) == expected and matrix.shape == (200, 312)
    original = np.loadtxt(root / "attributes" / "class_attribute_labels_continuous.txt", dtype=np.float64)
    np.testing.assert_array_equal(matrix, original.astype(np.float32))


def test_shipped_real_bird_model_reaches_its_stated_figures(cub_subset, test_features):
    checkpoint = load_checkpoint(real_birds.shipped_model_path())
    h = checkpoint.header
    assert h["method"] == "ce-gzsl" and h["gamma_source"] == "validation" and h["seed"] == 0
    assert h["dataset_fingerprint"] == cub_subset.fingerprint and made_on_default_features(h)
    assert not any(key.startswith("optim.") for key in checkpoint.state)  # no critic, no Adam state
    assert Path(real_birds.shipped_model_path()).stat().st_size < 20e6
    for stated, got in ((STATED_ALL_SPECIES, h["real_birds"]["metrics_all_species"]), (STATED_SUBSET, h["metrics"])):
        for name, value in stated.items():
            assert got[name] == pytest.approx(value, abs=0.0005), f"stated figure {name} is stale"

    model = real_birds.load_real_bird_model()
    d = cub_subset
    assert model.kinds.count("seen") == 40 and len(model.class_names) == 200
    positions = real_birds.species_positions(d, model.class_names)
    n_seen = len(d.splits["test_seen"])
    scores = model.scores(test_features)
    seen_pos = np.flatnonzero(np.array(model.kinds) == "seen")
    labels = positions[d.labels[np.concatenate([d.splits["test_seen"], d.splits["test_unseen"]])]]
    got = ev.evaluate(
        scores[:n_seen],
        labels[:n_seen],
        scores[n_seen:],
        labels[n_seen:],
        seen_pos,
        np.setdiff1d(np.arange(200), seen_pos),
        model.gamma,
    ).as_dict()
    for name, value in STATED_ALL_SPECIES.items():
        assert got[name] == pytest.approx(value, abs=TOLERANCE), name
    assert got["zsl_t1"] > 10 * (1 / 160)  # among 160 species without photos: far above chance
    subset = scores[:, positions]  # the subset's 50 classes only
    y = d.labels[np.concatenate([d.splits["test_seen"], d.splits["test_unseen"]])]
    got = ev.evaluate(
        subset[:n_seen], y[:n_seen], subset[n_seen:], y[n_seen:], d.seen_classes, d.unseen_classes, model.gamma
    ).as_dict()
    for name, value in STATED_SUBSET.items():
        assert got[name] == pytest.approx(value, abs=TOLERANCE), name


def test_shipped_real_bird_model_knows_bird_photos_and_not_others(test_features):
    import skimage

    from zsl_desktop.engine.extraction import extract_images

    model = real_birds.load_real_bird_model()
    assert model.domain is not None and model.domain.calibration_images > 0
    assert model.out_of_domain(test_features).mean() < 0.2  # real bird photos it never saw: mostly in domain
    folder = Path(skimage.__file__).parent / "data"
    photos = [folder / n for n in ("chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg")]
    _, pooled, errors = extract_images([str(p) for p in photos])
    assert not errors
    assert model.out_of_domain(pooled).all()
