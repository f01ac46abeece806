"""The procedural-birds generator: CUB-200-2011 files to the byte, determinism, cancelling, the marker."""

from __future__ import annotations

import hashlib
import re
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zsl_desktop.engine.data.builtin_birds import (
    ATTRIBUTE_NAMES,
    GENERATOR_VERSION,
    GenerationCancelled,
    generate,
    is_generated,
)
from zsl_desktop.engine.data.model import Attribute

CUB_PARTS = [
    "back",
    "beak",
    "belly",
    "breast",
    "crown",
    "forehead",
    "left eye",
    "left leg",
    "left wing",
    "nape",
    "right eye",
    "right leg",
    "right wing",
    "tail",
    "throat",
]
TEXT_FILES = {
    "images.txt",
    "classes.txt",
    "image_class_labels.txt",
    "train_test_split.txt",
    "bounding_boxes.txt",
    "parts/parts.txt",
    "parts/part_locs.txt",
    "attributes/image_attribute_labels.txt",
    "attributes/class_attribute_labels_continuous.txt",
    "attributes/certainties.txt",
    "attributes.txt",
    "trainvalclasses.txt",
    "testclasses.txt",
    "README",
    ".complete",
}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("birds") / "small"
    calls = []
    generate(out, small=True, seed=0, progress=lambda done, total: calls.append((done, total)))
    return out, calls


def _lines(path: Path):
    raw = path.read_bytes()
    assert b"\r" not in raw, f"{path} must use \\n line endings"
    assert raw.endswith(b"\n")
    return raw.decode("utf-8").splitlines()


def _tree_hashes(root: Path) -> dict:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_small_reports_progress(small):
    """Behaviour only: how fast generation is belongs to ``zsl-desktop bench`` (first launch), not a unit test."""
    out, calls = small
    total = len(_lines(out / "images.txt"))
    assert calls == [(i, total) for i in range(1, total + 1)]
    assert is_generated(out) and is_generated(out, small=True, seed=0)
    assert not is_generated(out, seed=1)
    assert f"generator_version {GENERATOR_VERSION}" in (out / ".complete").read_text()


def test_file_set_and_cub_formats(small):
    out, _ = small
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {f for f in files if not f.startswith("images/")} == TEXT_FILES

    classes = [line.split(" ") for line in _lines(out / "classes.txt")]
    assert [int(c[0]) for c in classes] == list(range(1, len(classes) + 1))
    names = [c[1] for c in classes]
    for i, name in enumerate(names):
        assert re.fullmatch(rf"{i + 1:03d}\.[A-Z][a-z]+(_[A-Za-z]+)+", name), name
    assert 6 <= len(names) <= 10

    images = [line.split(" ") for line in _lines(out / "images.txt")]
    n = len(images)
    assert [int(i) for i, _ in images] == list(range(1, n + 1))
    paths = [p for _, p in images]
    assert paths == sorted(paths)
    assert {f for f in files if f.startswith("images/")} == {"images/" + p for p in paths}
    labels = [line.split(" ") for line in _lines(out / "image_class_labels.txt")]
    assert [int(i) for i, _ in labels] == list(range(1, n + 1))
    for (_, path), (_, c) in zip(images, labels):
        folder, file = path.split("/")
        assert folder == names[int(c) - 1]
        assert re.fullmatch(re.escape(folder.split(".", 1)[1]) + r"_\d{4}\.jpg", file)
    with Image.open(out / "images" / paths[0]) as im:
        assert im.format == "JPEG" and im.mode == "RGB" and im.size == (64, 64)
    size = 64

    split = [line.split(" ") for line in _lines(out / "train_test_split.txt")]
    assert [int(i) for i, _ in split] == list(range(1, n + 1))
    assert {s for _, s in split} == {"0", "1"}

    for i, line in enumerate(_lines(out / "bounding_boxes.txt")):
        fields = line.split(" ")
        assert int(fields[0]) == i + 1 and all("." in f for f in fields[1:])
        x, y, w, h = map(float, fields[1:])
        assert 0 <= x and 0 <= y and w > 5 and h > 5 and x + w <= size + 1e-6 and y + h <= size + 1e-6

    assert _lines(out / "parts" / "parts.txt") == [f"{i + 1} {p}" for i, p in enumerate(CUB_PARTS)]
    locs = [line.split(" ") for line in _lines(out / "parts" / "part_locs.txt")]
    assert len(locs) == n * 15
    for k, (i, p, x, y, v) in enumerate(locs):
        assert (int(i), int(p)) == (k // 15 + 1, k % 15 + 1)
        assert "." in x and "." in y and v in ("0", "1")
        if v == "0":
            assert (x, y) == ("0.0", "0.0")
        else:
            assert 0 <= float(x) < size and 0 <= float(y) < size

    attr_lines = _lines(out / "attributes.txt")
    assert attr_lines == [f"{i + 1} {a}" for i, a in enumerate(ATTRIBUTE_NAMES)]
    attributes = [Attribute.from_name(line.split(" ", 1)[1]) for line in attr_lines]
    for a in attributes:
        assert re.fullmatch(r"has_[a-z_]+::[a-z_]+", a.name)
    groups = {}
    for j, a in enumerate(attributes):
        groups.setdefault(a.group, []).append(j)
    assert 40 <= len(attributes) <= 60 and 11 <= len(groups) <= 14

    rows = [line.split(" ") for line in _lines(out / "attributes" / "image_attribute_labels.txt")]
    A = len(attributes)
    assert len(rows) == n * A
    present = np.zeros((n, A), dtype=np.int64)
    for k, (i, a, is_present, certainty, when) in enumerate(rows):
        assert (int(i), int(a)) == (k // A + 1, k % A + 1)
        assert is_present in ("0", "1") and certainty == "4" and when == "0"
        present[k // A, k % A] = int(is_present)
    for group, cols in groups.items():  # one value per group, per image
        assert (present[:, cols].sum(axis=1) == 1).all(), group

    continuous = np.array(
        [
            [float(v) for v in line.split(" ")]
            for line in _lines(out / "attributes" / "class_attribute_labels_continuous.txt")
        ]
    )
    assert continuous.shape == (len(names), A)
    assert (continuous >= 0).all() and (continuous <= 100).all()
    label = np.array([int(c) - 1 for _, c in labels])
    for c in range(len(names)):
        expected = present[label == c].mean(axis=0) * 100
        np.testing.assert_allclose(continuous[c], expected, atol=1e-6)

    seen = _lines(out / "trainvalclasses.txt")
    unseen = _lines(out / "testclasses.txt")
    assert sorted(seen + unseen) == names and not set(seen) & set(unseen)
    assert len(unseen) == 2
    readme = (out / "README").read_text()
    assert "seed 0" in readme


def test_same_seed_byte_identical_other_seed_differs(small, tmp_path):
    out, _ = small
    again = generate(tmp_path / "again", small=True, seed=0)
    assert _tree_hashes(again) == _tree_hashes(out)
    other = generate(tmp_path / "other", small=True, seed=1)
    a, b = _tree_hashes(out), _tree_hashes(other)
    assert a != b
    assert a["attributes/image_attribute_labels.txt"] != b["attributes/image_attribute_labels.txt"]


def test_cancel_leaves_nothing_behind(tmp_path):
    cancel = threading.Event()

    def progress(done, total):
        if done == 5:
            cancel.set()

    out = tmp_path / "birds"
    with pytest.raises(GenerationCancelled):
        generate(out, small=True, progress=progress, cancel=cancel)
    assert not out.exists() and not is_generated(out)
    assert list(tmp_path.iterdir()) == []

    # A cancelled regeneration keeps the complete dataset that was there.
    generate(out, small=True)
    before = _tree_hashes(out)
    cancel.clear()
    with pytest.raises(GenerationCancelled):
        generate(out, small=True, seed=3, progress=progress, cancel=cancel)
    assert _tree_hashes(out) == before and is_generated(out)
    assert [p.name for p in tmp_path.iterdir()] == ["birds"]


def test_is_generated_rejects_incomplete(tmp_path):
    assert not is_generated(tmp_path / "missing")
    assert not is_generated(tmp_path)
    (tmp_path / ".complete").write_text("generator_version 0\nseed 0\nsmall 1\n")
    assert not is_generated(tmp_path)
