"""The CUB-200-2011 loader: on the real metadata and 1,000 images, and on written fixtures."""

import numpy as np
import pytest
from PIL import Image

from zsl_desktop.engine.data import DatasetError, detect_format, load_dataset
from zsl_desktop.engine.data.cub import load_cub

UNSEEN_IN_SUBSET = ["004", "012", "023", "026", "028", "031", "033", "043", "045", "049"]


def test_real_cub_subset_with_the_xlsa17_split(shared_data):
    d = load_cub(shared_data / "CUB_200_2011")
    assert (len(d.splits["trainval"]), len(d.splits["test_seen"]), len(d.splits["test_unseen"])) == (641, 159, 200)
    assert (d.num_classes, len(d.seen_classes), len(d.unseen_classes)) == (50, 40, 10)
    assert [d.classes[c][:3] for c in d.unseen_classes] == UNSEEN_IN_SUBSET
    assert d.num_attributes == 312 and len(d.attribute_groups()) == 28
    assert d.attributes[0].group == "bill_shape"
    assert d.part_locations.shape == (1000, 15, 3) and d.part_names[1] == "beak"
    assert any("10788 of 11788 listed images are absent" in n for n in d.notes)
    # every image exists and its label agrees with its folder
    for i in range(0, 1000, 97):
        assert d.image_path(i).is_file()
        assert d.image_paths[i].split("/")[0] == d.classes[d.labels[i]]
    # class attributes are CUB's 0-100 continuous matrix, rows in classes.txt order
    assert d.class_attributes.max() <= 100 and d.class_attributes.shape == (50, 312)


def test_real_cub_all_classes_kept_on_request(shared_data):
    d = load_cub(shared_data / "CUB_200_2011", keep_empty_classes=True)
    # the harder variant: all 200 classes are candidates (150 seen, 50 unseen), images of 50
    assert d.num_classes == 200 and len(d.unseen_classes) == 50 and len(d.seen_classes) == 150


def test_explicit_split_file_and_format_detection(shared_data):
    split = shared_data / "xlsa17" / "CUB" / "att_splits.mat"
    assert detect_format(shared_data / "CUB_200_2011") == "cub"
    d = load_dataset(shared_data / "CUB_200_2011", split_file=split)
    assert len(d.splits["test_unseen"]) == 200


def write_cub(root, n_classes=4, per_class=3, odd_lines=True, missing=0):
    """A tiny CUB in the exact on-disk format, with image_attribute_labels.txt's odd lines."""
    (root / "images").mkdir(parents=True)
    (root / "attributes").mkdir()
    (root / "parts").mkdir()
    images, labels = [], []
    for c in range(1, n_classes + 1):
        folder = f"{c:03d}.Bird_{c}"
        (root / "images" / folder).mkdir()
        for j in range(per_class):
            rel = f"{folder}/Bird_{c}_{j:04d}_{c}.jpg"
            images.append(rel)
            labels.append(c)
            Image.new("RGB", (16, 16), (c * 40, 0, 0)).save(root / "images" / rel)
    for rel in images[len(images) - missing :]:
        (root / "images" / rel).unlink()
    (root / "images.txt").write_text("".join(f"{i} {p}\n" for i, p in enumerate(images, 1)))
    (root / "classes.txt").write_text("".join(f"{c} {c:03d}.Bird_{c}\n" for c in range(1, n_classes + 1)))
    (root / "image_class_labels.txt").write_text("".join(f"{i} {c}\n" for i, c in enumerate(labels, 1)))
    (root / "bounding_boxes.txt").write_text("".join(f"{i} 1.0 2.0 10.0 12.0\n" for i in range(1, len(images) + 1)))
    names = ["has_bill_shape::cone", "has_bill_shape::hooked", "has_crown_color::red", "has_crown_color::blue"]
    (root / "attributes.txt").write_text("".join(f"{i} {n}\n" for i, n in enumerate(names, 1)))
    rng = np.random.default_rng(0)
    (root / "attributes" / "class_attribute_labels_continuous.txt").write_text(
        "".join(" ".join(f"{v:.4f}" for v in rng.uniform(0, 100, 4)) + "\n" for _ in range(n_classes))
    )
    lines = []
    for i in range(1, len(images) + 1):
        for a in range(1, 5):
            extra = " 0 4.5" if odd_lines and i == 2 and a == 3 else ""  # the real file has such lines
            lines.append(f"{i} {a} {int((i + a) % 2)} 3 {extra}{12.5}\r\n")
    (root / "attributes" / "image_attribute_labels.txt").write_text("".join(lines))
    (root / "parts" / "parts.txt").write_text("1 beak\n2 crown\n")
    (root / "parts" / "part_locs.txt").write_text(
        "".join(f"{i} {p} {3.0 * p} {4.0} 1\n" for i in range(1, len(images) + 1) for p in (1, 2))
    )
    (root / "testclasses.txt").write_text(f"{n_classes:03d}.Bird_{n_classes}\n")
    (root / "trainvalclasses.txt").write_text("".join(f"{c:03d}.Bird_{c}\n" for c in range(1, n_classes)))
    return images


def test_fixture_with_odd_lines_parts_and_class_lists(tmp_path):
    write_cub(tmp_path / "CUB_200_2011")
    d = load_dataset(tmp_path)  # the parent folder works too
    assert d.format == "cub" and d.num_samples == 12 and d.num_attributes == 4
    assert d.unseen_classes.tolist() == [3] and len(d.splits["test_unseen"]) == 3
    assert d.image_attributes.shape == (12, 4) and d.image_attributes[1, 2] == float((2 + 3) % 2)
    assert d.part_locations[5, 1].tolist() == [6.0, 4.0, 1.0]
    assert d.boxes[0].tolist() == [1.0, 2.0, 10.0, 12.0]
    assert d.attribute_groups() == {"bill_shape": [0, 1], "crown_color": [2, 3]}


def test_absent_images_are_skipped_and_counted(tmp_path):
    write_cub(tmp_path, missing=2)
    d = load_cub(tmp_path)
    assert d.num_samples == 10
    assert any("2 of 12 listed images are absent" in n for n in d.notes)


@pytest.mark.parametrize(
    "damage, file, where",
    [
        (lambda r: (r / "image_class_labels.txt").write_text("1 1\n2 x\n"), "image_class_labels.txt", "line 2"),
        (lambda r: (r / "image_class_labels.txt").write_text("1 9\n"), "image_class_labels.txt", "line 1"),
        (lambda r: (r / "classes.txt").write_text("1 a\n3 b\n"), "classes.txt", "line 2"),
        (
            lambda r: (r / "attributes" / "class_attribute_labels_continuous.txt").write_text("1 2 3 4\n1 2 nan 4\n"),
            "class_attribute_labels_continuous.txt",
            "",
        ),
        (
            lambda r: (r / "attributes" / "image_attribute_labels.txt").write_text("1 1 1 3 0\n1 99 1 3 0\n"),
            "image_attribute_labels.txt",
            "line 2",
        ),
        (lambda r: (r / "images.txt").write_text("1\n"), "images.txt", "line 1"),
        (lambda r: (r / "bounding_boxes.txt").write_text("1 1 2 3 4\n2 1 nan 3 4\n"), "bounding_boxes.txt", "line 2"),
        (lambda r: (r / "bounding_boxes.txt").write_text("1 1 2 3 4\n2.5 1 2 3 4\n"), "bounding_boxes.txt", "line 2"),
        (lambda r: (r / "bounding_boxes.txt").write_text("1 1 2 3 4\n2 1 2 3\n"), "bounding_boxes.txt", "line 2"),
        (lambda r: (r / "image_class_labels.txt").write_text("1 1\n# 2 1\n"), "image_class_labels.txt", "line 2"),
        (lambda r: (r / "testclasses.txt").write_text("999.Nope\n"), "testclasses.txt", "line 1"),
    ],
)
def test_bad_files_name_file_and_line(tmp_path, damage, file, where):
    write_cub(tmp_path)
    damage(tmp_path)
    with pytest.raises(DatasetError) as info:
        load_cub(tmp_path)
    assert file in str(info.value) and where in str(info.value)


def test_a_split_file_for_another_dataset_is_refused(tmp_path, shared_data):
    write_cub(tmp_path)
    with pytest.raises(DatasetError, match="att_splits.mat"):
        load_cub(tmp_path, split_file=shared_data / "xlsa17" / "CUB" / "att_splits.mat")


def test_image_attributes_fast_parser_matches_the_line_reader(tmp_path, monkeypatch):
    """numpy's parser (on the way to the first predictions) reads what the line-by-line reader reads:
    odd lines with extra fields, CRLF endings, blank lines, and ids of absent images (ignored)."""
    from zsl_desktop.engine.data import cub

    write_cub(tmp_path, missing=2)
    labels = tmp_path / "attributes" / "image_attribute_labels.txt"
    labels.write_text(labels.read_text() + "\n7 2 1 3 0\n")  # a blank line, and image 7 again (the last wins)
    fast = load_cub(tmp_path).image_attributes
    monkeypatch.setattr(cub, "_image_attributes_fast", lambda *args: None)
    slow = load_cub(tmp_path).image_attributes
    assert fast.shape == (10, 4) and np.array_equal(fast, slow)
    assert fast[6, 1] == 1.0


def test_labels_and_boxes_read_as_the_line_by_line_reader_reads_them(tmp_path):
    """numpy reads these two tables (they are on the way to the first predictions); what it gives must be
    what reading them line by line gives: the last line of an image wins, extra fields are ignored, blank
    and CRLF lines are fine, images without a box get zeros."""
    from zsl_desktop.engine.data import cub
    from zsl_desktop.engine.data.textfiles import read_table

    write_cub(tmp_path)
    (tmp_path / "bounding_boxes.txt").write_text("2 1 2 3 4\r\n\n1 5 6 7 8 extra\n2 9.5 10 11 12\n99 0 0 1 1\n")
    (tmp_path / "image_class_labels.txt").write_text("".join(f"{i} {1 + i % 4}\n" for i in range(12, 0, -1)) + "3 1\n")
    d = load_cub(tmp_path)
    ids = np.arange(1, 13)
    boxes = {f[0]: f[1:5] for _, f in read_table(tmp_path / "bounding_boxes.txt", 5, (int, float, float, float, float))}
    expected = np.array([boxes.get(i, [0, 0, 0, 0]) for i in ids], np.float32)
    np.testing.assert_array_equal(d.boxes, expected)
    assert d.boxes[1].tolist() == [9.5, 10, 11, 12] and not d.boxes[2].any()
    labels = {f[0]: f[1] - 1 for _, f in read_table(tmp_path / "image_class_labels.txt", 2, (int, int))}
    assert cub._read_labels(tmp_path / "image_class_labels.txt", ids, 4).tolist() == [labels[i] for i in ids]
    assert labels[3] == 0, "the last line of image 3 wins"
