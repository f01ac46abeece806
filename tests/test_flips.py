"""Mirrored images: their own store (key ``-hflip``), extra training rows, flip test-time averaging.

Also: the store key of the unmirrored features is what it always was, so stores made before flips
existed (no "mirrored" field in their manifest) are still opened, not extracted again.
"""

import json

import numpy as np
import pytest
import torch

from zsl_desktop.engine.events import run_to_end
from zsl_desktop.engine.extraction import extract_images
from zsl_desktop.engine.feature_source import FeatureSource
from zsl_desktop.engine.features import FeatureStore, extract_all, feature_source, store_key
from zsl_desktop.engine.methods.base import Method
from zsl_desktop.engine.scoring import encode_rows
from zsl_desktop.engine.training import TrainConfig, train, train_data, with_flips

SIZE = 64  # 2x2 grids: fast


@pytest.fixture(scope="module")
def stores(small_birds, tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    plain = extract_all(small_birds, root=root, input_size=SIZE)
    mirrored = extract_all(small_birds, root=root, input_size=SIZE, mirrored=True)
    return small_birds, root, plain, mirrored


def test_mirrored_features_are_the_features_of_the_mirrored_image(stores, tmp_path):
    dataset, _, _, mirrored = stores
    from PIL import Image, ImageOps

    path = tmp_path / "mirror.png"
    ImageOps.mirror(Image.open(dataset.image_path(3))).save(path)
    grid, pooled, errors = extract_images([path], input_size=SIZE)
    assert not errors
    # One pixel of the centre crop may differ (an odd margin rounds to the other side): close, not equal.
    assert np.corrcoef(pooled[0], np.asarray(mirrored.pooled[3], np.float32))[0, 1] > 0.99
    assert mirrored.mirrored and not stores[2].mirrored


def test_store_keys_and_an_old_store_without_the_mirrored_field(stores):
    dataset, root, plain, mirrored = stores
    key = store_key(dataset, "efficientnet_lite0", SIZE)
    assert key == f"{dataset.name}-{dataset.fingerprint}-efficientnet_lite0-{SIZE}"  # the key stores always had
    assert mirrored.folder.name == key + "-hflip" and plain.folder.name == key
    manifest_path = plain.folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    old = {k: v for k, v in manifest.items() if k != "mirrored"}  # as written before flips
    manifest_path.write_text(json.dumps(old))
    try:
        reopened = FeatureStore.open(dataset, "efficientnet_lite0", SIZE, root=root)
        assert reopened is not None and not reopened.mirrored
        assert np.array_equal(np.asarray(reopened.pooled), np.asarray(plain.pooled))
        assert FeatureStore.open(dataset, "efficientnet_lite0", 96, root=root) is None  # another size: another store
    finally:
        manifest_path.write_text(json.dumps(manifest))


def test_mirrored_rows_follow_the_plain_rows(stores):
    dataset, _, plain, mirrored = stores
    source = feature_source(dataset, plain, mirrored)
    n = dataset.num_samples
    rows = source.rows("pooled", [n + 5, 2, n + 0, 7])
    expected = np.stack([mirrored.pooled[5], plain.pooled[2], mirrored.pooled[0], plain.pooled[7]]).astype(np.float32)
    assert torch.equal(rows, torch.from_numpy(expected))
    assert source.rows("grid", [n + 1]).shape == (1, *plain.grid.shape[1:])
    with pytest.raises(ValueError, match="extract them with --flips"):
        FeatureSource(pooled=plain.pooled).mirrored_rows([0])


def test_training_rows_double_with_flips_and_validation_rows_stay_plain(stores):
    dataset, _, plain, mirrored = stores
    source = feature_source(dataset, plain, mirrored)
    index = dataset.splits["trainval"][:10]
    data = train_data(dataset, source, index, dataset.seen_classes, "cpu", 0, mirrored=True)
    assert np.array_equal(data.train_index, np.concatenate([index, index + dataset.num_samples]))
    assert np.array_equal(data.train_labels, np.tile(dataset.labels[index], 2))
    plain_data = train_data(dataset, source, index, dataset.seen_classes, "cpu", 0)
    assert np.array_equal(plain_data.train_index, index)


def test_flip_modes_need_the_mirrored_store_and_refuse_sgma(stores):
    dataset, _, plain, mirrored = stores
    with pytest.raises(ValueError, match="mirrored images; extract them"):
        with_flips(plain.source(), TrainConfig(flips="train"))
    source = feature_source(dataset, plain, mirrored)
    assert with_flips(source, TrainConfig(flips="tta")).tta and not with_flips(source, TrainConfig(flips="train")).tta
    with pytest.raises(ValueError, match="crops of the original images"):
        with_flips(source, TrainConfig(method="sgma", flips="both"))


class _Mean:
    """A stand-in method whose codes are its pooled features (the base class's chunked encode_rows)."""

    feature_kind = "pooled"
    reencodes_images = False
    encode_rows = Method.encode_rows

    def encode(self, features):
        return features.numpy()


def test_tta_codes_are_the_mean_of_the_image_and_its_mirror(stores):
    dataset, _, plain, mirrored = stores
    rows = np.array([4, 1, 9])
    source = feature_source(dataset, plain, mirrored, tta=True)
    codes = encode_rows(_Mean(), source, rows)
    expected = (np.asarray(plain.pooled[rows], np.float32) + np.asarray(mirrored.pooled[rows], np.float32)) / 2
    assert np.allclose(codes, expected)
    assert np.allclose(
        encode_rows(_Mean(), feature_source(dataset, plain, mirrored), rows), np.asarray(plain.pooled[rows], np.float32)
    )


def test_a_model_trained_with_both_records_it_and_the_session_scores_with_mirrors(stores, tmp_path, monkeypatch):
    dataset, root, plain, mirrored = stores
    from zsl_desktop.engine import paths
    from zsl_desktop.engine.checkpoints import load_checkpoint
    from zsl_desktop.engine.session import Session

    source = feature_source(dataset, plain, mirrored)
    config = TrainConfig(method="ipce", epochs=1, select="test", input_size=SIZE, flips="both")
    finished = run_to_end(train(dataset, source, config, checkpoint_path=tmp_path / "m.pt"))
    header = load_checkpoint(tmp_path / "m.pt").header
    assert header["flips"] == "both" and header["input_size"] == SIZE
    monkeypatch.setattr(paths, "feature_store_dir", lambda: root)
    session = Session(dataset, input_size=SIZE, flips="both")
    run_to_end(session.prepare_features())
    session.use_checkpoint(load_checkpoint(tmp_path / "m.pt"))
    assert session.features.tta
    assert session.evaluate().as_dict()["h"] == pytest.approx(finished.report.as_dict()["h"], abs=1e-6)
