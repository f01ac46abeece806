"""Class 2 of issue 16: the feature store is keyed by the images' content, not only their names.

An image fixed or replaced on disk is extracted again (alone); another dataset with the same folder name
and listing never reuses these features; a touched but unchanged file costs no extraction.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from corpus_datasets import make_folder_dataset
from zsl_desktop.engine.data import load_dataset
from zsl_desktop.engine.features import FeatureStore, extract_all
from zsl_desktop.engine.image_stamps import SOURCES_FILE

SIZE = 32


def _extract(dataset, store_root):
    messages = []
    store = extract_all(dataset, input_size=SIZE, root=store_root, progress=lambda e: messages.append(e.message))
    return store, [m for m in messages if m]


def _open(dataset, store_root):
    return FeatureStore.open(dataset, "efficientnet_lite0", SIZE, store_root)


def _paint(path: Path, colour) -> None:
    Image.new("RGB", (48, 40), colour).save(path, "JPEG", quality=95)


@pytest.fixture
def extracted(tmp_path):
    root = make_folder_dataset(tmp_path / "a")
    dataset = load_dataset(root)
    store, _ = _extract(dataset, tmp_path / "store")
    return dataset, tmp_path / "store", store


def test_a_replaced_image_is_extracted_again_alone(extracted):
    dataset, store_root, store = extracted
    before = np.array(store.pooled)
    _paint(dataset.image_path(4), (10, 250, 10))
    assert _open(dataset, store_root) is None, "a changed image makes the store stale"
    store, messages = _extract(dataset, store_root)
    assert messages[:2] == [
        "1 images changed on disk: extracting them again",
        f"resuming: {dataset.num_samples - 1} of {dataset.num_samples} already extracted",
    ]
    after = np.array(store.pooled)
    assert not np.allclose(before[4], after[4]), "row 4 holds the new image's features"
    np.testing.assert_array_equal(np.delete(before, 4, 0), np.delete(after, 4, 0))
    assert _open(dataset, store_root) is not None


def test_a_repaired_image_is_no_longer_unreadable(tmp_path):
    root = make_folder_dataset(tmp_path / "a")
    dataset = load_dataset(root)
    victim = dataset.image_path(2)
    good = victim.read_bytes()
    victim.write_text("not an image")
    store, _ = _extract(dataset, tmp_path / "store")
    assert list(store.failed) == [dataset.image_paths[2]] and not np.asarray(store.pooled[2]).any()
    victim.write_bytes(good)  # the user fixes the file
    store, _ = _extract(dataset, tmp_path / "store")
    assert store.failed == {} and np.asarray(store.pooled[2]).any()


def test_another_dataset_with_the_same_name_and_listing_is_not_given_these_features(tmp_path, extracted):
    dataset, store_root, store = extracted
    first = np.array(store.pooled)
    twin_root = make_folder_dataset(tmp_path / "b")  # same folder name "birds", same files, other pixels
    twin = load_dataset(twin_root)
    for i in range(twin.num_samples):
        _paint(twin.image_path(i), (i * 20 % 255, 90, 200 - i * 10))
    assert twin.fingerprint == dataset.fingerprint, "the case the old key could not tell apart"
    assert _open(twin, store_root) is None
    store, _ = _extract(twin, store_root)
    fresh, _ = _extract(twin, tmp_path / "fresh-store")
    np.testing.assert_array_equal(np.array(store.pooled), np.array(fresh.pooled))
    assert not np.allclose(first, np.array(store.pooled))


def test_a_touched_but_unchanged_image_is_not_extracted_again(extracted):
    dataset, store_root, _ = extracted
    path = dataset.image_path(0)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    store = _open(dataset, store_root)
    assert store is not None, "same bytes: the hash matches, the store is used as it is"
    sources = np.load(store.folder / SOURCES_FILE)
    assert sources[0, 1] == stat.st_mtime_ns + 5_000_000_000, "the new time is recorded for next time"


def test_a_store_from_before_content_keys_is_still_read(extracted):
    dataset, store_root, store = extracted
    (store.folder / SOURCES_FILE).unlink()
    reopened = _open(dataset, store_root)
    assert reopened is not None and (store.folder / SOURCES_FILE).is_file(), "adopted, its stamps recorded"
    np.testing.assert_array_equal(np.array(reopened.pooled), np.array(store.pooled))


def test_caches_derived_from_changed_images_are_dropped(extracted):
    dataset, store_root, store = extracted
    (store.folder / "codes-0123.npy").write_bytes(b"old codes")
    (store.folder / "predictions-0123.npz").write_bytes(b"old scores")  # engine/session/snapshot.py
    (store.folder / "sgma-crops-128-q32").mkdir()
    _paint(dataset.image_path(1), (0, 0, 0))
    _extract(dataset, store_root)
    assert not (store.folder / "codes-0123.npy").exists()
    assert not (store.folder / "predictions-0123.npz").exists()
    assert not (store.folder / "sgma-crops-128-q32").exists()


def test_a_deleted_image_makes_its_row_unreadable_not_stale_forever(extracted):
    dataset, store_root, _ = extracted
    dataset.image_path(3).unlink()
    store, _ = _extract(dataset, store_root)
    assert "file not found" in store.failed[dataset.image_paths[3]]
    assert _open(dataset, store_root) is not None, "once recorded, the missing file does not re-trigger"


# -- the app's opening checks the images after its first predictions (issue 19: start-up) -------------
def _open_events(root, model_for=None):
    """The app's opening of the folder dataset at ``root`` (its store under the test's user folder): events.

    ``model_for(dataset, store)``: the (method, header, source) the opening uses, made once the store exists.
    """
    from zsl_desktop.engine.methods.base import Control
    from zsl_desktop.engine.session.opening import DatasetSpec, open_session

    model = None
    if model_for is not None:
        dataset = load_dataset(root)
        model = model_for(dataset, FeatureStore.open(dataset, "efficientnet_lite0", SIZE, check_images=False))
    spec = DatasetSpec(source="path", path=str(root), input_size=SIZE, model=model, warm_up=False)
    events = []
    for event in open_session(spec, Control(), events.append):
        events.append(event)
    return events


def _untrained_msdn(dataset, store):
    from zsl_desktop.engine.training import TrainConfig, build_method

    method = build_method(dataset, store.source(), TrainConfig(method="msdn", seed=0))
    return method, {"method": "msdn"}, "untrained"


def _kinds(events):
    from zsl_desktop.engine.session.results import Progress

    return [type(e).__name__ for e in events if not isinstance(e, Progress)]


def test_the_opening_shows_the_stored_features_first_then_extracts_a_changed_image_again(tmp_path):
    from zsl_desktop.engine.session.results import DatasetReady, ModelSummary, Notice

    root = make_folder_dataset(tmp_path / "a")
    dataset = load_dataset(root)
    store, _ = _extract(dataset, None)
    before = np.array(store.pooled)
    _paint(dataset.image_path(4), (10, 250, 10))

    events = _open_events(root, _untrained_msdn)
    ready = next(e for e in events if isinstance(e, DatasetReady))
    assert ready.features_ready, "the stored features are used at once; the images' check comes later"
    assert _kinds(events) == ["DatasetReady", "ModelSummary", "Notice", "FeaturesReady", "ModelSummary"]
    assert next(e for e in events if isinstance(e, Notice)).text.startswith("1 images changed on disk")
    first, second = [e for e in events if isinstance(e, ModelSummary)]
    assert first.source == second.source == "untrained", "the same model, encoding the new features"
    after = np.array(ready.session.store.pooled)
    assert not np.allclose(before[4], after[4]), "row 4 holds the new image's features"
    np.testing.assert_array_equal(np.delete(before, 4, 0), np.delete(after, 4, 0))
    assert _open(dataset, None) is not None


def test_the_opening_of_unchanged_images_neither_extracts_nor_loads_twice(tmp_path):
    root = make_folder_dataset(tmp_path / "a")
    _extract(load_dataset(root), None)
    assert _kinds(_open_events(root, _untrained_msdn)) == ["DatasetReady", "ModelSummary"]
