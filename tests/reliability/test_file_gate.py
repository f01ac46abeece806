"""Class 1 of issue 16: every user file passes one engine gate per kind (engine/userfiles.py).

Pipes, devices and folders are refused without blocking; sizes are bounded; the message is one line that
names the file and the problem. The app's "Add photos" path and SGMA's crop pass use the image gate; one
unreadable test image does not fail `eval`.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from corpus_datasets import make_folder_dataset
from corpus_images import jpeg_bytes
from reliability_corpus import assert_clear_refusal
from zsl_desktop.engine import userfiles
from zsl_desktop.engine.classes import LibraryError, read_export
from zsl_desktop.engine.images import ImageFileError, open_image


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _no_hang(fn, seconds: float = 10.0):
    """Run ``fn`` in a thread; fail (not hang) when it blocks. Returns its result or raises its exception."""
    box = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed back to the test
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "blocked on a special file"
    if "error" in box:
        raise box["error"]
    return box.get("value")


def test_fifo_classes_csv_is_refused_by_info(tmp_path, cli):
    root = make_folder_dataset(tmp_path)
    (root / "classes.csv").unlink()
    _fifo(root / "classes.csv")
    code, out, err = _no_hang(lambda: cli("info", "--dataset", root))
    assert code == 2
    assert_clear_refusal(code, err, "classes.csv", "named pipe")
    assert len(err.strip().splitlines()) == 1


def test_classes_csv_that_is_a_folder_is_refused(tmp_path, cli):
    root = make_folder_dataset(tmp_path)
    (root / "classes.csv").unlink()
    (root / "classes.csv").mkdir()
    code, out, err = cli("info", "--dataset", root)
    assert code == 2
    assert_clear_refusal(code, err, "classes.csv", "is a folder")


def test_classes_csv_linked_to_a_device_is_refused(tmp_path, cli):
    root = make_folder_dataset(tmp_path)
    (root / "classes.csv").unlink()
    (root / "classes.csv").symlink_to("/dev/zero")
    code, out, err = _no_hang(lambda: cli("info", "--dataset", root))
    assert code == 2
    assert_clear_refusal(code, err, "classes.csv", "is a device")


def test_a_text_table_over_the_size_limit_is_refused(tmp_path, cli, monkeypatch):
    root = make_folder_dataset(tmp_path)
    monkeypatch.setitem(userfiles.MAX_BYTES, "table", 64)
    code, out, err = cli("info", "--dataset", root)
    assert code == 2
    assert_clear_refusal(code, err, "classes.csv", "over the limit")


def test_fifo_split_file_is_refused(tmp_path, cli, small_birds):
    split = _fifo(tmp_path / "att_splits.mat")
    code, out, err = _no_hang(lambda: cli("info", "--dataset", small_birds.root, "--split-file", split))
    assert code == 2
    assert_clear_refusal(code, err, "att_splits.mat", "named pipe")


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_special_checkpoint_files_are_refused_by_eval(tmp_path, cli, small_birds, kind):
    path = tmp_path / "model.pt"
    _fifo(path) if kind == "fifo" else path.mkdir()
    code, out, err = _no_hang(lambda: cli("eval", "--checkpoint", path, "--dataset", small_birds.root))
    assert code == 2
    assert_clear_refusal(code, err, "model.pt", "named pipe" if kind == "fifo" else "is a folder")


def test_importing_a_fifo_class_file_is_refused(tmp_path):
    path = _fifo(tmp_path / "classes.json")
    with pytest.raises(LibraryError, match="named pipe") as info:
        _no_hang(lambda: read_export(path, ["a", "b"]))
    assert str(path) in str(info.value)


def test_an_image_over_the_byte_limit_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "big.jpg"
    path.write_bytes(jpeg_bytes())
    monkeypatch.setitem(userfiles.MAX_BYTES, "image", 100)
    with pytest.raises(ImageFileError, match="over the limit") as info:
        open_image(path)
    assert info.value.path == str(path)


# -- the app's "Add photos" ------------------------------------------------------------------------------


def _bomb_png(path: Path) -> Path:
    """A valid PNG header declaring 12000 x 9000 pixels (108 megapixels), with almost no data."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", 12000, 9000, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + chunk(b"IEND", b"")
    )
    return path


@pytest.fixture
def photo_session(tmp_path):
    """The session the app's workers call, on a tiny dataset (input size 32), without a window."""
    from zsl_desktop.engine.data import load_dataset
    from zsl_desktop.engine.session import Session

    root = make_folder_dataset(tmp_path / "data")
    return Session(load_dataset(root), "efficientnet_lite0", 32, "cpu")


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_add_photos_uses_the_image_gate_and_keeps_the_good_ones(tmp_path, photo_session):
    photos = tmp_path / "photos"
    photos.mkdir()
    good = [photos / "a.jpg", photos / "z.jpg"]
    for p in good:
        p.write_bytes(jpeg_bytes())
    pipe = _fifo(photos / "pipe.jpg")
    empty = photos / "empty.jpg"
    empty.write_bytes(b"")
    text = photos / "notes.jpg"
    text.write_text("this is not a photo\n")
    bomb = _bomb_png(photos / "huge.png")
    paths = [good[0], pipe, empty, text, bomb, good[1]]
    added = _no_hang(lambda: photo_session.add_photos(paths), 60)
    assert [i.path for i in added.items] == [str(good[0]), str(good[1])], "the photos around the bad ones are added"
    errors = dict(added.errors)
    assert "named pipe" in errors[str(pipe)]
    assert "empty (0 bytes)" in errors[str(empty)]
    assert "contains text, not image data" in errors[str(text)]
    assert "million pixels" in errors[str(bomb)] and "limit of 100" in errors[str(bomb)]
    (photos / "b.jpg").write_bytes(jpeg_bytes())
    again = _no_hang(lambda: photo_session.add_photos([photos / "b.jpg"]), 60)
    assert len(again.items) == 1, "the worker is not blocked after the pipe"


def test_app_image_loader_refuses_a_fifo(tmp_path):
    from zsl_desktop.engine.session.previews import load_image, load_thumbnail

    pipe = _fifo(tmp_path / "photo.jpg")
    for load in (lambda: load_image(pipe, 0), lambda: load_thumbnail(pipe, 64)):
        with pytest.raises(ImageFileError, match="named pipe") as info:
            _no_hang(load)
        assert info.value.path == str(pipe)


# -- images the engine reads itself: SGMA's crops, the evaluation --------------------------------------------


def test_a_truncated_image_in_the_crop_pass_is_named_and_skipped(tmp_path, caplog):
    from zsl_desktop.engine.feature_source import ImageAccess
    from zsl_desktop.engine.methods.sgma.crops import CropEncoder

    good, broken = tmp_path / "good.jpg", tmp_path / "broken.jpg"
    good.write_bytes(jpeg_bytes(size=(64, 64)))
    broken.write_bytes(jpeg_bytes(size=(64, 64))[:300])
    encoder = CropEncoder(
        ImageAccess([good, broken].__getitem__, "efficientnet_lite0", 32), channels=1280, crop_size=32
    )
    boxes = np.tile(np.array([[0.1, 0.1, 0.6, 0.6]]), (2, 1, 1))
    with caplog.at_level("WARNING"):
        feats = encoder.features([0, 1], boxes)
    assert feats.shape == (2, 1, 1280)
    assert np.abs(feats[0]).sum() > 0 and not feats[1].any()
    assert list(encoder.failed) == [str(broken)] and "truncated" in encoder.failed[str(broken)]
    assert str(broken) in caplog.text


def test_eval_skips_and_counts_an_unreadable_test_image(tmp_path, cli):
    """A test image broken after extraction: `eval` still evaluates the others and says how many it skipped."""
    from zsl_desktop.engine.data import load_dataset

    root = make_folder_dataset(
        tmp_path, images={c: [f"{i}.jpg" for i in range(6)] for c in ("crow", "robin", "cardinal")}
    )
    code, out, err = cli(
        "train",
        "--dataset",
        root,
        "--method",
        "msdn",
        "--epochs",
        "1",
        "--input-size",
        "32",
        "--out",
        tmp_path / "m.pt",
    )
    assert code == 0, err
    dataset = load_dataset(root)
    victim = dataset.image_path(int(dataset.splits["test_unseen"][0]))
    victim.write_bytes(victim.read_bytes()[:200])  # truncated on disk
    code, out, err = cli("eval", "--checkpoint", tmp_path / "m.pt", "--dataset", root, "--json", tmp_path / "e.json")
    assert code == 0, err
    assert "1 unreadable test images skipped" in out
    import json

    assert json.loads((tmp_path / "e.json").read_text())["skipped_images"] == 1


def test_reading_a_fifo_through_the_gate_is_refused_at_once(tmp_path):
    path = _fifo(tmp_path / "x.json")
    start = time.perf_counter()
    with pytest.raises(userfiles.UserFileError, match="named pipe"):
        userfiles.read_bytes(path, "json")
    assert time.perf_counter() - start < 1
