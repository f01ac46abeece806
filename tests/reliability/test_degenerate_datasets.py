"""Class 7 of issue 16 (and the CSV/.mat half of class 4): datasets that cannot give a zero-shot result are
refused when they are loaded, naming the file (and the line where there is one), never after training.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from corpus_datasets import make_folder_dataset
from reliability_corpus import assert_clear_refusal
from zsl_desktop.engine.data import DatasetError, load_dataset


def write_cub(root: Path, n_classes: int = 4, per_class: int = 3) -> Path:
    """A tiny CUB folder (images, labels, class attributes, parts, class lists)."""
    (root / "images").mkdir(parents=True)
    (root / "attributes").mkdir()
    (root / "parts").mkdir()
    images, labels = [], []
    for c in range(1, n_classes + 1):
        folder = f"{c:03d}.Bird_{c}"
        (root / "images" / folder).mkdir()
        for j in range(per_class):
            rel = f"{folder}/Bird_{c}_{j}.jpg"
            images.append(rel)
            labels.append(c)
            Image.new("RGB", (16, 16), (c * 40, j * 30, 0)).save(root / "images" / rel)
    (root / "images.txt").write_text("".join(f"{i} {p}\n" for i, p in enumerate(images, 1)))
    (root / "classes.txt").write_text("".join(f"{c} {c:03d}.Bird_{c}\n" for c in range(1, n_classes + 1)))
    (root / "image_class_labels.txt").write_text("".join(f"{i} {c}\n" for i, c in enumerate(labels, 1)))
    names = ["has_bill_shape::cone", "has_bill_shape::hooked", "has_crown_color::red"]
    (root / "attributes.txt").write_text("".join(f"{i} {n}\n" for i, n in enumerate(names, 1)))
    (root / "attributes" / "class_attribute_labels_continuous.txt").write_text(
        "".join(f"{10 * c} {50 - c} {c}\n" for c in range(1, n_classes + 1))
    )
    (root / "parts" / "parts.txt").write_text("1 beak\n2 crown\n")
    (root / "parts" / "part_locs.txt").write_text(
        "".join(f"{i} {p} {3.0 * p} 4.0 1\n" for i in range(1, len(images) + 1) for p in (1, 2))
    )
    (root / "testclasses.txt").write_text(f"{n_classes:03d}.Bird_{n_classes}\n")
    (root / "trainvalclasses.txt").write_text("".join(f"{c:03d}.Bird_{c}\n" for c in range(1, n_classes)))
    return root


def _refused(root, cli, file: str, words: str, line: int | None = None):
    with pytest.raises(DatasetError, match=words) as info:
        load_dataset(root)
    assert Path(info.value.path).name == file
    if line is not None:
        assert info.value.line == line, str(info.value)
    code, out, err = cli("info", "--dataset", root)
    assert code == 2
    assert_clear_refusal(code, err, file, words)
    if line is not None:
        assert f"line {line}" in err
    assert len(err.strip().splitlines()) == 1


def test_the_tiny_cub_is_fine(tmp_path):
    dataset = load_dataset(write_cub(tmp_path / "cub"))
    assert dataset.num_classes == 4 and dataset.part_locations.shape == (12, 2, 3)


def test_part_locations_for_image_id_minus_one(tmp_path, cli):
    root = write_cub(tmp_path / "cub")
    with open(root / "parts" / "part_locs.txt", "a") as f:
        f.write("-1 1 5.0 5.0 1\n")
    _refused(root, cli, "part_locs.txt", "image id -1 is not in images.txt", line=25)


def test_part_locations_for_a_huge_image_id_fail_fast(tmp_path, cli):
    root = write_cub(tmp_path / "cub")
    text = (root / "parts" / "part_locs.txt").read_text().splitlines()
    text[3] = "9000000000000 2 5.0 5.0 1"
    (root / "parts" / "part_locs.txt").write_text("\n".join(text) + "\n")
    start = time.perf_counter()
    _refused(root, cli, "part_locs.txt", "image id 9e\\+12 is not in images.txt", line=4)
    assert time.perf_counter() - start < 10, "no huge lookup table is allocated"


def test_part_locations_are_written_on_their_own_image(tmp_path):
    root = write_cub(tmp_path / "cub")
    (root / "parts" / "part_locs.txt").write_text("5 1 7.0 8.0 1\n")
    dataset = load_dataset(root)
    assert dataset.part_locations[4, 0].tolist() == [7.0, 8.0, 1.0]
    assert not dataset.part_locations[np.arange(12) != 4].any(), "no other image got those coordinates"


def test_a_class_in_both_class_lists(tmp_path, cli):
    root = write_cub(tmp_path / "cub")
    (root / "trainvalclasses.txt").write_text("001.Bird_1\n002.Bird_2\n003.Bird_3\n004.Bird_4\n")
    _refused(root, cli, "trainvalclasses.txt", "class '004.Bird_4' is also in testclasses.txt", line=4)


def test_the_same_image_listed_twice(tmp_path, cli):
    root = write_cub(tmp_path / "cub")
    lines = (root / "images.txt").read_text().splitlines()
    lines.append(f"13 {lines[0].split(' ', 1)[1]}")
    (root / "images.txt").write_text("\n".join(lines) + "\n")
    with open(root / "image_class_labels.txt", "a") as f:
        f.write("13 1\n")
    _refused(root, cli, "images.txt", "image '001.Bird_1/Bird_1_0.jpg' is already listed on line 1", line=13)


def test_no_unseen_test_images(tmp_path, cli):
    root = make_folder_dataset(tmp_path, classes="class,split,a,b\ncrow,seen,0.1,0.9\nrobin,seen,0.8,0.2\n")
    _refused(root, cli, "classes.csv", "no unseen class: at least one class must have split 'unseen'")


def test_unseen_classes_without_images(tmp_path, cli):
    root = write_cub(tmp_path / "cub")
    for f in (root / "images" / "004.Bird_4").iterdir():
        f.unlink()
    _refused(root, cli, "testclasses.txt", "no unseen test images")


def test_a_seen_class_without_training_images(tmp_path, cli):
    root = make_folder_dataset(tmp_path)
    rows = ["image,split"]
    for cls, split in (("crow", "trainval"), ("robin", "test_seen"), ("cardinal", "test_unseen")):
        rows += [f"{cls}/{i}.jpg,{split}" for i in range(3)]
    (root / "splits.csv").write_text("\n".join(rows) + "\n")
    _refused(root, cli, "splits.csv", "seen class 'robin' has 0 training images")


def test_an_image_in_trainval_and_test_is_leakage(small_birds):
    """However a loader came to it (an att_splits.mat, a bug): the split check refuses the overlap."""
    import dataclasses

    from zsl_desktop.engine.data import check_zsl_split

    splits = dict(small_birds.splits)
    splits["test_seen"] = np.union1d(splits["test_seen"], splits["trainval"][:1])
    leaky = dataclasses.replace(small_birds, splits=splits)
    with pytest.raises(DatasetError, match="is in both trainval and test_seen") as info:
        check_zsl_split(leaky)
    assert small_birds.image_paths[int(splits["trainval"][0])] in str(info.value)
    assert Path(info.value.path).name == "testclasses.txt"


def test_a_class_seen_and_unseen_at_once(small_birds):
    import dataclasses

    from zsl_desktop.engine.data import check_zsl_split

    both = dataclasses.replace(
        small_birds, unseen_classes=np.union1d(small_birds.unseen_classes, small_birds.seen_classes[:1])
    )
    with pytest.raises(DatasetError, match="is listed both seen and unseen"):
        check_zsl_split(both)


# -- numbers in files (class 4): values that overflow float32 ---------------------------------------------


@pytest.mark.parametrize("value", ["1e39", "-3.5e38"])
def test_attribute_values_beyond_float32_are_refused(tmp_path, cli, value):
    from corpus_datasets import CLASSES

    root = make_folder_dataset(tmp_path, CLASSES.replace("0.2,0.8,0.2", f"0.2,{value},0.2"))
    _refused(root, cli, "classes.csv", "too large \\(beyond ±3.4e38, the float32 range\\)", line=3)


def test_cub_attribute_matrix_beyond_float32_is_refused(tmp_path, cli):
    root = write_cub(tmp_path / "cub")
    (root / "attributes" / "class_attribute_labels_continuous.txt").write_text("10 49 1\n20 48 2\n30 1e39 3\n40 46 4\n")
    _refused(root, cli, "class_attribute_labels_continuous.txt", "'1e39' is too large .*float32 range", line=3)


def test_mat_values_beyond_float32_are_refused(tmp_path):
    import scipy.io

    from zsl_desktop.engine.data.textfiles import mat_numeric, read_mat

    path = tmp_path / "att_splits.mat"
    scipy.io.savemat(path, {"att": np.array([[1.0, 1e39]])})
    with pytest.raises(DatasetError, match="field 'att' has values beyond ±3.4e38") as info:
        mat_numeric(read_mat(path, ["att"])["att"], path, "att")
    assert str(path) in str(info.value)
