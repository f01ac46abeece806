"""The bad-input corpus through every door: the loader, the CLI and feature extraction.

Images are skipped with a reason (extraction keeps going); dataset files and
checkpoints are refused with a message naming the file and the problem; the
CLI exits non-zero with that message and no traceback.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from corpus_datasets import make_folder_dataset
from corpus_images import LONG_NAME, NON_UTF8_NAME
from reliability_corpus import all_cases, assert_clear_refusal, checkpoint_cases, corpus, numbered
from zsl_desktop.engine.backbones import BACKBONES, preprocess
from zsl_desktop.engine.checkpoints import CheckpointError, check_compatible, load_checkpoint
from zsl_desktop.engine.data import DatasetError, load_dataset
from zsl_desktop.engine.images import ImageFileError, open_image

CORPUS_SIZE = 48
CASES = corpus()
IMAGES = [c for c in CASES if c.kind == "image"]
FILES = [c for c in CASES if c.kind in ("folder", "mat")]
CHECKPOINTS = [c for c in CASES if c.kind == "checkpoint"]
LITE = BACKBONES["efficientnet_lite0"]


def test_corpus_has_48_cases():
    assert len(CASES) == CORPUS_SIZE == len({c.id for c in CASES})
    assert (len(IMAGES), len(FILES), len(CHECKPOINTS)) == (18, 19, 11)


# -- images: open_image (what the app calls on a dropped photo) ---------------------------------------------


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("case", numbered(IMAGES, 1))
def test_image(case, tmp_path):
    path = case.build(tmp_path)
    if case.words is not None:
        with pytest.raises(ImageFileError, match=case.words) as info:
            open_image(path)
        assert str(path) in str(info.value) and info.value.path == str(path)
        return
    start = time.perf_counter()
    image = open_image(path)
    assert image.mode == "RGB"
    if case.check:
        case.check(image)
    x = preprocess(image, LITE, 32)
    assert x.shape == (3, 32, 32) and torch.isfinite(x).all()
    assert time.perf_counter() - start < 5, "an odd image must not take long (or much memory) to prepare"


# -- dataset files: the loader and `zsl-desktop info` -----------------------------------------------------


@pytest.mark.parametrize("case", numbered(FILES, len(IMAGES) + 1))
def test_dataset_file(case, tmp_path, cli):
    root = case.build(tmp_path)
    if case.words is None:
        dataset = load_dataset(root)
        assert dataset.num_classes == 3
        code, out, err = cli("info", "--dataset", root)
        assert code == 0 and "classes: 3" in out, err
        return
    with pytest.raises(DatasetError, match=case.words) as info:
        load_dataset(root)
    assert Path(info.value.path).name == case.file and case.file in str(info.value)
    code, out, err = cli("info", "--dataset", root)
    assert code == 2
    assert_clear_refusal(code, err, case.file, case.words)


# -- checkpoints: loading, compatibility, and `zsl-desktop eval` -------------------------------------------


@pytest.mark.parametrize("case", numbered(CHECKPOINTS, len(IMAGES) + len(FILES) + 1))
def test_checkpoint(case, tmp_path, small_birds, cli):
    from zsl_desktop.engine.training import method_from_checkpoint

    path = case.build(tmp_path, dataset=small_birds)
    with pytest.raises(CheckpointError, match=case.words) as info:
        checkpoint = load_checkpoint(path)
        check_compatible(checkpoint, small_birds)
        method_from_checkpoint(checkpoint)
    assert str(path) in str(info.value)
    start = time.perf_counter()
    code, out, err = cli("eval", "--checkpoint", path, "--dataset", small_birds.root)
    assert_clear_refusal(code, err, str(path), case.words)
    assert "features" not in err, "refused before extracting any features"
    assert time.perf_counter() - start < 20


def test_a_valid_checkpoint_passes_the_same_checks(tmp_path, small_birds):
    """The corpus's checkpoints are refused for their damage, not for how they were made."""
    from corpus_checkpoints import valid_checkpoint_parts
    from zsl_desktop.engine.checkpoints import save_checkpoint
    from zsl_desktop.engine.training import method_from_checkpoint

    path = save_checkpoint(tmp_path / "model.pt", *valid_checkpoint_parts(small_birds))
    checkpoint = load_checkpoint(path)
    check_compatible(checkpoint, small_birds)
    assert method_from_checkpoint(checkpoint).name == "msdn"


# -- images inside a dataset: extraction skips and records them, and keeps going ---------------------------


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_extraction_skips_bad_images_and_keeps_going(tmp_path, cli):
    """Every image case dropped into one class folder; `zsl-desktop extract` then reads the store."""
    from zsl_desktop.engine.features import FeatureStore
    from zsl_desktop.engine.extraction import extract_images

    root = make_folder_dataset(tmp_path)
    crow = root / "images" / "crow"
    built = {}
    for case in IMAGES:
        path = case.build(crow)
        if path.is_file():  # a folder named x.jpg is not listed as an image at all
            built[path.name] = case
    code, out, err = cli("extract", "--dataset", root, "--input-size", "32")
    assert code == 0 and "feature store:" in out, err
    refused = {name: c for name, c in built.items() if c.words}
    assert f"warning: {len(refused)} images could not be read" in err
    for name in refused:
        assert f"crow/{name}: " in err, f"{name} not reported: {err}"

    dataset = load_dataset(root)
    store = FeatureStore.open(dataset, "efficientnet_lite0", 32)
    assert store is not None, "the extraction finished despite the bad images"
    assert sorted(store.failed) == sorted(f"crow/{name}" for name in refused)
    for name, case in refused.items():
        assert case.words and __import__("re").search(case.words, store.failed[f"crow/{name}"])
    # Loose images (the app's "add photos"): the same verdicts, nothing raises, the same features.
    paths = [dataset.image_path(i) for i in range(dataset.num_samples)]
    grid, pooled, errors = extract_images(paths, input_size=32)
    assert sorted(Path(p).name for p in errors) == sorted(refused)
    for i, rel in enumerate(dataset.image_paths):
        if rel in store.failed:
            assert not np.asarray(store.pooled[i]).any() and str(paths[i]) in errors
        else:
            np.testing.assert_allclose(np.asarray(store.pooled[i], np.float32), pooled[i], atol=2e-3, rtol=2e-3)
    # odd names made it through the store's manifest and back
    assert f"crow/{os.fsdecode(NON_UTF8_NAME)}" in dataset.image_paths and f"crow/{LONG_NAME}" in dataset.image_paths

    _, _, errors = extract_images([crow / "folder.jpg", crow / "pipe.jpg"], input_size=32)
    assert "is a folder" in errors[str(crow / "folder.jpg")] and "not a regular file" in errors[str(crow / "pipe.jpg")]


def test_dataset_with_a_very_long_and_non_utf8_name(tmp_path, cli):
    """Folder names at the file-system limit and not in UTF-8: the store key and the CLI output cope."""
    base = tmp_path / os.fsdecode(b"caf\xe9")
    base.mkdir()
    root = make_folder_dataset(base, name="d" * 240)
    code, out, err = cli("info", "--dataset", root)
    assert code == 0 and "classes: 3" in out, err
    from zsl_desktop.engine.features import store_key

    key = store_key(load_dataset(root), "efficientnet_lite0", 32)
    assert len(key.encode()) < 200


def test_corpus_numbers_follow_the_case_order():
    ids = [p.id for p in numbered(CASES)]
    assert ids[0] == "corpus-01-zero-byte-jpeg" and ids[-1] == f"corpus-{CORPUS_SIZE}-checkpoint-missing-weights"
    assert [c.id for c in all_cases() + checkpoint_cases()] == [c.id for c in CASES]
