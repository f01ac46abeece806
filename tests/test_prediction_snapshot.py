"""A kept snapshot of a model's scores (engine/session/snapshot.py) reads back only when whole and current."""

from __future__ import annotations

import os

import numpy as np
import pytest

from zsl_desktop.engine.session.results import ClassSet
from zsl_desktop.engine.session.snapshot import (
    checkpoint_sha256,
    read_snapshot,
    snapshot_key,
    snapshot_path,
    write_snapshot,
)

N_ITEMS = 30


@pytest.fixture()
def store(tmp_path):
    """A feature store's state files and a checkpoint file, as the key reads them."""
    folder = tmp_path / "birds-0123-efficientnet_lite0-224"
    folder.mkdir()
    (folder / "manifest.json").write_text('{"status": "complete", "backbone": "efficientnet_lite0"}')
    (folder / "done.u8").write_bytes(bytes([1]) * N_ITEMS)
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(b"weights " * 100)
    return folder, checkpoint


def classes(extra: str | None = None, value: float = 0.5) -> ClassSet:
    names = ("crow", "robin", "wren") + ((extra,) if extra else ())
    kinds = ("seen", "seen", "unseen") + (("user",) if extra else ())
    return ClassSet(names=names, kinds=kinds, matrix=np.full((len(names), 4), value, np.float32))


def kept(store, class_set=None, scores=None):
    """(key, path, scores) of a snapshot written for ``store`` against ``class_set``."""
    folder, checkpoint = store
    class_set = class_set or classes()
    key = snapshot_key(checkpoint_sha256(checkpoint), folder, class_set)
    scores = np.random.default_rng(0).normal(size=(N_ITEMS, len(class_set.names))).astype(np.float32)
    path = snapshot_path(key, folder)
    assert write_snapshot(path, key, scores, class_set)
    return key, path, scores


def test_a_whole_current_snapshot_reads_back_exactly(store):
    key, path, scores = kept(store)
    snapshot = read_snapshot(path, key, N_ITEMS)
    assert snapshot is not None
    np.testing.assert_array_equal(snapshot.scores, scores)
    assert snapshot.class_names == ("crow", "robin", "wren")
    assert snapshot.class_kinds == ("seen", "seen", "unseen")
    assert path.parent == store[0] and not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_a_missing_snapshot_or_an_unknown_key_reads_as_none(store):
    folder, checkpoint = store
    key = snapshot_key(checkpoint_sha256(checkpoint), folder, classes())
    assert read_snapshot(snapshot_path(key, folder), key, N_ITEMS) is None
    assert read_snapshot(snapshot_path(key, folder), None, N_ITEMS) is None
    assert snapshot_key(None, folder, classes()) is None  # no checkpoint file: nothing is kept
    assert checkpoint_sha256(folder / "absent.pt") is None


@pytest.mark.parametrize("change", ["checkpoint", "classes", "class attributes", "store rows", "manifest", "tta"])
def test_anything_the_scores_depend_on_changes_the_key(store, change):
    folder, checkpoint = store
    before = snapshot_key(checkpoint_sha256(checkpoint), folder, classes())
    class_set, tta = classes(), False
    if change == "checkpoint":
        checkpoint.write_bytes(b"retrained " * 100)
    elif change == "classes":
        class_set = classes(extra="my bird")
    elif change == "class attributes":
        class_set = classes(value=0.25)
    elif change == "store rows":
        (folder / "done.u8").write_bytes(bytes([1]) * (N_ITEMS - 1) + bytes([0]))
    elif change == "manifest":
        (folder / "manifest.json").write_text('{"status": "partial", "backbone": "efficientnet_lite0"}')
    else:
        tta = True
    after = snapshot_key(checkpoint_sha256(checkpoint), folder, class_set, tta)
    assert after is not None and after != before


def test_a_stale_snapshot_is_never_read_for_the_current_key(store):
    folder, checkpoint = store
    old_key, old_path, _ = kept(store)
    checkpoint.write_bytes(b"retrained " * 100)
    new_key = snapshot_key(checkpoint_sha256(checkpoint), folder, classes())
    assert read_snapshot(old_path, new_key, N_ITEMS) is None  # even read from the old file's name
    os.replace(old_path, snapshot_path(new_key, folder))  # or renamed to the new one
    assert read_snapshot(snapshot_path(new_key, folder), new_key, N_ITEMS) is None


def test_a_snapshot_of_another_number_of_items_is_refused(store):
    key, path, _ = kept(store)
    assert read_snapshot(path, key, N_ITEMS + 1) is None


@pytest.mark.parametrize("cut", [0, 1, 100, -1])
def test_a_truncated_snapshot_reads_as_none(store, cut):
    key, path, _ = kept(store)
    data = path.read_bytes()
    path.write_bytes(data[:cut] if cut >= 0 else data[:cut])
    assert read_snapshot(path, key, N_ITEMS) is None


def test_a_damaged_score_reads_as_none(store):
    key, path, scores = kept(store)
    data = bytearray(path.read_bytes())
    at = bytes(data).find(scores.tobytes()[:16])  # the scores' bytes in the (uncompressed) file
    assert at > 0
    data[at + 5] ^= 0x40
    path.write_bytes(bytes(data))
    assert read_snapshot(path, key, N_ITEMS) is None


def test_a_pickled_or_foreign_file_is_not_unpickled(store):
    folder, checkpoint = store
    key = snapshot_key(checkpoint_sha256(checkpoint), folder, classes())
    path = snapshot_path(key, folder)
    np.savez(path, scores=np.array([object()], dtype=object), key=np.array(key))  # needs pickle to read
    assert read_snapshot(path, key, N_ITEMS) is None
    path.write_text("not a snapshot at all")
    assert read_snapshot(path, key, N_ITEMS) is None


def test_a_pipe_in_its_place_is_refused_without_blocking(store):
    folder, checkpoint = store
    key = snapshot_key(checkpoint_sha256(checkpoint), folder, classes())
    path = snapshot_path(key, folder)
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes here")
    os.mkfifo(path)
    assert read_snapshot(path, key, N_ITEMS) is None


def test_scores_that_do_not_match_the_classes_are_not_written(store):
    folder, _ = store
    with pytest.raises(ValueError):
        write_snapshot(folder / "x.npz", "k", np.zeros((N_ITEMS, 2), np.float32), classes())


def test_find_snapshot_finds_either_flip_mode_and_only_a_current_one(store):
    from zsl_desktop.engine.session.snapshot import find_snapshot

    folder, checkpoint = store
    digest = checkpoint_sha256(checkpoint)
    scores = np.ones((N_ITEMS, 3), np.float32)
    tta_key = snapshot_key(digest, folder, classes(), tta=True)
    assert write_snapshot(snapshot_path(tta_key, folder), tta_key, scores, classes(), model_gamma=0.7)
    found = find_snapshot(digest, folder, classes(), N_ITEMS)
    assert found is not None and found.key == tta_key and found.model_gamma == pytest.approx(0.7)
    assert find_snapshot(digest, folder, classes("my bird"), N_ITEMS) is None  # other classes
    assert find_snapshot("0" * 64, folder, classes(), N_ITEMS) is None  # another checkpoint
    assert find_snapshot(digest, None, classes(), N_ITEMS) is None  # a store not known without torch


def test_the_keeper_writes_a_model_files_scores_once_per_key_and_none_without_a_file(store):
    from zsl_desktop.engine.session.snapshot import SnapshotKeeper, find_snapshot

    folder, checkpoint = store
    keeper = SnapshotKeeper()
    scores = np.arange(N_ITEMS * 3, dtype=np.float32).reshape(N_ITEMS, 3)
    assert keeper.keep(folder, classes(), False, scores, 0.0) is None  # an injected or trained model: no file
    keeper.model_from(checkpoint_sha256(checkpoint))
    path = keeper.keep(folder, classes(), False, scores, 0.25)
    assert path is not None and path.is_file()
    assert keeper.keep(folder, classes(), False, scores, 0.25) is None  # this key is written already
    np.testing.assert_array_equal(
        find_snapshot(checkpoint_sha256(checkpoint), folder, classes(), N_ITEMS).scores, scores
    )


def test_a_store_keeps_only_its_newest_snapshots(store):
    """Every saved class makes a new key (~20 MB at 100,000 images): the keeper deletes all but the newest two."""
    from zsl_desktop.engine.session.snapshot import KEEP_NEWEST, SnapshotKeeper

    folder, checkpoint = store
    keeper = SnapshotKeeper()
    keeper.model_from(checkpoint_sha256(checkpoint))
    paths = []
    for k in range(4):
        class_set = classes(extra=f"mine{k}")
        scores = np.zeros((N_ITEMS, len(class_set.names)), np.float32)
        paths.append(keeper.keep(folder, class_set, False, scores, 0.0))
        os.utime(paths[-1], (1_000_000 + k, 1_000_000 + k))  # distinct ages, whatever the file system's clock
    assert KEEP_NEWEST == 2
    assert sorted(folder.glob("predictions-*.npz")) == sorted(paths[-2:])
    assert (folder / "manifest.json").is_file() and (folder / "done.u8").is_file()  # only snapshots are pruned
