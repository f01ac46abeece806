"""AwA2 and SUN Attribute loaders: tiny fixture folders in the exact file formats, and the real xlsa17 splits."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest
import scipy.io
from PIL import Image

from zsl_desktop.engine.data.awa2 import load_awa2
from zsl_desktop.engine.data.model import DatasetError
from zsl_desktop.engine.data.sun import load_sun, scene_class
from zsl_desktop.engine.paths import shared_data_dir

SHARED = shared_data_dir()
needs_shared = pytest.mark.skipif(SHARED is None, reason="../shared/zsl_data (real xlsa17 files) is not present")

AWA_CLASSES = ["antelope", "grizzly+bear", "killer+whale", "beaver", "dalmatian"]
AWA_PREDICATES = ["black", "white", "blue", "brown", "gray", "orange"]
AWA_UNSEEN = ["killer+whale", "dalmatian"]


def cell(strings):
    out = np.empty((len(strings), 1), dtype=object)
    for i, s in enumerate(strings):
        out[i, 0] = np.array([s])
    return out


def locs(indices):
    return (np.asarray(indices, dtype=np.uint16) + 1).reshape(-1, 1)


def tiny_jpeg(path, colour=(120, 60, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), colour).save(path, "JPEG")


def tsv_rows(key):
    with open(SHARED / "image_lists" / f"{key}_res101_order.tsv", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def write_att_splits(path, class_names, trainval, test_seen, test_unseen, num_attributes=3):
    path.parent.mkdir(parents=True, exist_ok=True)
    att = np.ones((num_attributes, len(class_names))) / np.sqrt(num_attributes)
    scipy.io.savemat(
        path,
        {
            "att": att,
            "original_att": att,
            "allclasses_names": cell(class_names),
            "trainval_loc": locs(trainval),
            "test_seen_loc": locs(test_seen),
            "test_unseen_loc": locs(test_unseen),
        },
    )


# -- AwA2 --------------------------------------------------------------------------------


def make_awa2(base, classes=AWA_CLASSES, per_class=3, matrix=None, touch_only=None):
    """``base/Animals_with_Attributes2`` in the archive's formats; returns the root."""
    root = base / "Animals_with_Attributes2"
    root.mkdir(parents=True)
    (root / "classes.txt").write_text("".join(f"{i:7d}\t{c}\n" for i, c in enumerate(classes, 1)))
    predicates = AWA_PREDICATES if matrix is None else [f"p{i}" for i in range(matrix.shape[1])]
    (root / "predicates.txt").write_text("".join(f"{i:7d}\t{p}\n" for i, p in enumerate(predicates, 1)))
    if matrix is None:
        matrix = np.arange(len(classes) * len(predicates), dtype=float).reshape(len(classes), -1)
        matrix[0, 1] = -1
    (root / "predicate-matrix-continuous.txt").write_text(
        "".join(" ".join(f"{v:7.2f}" for v in row) + "\n" for row in matrix)
    )
    unseen = [c for c in classes if c in AWA_UNSEEN]
    (root / "trainclasses.txt").write_text("".join(f"{c}\r\n" for c in classes if c not in unseen))
    (root / "testclasses.txt").write_text("".join(f"{c}\r\n" for c in unseen))
    if touch_only is not None:
        for rel in touch_only:
            (root / "JPEGImages" / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / "JPEGImages" / rel).touch()
        return root
    for c in classes:
        for n in range(per_class):
            tiny_jpeg(root / "JPEGImages" / c / f"{c}_{10001 + n}.jpg")
    return root


def test_awa2_original_split(tmp_path):
    root = make_awa2(tmp_path)
    ds = load_awa2(root)
    assert ds.format == "awa2" and ds.classes == tuple(AWA_CLASSES)
    assert ds.attribute_names == tuple(AWA_PREDICATES)
    assert ds.image_root == root / "JPEGImages"
    assert ds.image_paths[0] == "antelope/antelope_10001.jpg"
    assert list(ds.image_paths) == sorted(ds.image_paths) and ds.num_samples == 15
    assert all(ds.image_path(i).is_file() for i in range(ds.num_samples))
    assert [ds.classes[label] for label in ds.labels] == [p.split("/")[0] for p in ds.image_paths]
    assert [ds.classes[c] for c in ds.unseen_classes] == ["killer+whale", "dalmatian"]
    assert len(ds.seen_classes) == 3
    assert set(ds.labels[ds.splits["test_unseen"]]) == set(ds.unseen_classes)
    assert len(ds.splits["trainval"]) == 6 and len(ds.splits["test_seen"]) == 3
    assert ds.class_attributes[0, 1] == 0 and ds.class_attributes[0, 2] == 2  # -1 (unknown) -> 0
    assert any("1 unknown (-1) predicate values set to 0" in n for n in ds.notes)
    assert any("original trainclasses/testclasses" in n for n in ds.notes)
    assert load_awa2(tmp_path).fingerprint == ds.fingerprint  # the parent folder works too


def test_awa2_proposed_split_found_beside(tmp_path):
    root = make_awa2(tmp_path)
    paths = sorted(f"{c}/{c}_{10001 + n}.jpg" for c in AWA_CLASSES for n in range(3))
    xlsa_order = ["grizzly+bear", "antelope", "beaver", "killer+whale", "dalmatian"]  # not classes.txt order
    unseen = [i for i, p in enumerate(paths) if p.split("/")[0] in ("antelope", "beaver")]
    seen = [i for i in range(15) if i not in unseen]
    write_att_splits(tmp_path / "xlsa17" / "AWA2" / "att_splits.mat", xlsa_order, seen[:7], seen[7:], unseen)
    ds = load_awa2(root)
    assert sorted(ds.classes[c] for c in ds.unseen_classes) == ["antelope", "beaver"]
    assert ds.splits["trainval"].tolist() == seen[:7] and ds.splits["test_unseen"].tolist() == unseen
    assert any("proposed split" in n for n in ds.notes)


def test_awa2_split_file_must_match_images(tmp_path):
    root = make_awa2(tmp_path)
    split = tmp_path / "elsewhere" / "att_splits.mat"
    write_att_splits(split, AWA_CLASSES, range(10), range(10, 12), range(12, 16))
    with pytest.raises(DatasetError, match="covers 16 images but 15 were found") as info:
        load_awa2(root, split_file=split)
    assert info.value.path == str(split)
    write_att_splits(split, AWA_CLASSES[:4] + ["zebra"], range(10), range(10, 12), range(12, 15))
    with pytest.raises(DatasetError, match="allclasses_names"):
        load_awa2(root, split_file=split)


def test_awa2_bad_files(tmp_path):
    root = make_awa2(tmp_path)
    (root / "JPEGImages" / "unicorn").mkdir()
    with pytest.raises(DatasetError, match="unicorn: this image folder is not a class"):
        load_awa2(root)
    (root / "JPEGImages" / "unicorn").rmdir()
    (root / "predicate-matrix-continuous.txt").write_text("1 2 3 4 5 6\n1 2 x 4 5 6\n")
    with pytest.raises(DatasetError, match=r"predicate-matrix-continuous.txt, line 2, column '3': expected float"):
        load_awa2(root)
    (root / "predicate-matrix-continuous.txt").write_text("1 2 3 4 5 6\n" * 4)
    with pytest.raises(DatasetError, match="expected 5 rows, found 4"):
        load_awa2(root)
    (root / "classes.txt").write_text("1\tantelope\n3\tbeaver\n")
    with pytest.raises(DatasetError, match="classes.txt, line 2, column 'id': expected id 2"):
        load_awa2(root)


@needs_shared
def test_awa2_real_split_on_real_file_list(tmp_path):
    """The real AWA2 att_splits.mat over the real 37,322 file names (empty files): every image's split is right."""
    rows = tsv_rows("AWA2")
    rel = [r["image_file"].split("JPEGImages/", 1)[1] for r in rows]
    classes = (SHARED / "xlsa17" / "AWA2" / "allclasses.txt").read_text().split()
    matrix = np.random.default_rng(0).uniform(0, 100, size=(50, 85))
    root = make_awa2(tmp_path, classes=classes, matrix=matrix, touch_only=rel)
    shutil.copy(SHARED / "xlsa17" / "AWA2" / "att_splits.mat", root / "att_splits.mat")
    ds = load_awa2(root)
    assert list(ds.image_paths) == rel  # sorted relative paths are xlsa17's order
    assert (len(ds.seen_classes), len(ds.unseen_classes)) == (40, 10)
    expected = np.array([r["split"] for r in rows])
    for name in ("trainval", "test_seen", "test_unseen"):
        assert set(expected[ds.splits[name]]) == {name}
    assert [ds.classes[label] for label in ds.labels[::997]] == [r["class_name"] for r in rows[::997]]


# -- SUN ---------------------------------------------------------------------------------

SUN_IMAGES = [  # deliberately unsorted, as a .mat listing may be
    "b/beach/sun_b2.jpg",
    "a/airport/airport/sun_a1.jpg",
    "a/abbey/sun_c1.jpg",
    "b/beach/sun_b1.jpg",
    "a/airport/airport/sun_a2.jpg",
    "a/abbey/sun_c2.jpg",
    "b/bakery/shop/sun_d1.jpg",
    "b/bakery/shop/sun_d2.jpg",
]
SUN_ATTRIBUTES = ["sailing/ boating", "driving", "biking"]


def make_sun(base, images=SUN_IMAGES, absent=(), attributes=SUN_ATTRIBUTES, votes=None, image_dir_inside=False):
    root = base / "SUNAttributeDB"
    root.mkdir(parents=True)
    scipy.io.savemat(root / "images.mat", {"images": cell(images)})
    scipy.io.savemat(root / "attributes.mat", {"attributes": cell(attributes)})
    if votes is None:
        votes = np.array([[i / 10, 1 - i / 10, 0.5] for i in range(len(images))])
    scipy.io.savemat(root / "attributeLabels_continuous.mat", {"labels_cv": votes})
    image_root = root / "images" if image_dir_inside else base / "images"
    image_root.mkdir(exist_ok=True)
    for p in images:
        if p not in absent:
            tiny_jpeg(image_root / p)
    return root


def test_scene_class():
    assert scene_class("a/airport/airport/sun_x.jpg") == "airport_airport"
    assert scene_class("a/abbey/sun_x.jpg") == "abbey"
    assert scene_class("abbey/sun_x.jpg") == "abbey"


def test_sun_seeded_split(tmp_path):
    root = make_sun(tmp_path, absent={"b/beach/sun_b1.jpg"})
    ds = load_sun(root)
    assert ds.format == "sun" and ds.image_root == tmp_path / "images"
    assert ds.classes == ("abbey", "airport_airport", "bakery_shop", "beach")
    assert ds.attribute_names == tuple(SUN_ATTRIBUTES)
    assert ds.image_paths == tuple(sorted(set(SUN_IMAGES) - {"b/beach/sun_b1.jpg"}))
    assert ds.labels.tolist() == [0, 0, 1, 1, 2, 2, 3]
    # class attribute = mean over all listed images (the absent one included); per-image = labels_cv
    assert np.allclose(ds.class_attributes[3], [0.15, 0.85, 0.5])
    b2 = SUN_IMAGES.index("b/beach/sun_b2.jpg")
    assert np.allclose(ds.image_attributes[-1], [b2 / 10, 1 - b2 / 10, 0.5])
    assert len(ds.unseen_classes) == 1 and len(ds.seen_classes) == 3
    every = np.concatenate([ds.splits[n] for n in ("trainval", "test_seen", "test_unseen")])
    assert sorted(every.tolist()) == list(range(7))
    assert any("1 of 8 listed images are absent" in n for n in ds.notes)
    assert any("seeded split" in n for n in ds.notes)


def test_sun_proposed_split(tmp_path):
    root = make_sun(tmp_path, image_dir_inside=True, absent={"a/abbey/sun_c2.jpg"})
    # sorted order: abbey c1 c2 | airport a1 a2 | bakery d1 d2 | beach b1 b2; airport unseen
    write_att_splits(
        tmp_path / "xlsa17" / "SUN" / "att_splits.mat",
        ["abbey", "airport_airport", "bakery_shop", "beach"],
        [0, 1, 4, 6],
        [5, 7],
        [2, 3],
    )
    ds = load_sun(tmp_path)
    assert ds.image_root == root / "images"
    assert [ds.classes[c] for c in ds.unseen_classes] == ["airport_airport"]
    # image 1 (abbey c2) is absent: the others shift down by one
    assert ds.splits["trainval"].tolist() == [0, 3, 5]
    assert ds.splits["test_seen"].tolist() == [4, 6] and ds.splits["test_unseen"].tolist() == [1, 2]
    assert any("proposed split" in n for n in ds.notes)


def test_sun_bad_files(tmp_path):
    root = make_sun(tmp_path, votes=np.zeros((7, 3)))
    with pytest.raises(DatasetError, match=r"attributeLabels_continuous.mat, column 'labels_cv': .*expected 8 images"):
        load_sun(root)
    scipy.io.savemat(root / "attributeLabels_continuous.mat", {"labels": np.zeros((8, 3))})
    with pytest.raises(DatasetError, match="field 'labels_cv' is missing"):
        load_sun(root)
    scipy.io.savemat(root / "attributeLabels_continuous.mat", {"labels_cv": np.full((8, 3), 2.0)})
    with pytest.raises(DatasetError, match="0-1"):
        load_sun(root)
    scipy.io.savemat(root / "attributeLabels_continuous.mat", {"labels_cv": np.zeros((8, 3))})
    split = tmp_path / "s.mat"
    write_att_splits(split, ["abbey", "x", "bakery_shop", "beach"], [0, 1], [2], [3])
    with pytest.raises(DatasetError, match="s.mat.*do not match the image folders"):
        load_sun(root, split_file=split)
    shutil.rmtree(tmp_path / "images")
    with pytest.raises(DatasetError, match="no images/ folder"):
        load_sun(root)


@needs_shared
def test_sun_real_split_on_real_file_list(tmp_path):
    """Real SUN att_splits.mat over the real 14,340 image names; a third of them present."""
    rows = tsv_rows("SUN")
    rel = [r["image_file"].split("images/", 1)[1] for r in rows]
    shuffled = list(np.random.default_rng(0).permutation(rel))
    root = tmp_path / "SUNAttributeDB"
    root.mkdir()
    scipy.io.savemat(root / "images.mat", {"images": cell(shuffled)})
    shutil.copy(SHARED / "attributes" / "SUN" / "attributes.mat", root / "attributes.mat")
    scipy.io.savemat(root / "attributeLabels_continuous.mat", {"labels_cv": np.full((len(rel), 102), 0.25)})
    present = set(rel[::3])
    for p in present:
        (tmp_path / "images" / p).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "images" / p).touch()
    shutil.copy(SHARED / "xlsa17" / "SUN" / "att_splits.mat", root / "att_splits.mat")
    ds = load_sun(root)
    assert ds.num_classes == 717 and (len(ds.seen_classes), len(ds.unseen_classes)) == (645, 72)
    classes = (SHARED / "xlsa17" / "SUN" / "allclasses.txt").read_text().split()
    assert list(ds.classes) == classes
    assert ds.attribute_names[0] == "sailing/ boating"
    assert list(ds.image_paths) == rel[::3]
    expected = np.array([r["split"] for r in rows[::3]])
    for name in ("trainval", "test_seen", "test_unseen"):
        assert set(expected[ds.splits[name]]) == {name}
    assert [ds.classes[label] for label in ds.labels] == [r["class_name"] for r in rows[::3]]
    assert any(f"{len(rel) - len(present)} of {len(rel)} listed images are absent" in n for n in ds.notes)
