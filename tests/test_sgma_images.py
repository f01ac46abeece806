"""SGMA with real images (the small built-in birds): crop streams trained and cached, the shared trainer and
its checkpoint, the part-localisation score."""

import numpy as np
import pytest

from zsl_desktop.engine.methods.base import Control, Message
from zsl_desktop.engine.methods.sgma import SGMA, part_localisation
from zsl_desktop.engine.methods.sgma.crop_cache import CropCache, cache_folder
from zsl_desktop.engine.methods.sgma.crops import CropEncoder
from zsl_desktop.engine.methods.sgma.evaluation import box_iou, coverage, random_boxes, region_box

from sgma_toys import extracted, grid_info, round_trip, train_data, with_images

CROP_HP = {"batch_size": 16, "attention_epochs": 1, "crop_size": 64, "kmeans_images": 64}


@pytest.fixture(scope="module")
def birds_store(small_birds, tmp_path_factory):
    return extracted(small_birds, tmp_path_factory.mktemp("sgma_store"))


def test_fit_with_images_trains_the_crop_streams_and_caches_the_crops(birds_store):
    dataset, store = birds_store
    source = with_images(dataset, store)
    m = SGMA(grid_info(dataset, store), CROP_HP)
    events = list(m.fit(train_data(dataset, source), Control(), epochs=2))
    assert any(isinstance(e, Message) and "part crops" in e.text for e in events)
    assert m._net.trained.tolist() == [2.0, 2.0, 1.0]
    folder = cache_folder(store.folder, 64, 32)
    assert list(folder.glob("chunk-*.npy"))
    rows = dataset.splits["test_unseen"]
    with_crops = m.encode_rows(source, rows)
    assert with_crops.shape == (len(rows), dataset.num_attributes) and np.isfinite(with_crops).all()
    grid_only = m.encode_rows(store.source(), rows)  # no images: the grid fallback, = encode
    np.testing.assert_array_equal(grid_only, m.encode(store.source().rows("grid", rows)))
    assert not np.allclose(with_crops, grid_only)
    # A second pass reads every crop from the cache; so does a new process-like fresh cache.
    encoder = m._crop_encoder(source.images, "cpu")
    before = encoder.computed
    np.testing.assert_array_equal(m.encode_rows(source, rows), with_crops)
    assert encoder.computed == before
    fresh = CropEncoder(source.images, m.info.channels, 64, 32)
    fresh.cache = CropCache(folder, m.info.channels)  # as another process opens it
    boxes = m.boxes(store.source().rows("grid", rows))
    np.testing.assert_array_equal(fresh.features(rows, boxes), encoder.features(rows, boxes))
    assert fresh.computed == 0
    # The round trip through a weights-only file scores identically, crops included.
    other = SGMA(grid_info(dataset, store), CROP_HP)
    other.load_state_dict(round_trip(m.state_dict()))
    np.testing.assert_array_equal(other.encode_rows(source, rows), with_crops)
    # explain with the image gives the crops and crop-based scores equal to encode_rows'.
    row = int(rows[0])
    e = m.explain(store.source().rows("grid", [row])[0], image=dataset.image_path(row))
    assert e.extras["part_features"] == "crops" and len(e.extras["crops"]) == 2
    assert e.extras["crops"][0].ndim == 3 and e.extras["crops"][0].dtype == np.uint8
    np.testing.assert_allclose(e.attribute_scores, with_crops[0], rtol=1e-4, atol=1e-4)


def test_the_shared_trainer_runs_sgma_and_its_checkpoint_loads(birds_store, tmp_path):
    """The trainer's scoring goes through ``method.encode_rows`` (crops) for SGMA (engine/scoring.py)."""
    from zsl_desktop.engine.checkpoints import load_checkpoint
    from zsl_desktop.engine.training import Finished, TrainConfig, method_from_checkpoint, train
    from zsl_desktop.engine.events import run_to_end

    dataset, store = birds_store
    source = with_images(dataset, store)
    config = TrainConfig(method="sgma", epochs=2, seed=1, hparams=CROP_HP)
    events = []
    finished = run_to_end(train(dataset, source, config, checkpoint_path=tmp_path / "s.pt"), events.append)
    assert isinstance(finished, Finished) and not finished.cancelled
    checkpoint = load_checkpoint(tmp_path / "s.pt")
    assert not any(k.startswith("optim.") for k in checkpoint.state)
    method = method_from_checkpoint(checkpoint)
    rows = dataset.splits["test_seen"]
    np.testing.assert_array_equal(method.encode_rows(source, rows), finished.method.encode_rows(source, rows))
    assert 0 <= checkpoint.header["metrics"]["h"] <= 1


def test_part_localisation_scores_and_helpers(birds_store):
    dataset, store = birds_store
    m = SGMA(grid_info(dataset, store), {**CROP_HP, "crops": False})
    list(m.fit(train_data(dataset, store.source()), Control(), epochs=1))
    test = np.concatenate([dataset.splits["test_seen"], dataset.splits["test_unseen"]])
    score = part_localisation(m, dataset, store.source(), test, 64, draws=5)
    values = score.as_dict()
    for key in ("peak_hits", "peak_uniform", "head_coverage", "head_coverage_random", "tail_iou_random"):
        assert 0.0 <= values[key] <= 1.0
    assert score.images == len(test) and score.head_images > 0
    assert set(score.nearest) == {0, 1}
    assert "random crops" in score.format()
    # helpers by hand
    np.testing.assert_allclose(region_box(np.array([[0.2, 0.3], [0.4, 0.5]]), pad=0.1), [0.1, 0.2, 0.5, 0.6])
    assert box_iou(np.array([0, 0, 1, 1.0]), np.array([0, 0, 0.5, 1.0])) == pytest.approx(0.5)
    pts = np.array([[0.1, 0.1], [0.9, 0.9]])
    assert coverage(np.array([[0, 0, 0.5, 0.5]]), pts).tolist() == [0.5]
    rb = random_boxes(np.array([0.3, 0.5]), 100, np.random.default_rng(0))
    np.testing.assert_allclose(rb[..., 2] - rb[..., 0], [[0.3, 0.5]] * 100)
    assert (rb >= 0).all() and (rb <= 1).all()
