"""Our folder format: a good dataset, and bad ones whose errors name the file, line and column."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from zsl_desktop.engine.data.folder import load_folder
from zsl_desktop.engine.data.model import DatasetError

CLASSES_CSV = (
    "class,split,has_wing_color::black,has_wing_color::red,size\n"
    "crow,seen,0.9,0.0,0.5\n"
    "robin,seen,0.2,0.8,0.2\n"
    "cardinal,unseen,0.1,1.0,0.3\n"
)


def make_folder(
    base, classes_csv=CLASSES_CSV, images=None, attributes_csv=None, splits_csv=None, crlf=False, bom=False
):
    """A dataset folder; ``images`` maps class -> file names (default: 5 JPEGs each, mixed extensions)."""
    root = base / "birds"
    root.mkdir()

    def write(name, text):
        if crlf:
            text = text.replace("\n", "\r\n")
        (root / name).write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())

    write("classes.csv", classes_csv)
    if attributes_csv is not None:
        write("attributes.csv", attributes_csv)
    if splits_csv is not None:
        write("splits.csv", splits_csv)
    if images is None:
        images = {c: [f"{i:03d}.jpg" for i in range(4)] + ["004.PNG"] for c in ("crow", "robin", "cardinal")}
    for cls, names in images.items():
        folder = root / "images" / cls
        folder.mkdir(parents=True, exist_ok=True)
        for n in names:
            fmt = {".png": "PNG", ".bmp": "BMP", ".webp": "WEBP"}.get(n[n.rfind(".") :].lower(), "JPEG")
            Image.new("RGB", (6, 6), (10, 20, 30)).save(folder / n, fmt)
    (root / "images").mkdir(exist_ok=True)
    return root


# -- good ------------------------------------------------------------------------------


@pytest.mark.parametrize("crlf, bom", [(False, False), (True, True)])
def test_good_folder(tmp_path, crlf, bom):
    root = make_folder(
        tmp_path,
        crlf=crlf,
        bom=bom,
        attributes_csv="attribute,group,description\nsize,body,how big\n",
    )
    (root / "images" / "crow" / "notes.txt").write_text("not an image")
    (root / "images" / "crow" / "x.JpEg").write_bytes((root / "images" / "crow" / "000.jpg").read_bytes())
    (root / "images" / "extra").mkdir()
    ds = load_folder(root)
    assert ds.format == "folder" and ds.name == "birds"
    assert ds.classes == ("crow", "robin", "cardinal")
    assert ds.attribute_names == ("has_wing_color::black", "has_wing_color::red", "size")
    assert [a.group for a in ds.attributes] == ["wing_color", "wing_color", "body"]
    assert np.allclose(ds.class_attributes[1], [0.2, 0.8, 0.2]) and ds.class_attributes.dtype == np.float32
    assert ds.image_root == root / "images"
    assert ds.image_paths[:6] == (
        "crow/000.jpg",
        "crow/001.jpg",
        "crow/002.jpg",
        "crow/003.jpg",
        "crow/004.PNG",
        "crow/x.JpEg",
    )
    assert ds.num_samples == 16 and ds.labels.tolist() == [0] * 6 + [1] * 5 + [2] * 5
    assert ds.seen_classes.tolist() == [0, 1] and ds.unseen_classes.tolist() == [2]
    assert ds.splits["test_unseen"].tolist() == list(range(11, 16))
    assert len(ds.splits["trainval"]) + len(ds.splits["test_seen"]) == 11 and len(ds.splits["test_seen"]) == 2
    assert any("seeded 80/20" in n for n in ds.notes)
    assert any("extra" in n for n in ds.notes)
    assert ds.image_path(0).is_file()


def test_a_european_spreadsheet_classes_csv_reads_the_same(tmp_path):
    """Excel in a European locale writes ``;`` between fields and a decimal comma; UTF-16 as "Unicode text"."""
    european = CLASSES_CSV.replace(",", ";").replace("0.", "0,")
    root = make_folder(tmp_path, classes_csv=european, attributes_csv="attribute;group;description\nsize;1,5;1,5 cm\n")
    ds = load_folder(root)
    assert np.allclose(ds.class_attributes[1], [0.2, 0.8, 0.2])
    assert ds.attributes[2].group == "1,5"  # text keeps its comma


def test_splits_csv(tmp_path):
    splits = (
        "image,split\n"
        "crow/000.jpg,trainval\ncrow/001.jpg,TRAINVAL\nimages/crow/002.jpg,test_seen\n"
        "robin\\000.jpg,trainval\nrobin/001.jpg,test_seen\ncardinal/000.jpg,test_unseen\n"
    )
    ds = load_folder(make_folder(tmp_path, splits_csv=splits))
    assert ds.splits["trainval"].tolist() == [0, 1, 5]
    assert ds.splits["test_seen"].tolist() == [2, 6]
    assert ds.splits["test_unseen"].tolist() == [10]
    assert any("9 images are not in splits.csv" in n for n in ds.notes)


# -- bad: each error names the file, the line and the column ---------------------------------


def error_of(root) -> DatasetError:
    with pytest.raises(DatasetError) as info:
        load_folder(root)
    return info.value


BAD_CLASSES = [
    # (classes.csv text, line, column, words in the message)
    (CLASSES_CSV.replace("robin,seen,0.2,0.8,0.2", "robin,seen,0.2,0.8"), 3, None, "has 4 fields but the header has 5"),
    (CLASSES_CSV.replace("0.8,0.2", "nan,0.2"), 3, "has_wing_color::red", "not a finite number"),
    (CLASSES_CSV.replace("0.8,0.2", "inf,0.2"), 3, "has_wing_color::red", "not a finite number"),
    (CLASSES_CSV.replace("0.8,0.2", ",0.2"), 3, "has_wing_color::red", "empty value"),
    (CLASSES_CSV.replace("1.0,0.3", "1.0,big"), 4, "size", "expected float, got 'big'"),
    (CLASSES_CSV.replace("robin,seen", "Crow,seen"), 3, "class", "already defined on line 2"),
    (CLASSES_CSV.replace("cardinal,unseen", "cardinal,novel"), 4, "split", "must be 'seen' or 'unseen'"),
    (CLASSES_CSV.replace("cardinal,unseen", ",unseen"), 4, "class", "class name is empty"),
    (CLASSES_CSV.replace(",size\n", ",has_wing_color::red\n"), 1, "has_wing_color::red", "appears twice"),
    (CLASSES_CSV.replace("class,split", "name,split"), 1, "class", "must be 'class'"),
    (CLASSES_CSV.replace("cardinal,unseen", "cardinal,seen"), None, "split", "no unseen class"),
    (CLASSES_CSV.replace("0.1,1.0,0.3", "0,0,0"), 4, "class", "'cardinal' has no attribute value above 0"),
]


@pytest.mark.parametrize("text, line, column, words", BAD_CLASSES)
def test_bad_classes_csv(tmp_path, text, line, column, words):
    err = error_of(make_folder(tmp_path, classes_csv=text))
    assert err.path.endswith("classes.csv") and "classes.csv" in str(err)
    assert err.line == line and err.column == column
    assert words in str(err)
    if line is not None:
        assert f"line {line}" in str(err)


def test_classes_with_the_same_attributes_up_to_scale_are_named_in_a_note(tmp_path):
    same = CLASSES_CSV.replace("cardinal,unseen,0.1,1.0,0.3", "cardinal,unseen,0.4,1.6,0.4")  # 2 x robin's row
    notes = load_folder(make_folder(tmp_path, classes_csv=same)).notes
    assert [n for n in notes if "same attributes" in n] == [
        "classes with the same attributes (up to scale), which no method can tell apart: 'robin' and 'cardinal'"
    ]
    (tmp_path / "distinct").mkdir()
    assert not any("same attributes" in n for n in load_folder(make_folder(tmp_path / "distinct")).notes)


def test_missing_class_folder(tmp_path):
    images = {"crow": ["a.jpg"], "Robin": ["a.jpg"], "cardinal": ["a.jpg"]}
    err = error_of(make_folder(tmp_path, images=images))
    assert err.path.endswith("classes.csv") and (err.line, err.column) == (3, "class")
    assert "class 'robin' has no folder images/robin" in str(err) and "found 'Robin'" in str(err)


def test_unseen_class_without_images(tmp_path):
    root = make_folder(tmp_path, images={"crow": ["a.jpg"], "robin": ["a.jpg"]})
    (root / "images" / "cardinal").mkdir()
    (root / "images" / "cardinal" / "readme.txt").write_text("no photos yet")
    err = error_of(root)  # a .txt file is not an image
    assert (err.line, err.column) == (4, "class") and "unseen class 'cardinal' has no images" in str(err)


def test_missing_classes_csv_and_images(tmp_path):
    root = make_folder(tmp_path)
    (root / "classes.csv").unlink()
    assert "classes.csv: file not found" in str(error_of(root))
    (root / "classes.csv").write_text("")
    assert "the file is empty" in str(error_of(root))


BAD_SPLITS = [
    ("image,split\ncrow/000.jpg,trainval\ncrow/999.jpg,trainval\n", 3, "image", "not in images/"),
    ("image,split\ncrow/000.jpg,train\n", 2, "split", "must be one of trainval, test_seen, test_unseen"),
    ("image,split\ncrow/000.jpg,trainval\ncrow/000.jpg,test_seen\n", 3, "image", "already listed on line 2"),
    ("image,split\ncrow/000.jpg,trainval\ncardinal/000.jpg,test_seen\n", 3, "split", "unseen class 'cardinal'"),
    ("image,split\ncrow/000.jpg,test_unseen\n", 2, "split", "seen class 'crow' cannot be in test_unseen"),
    ("image,split\ncrow/000.jpg\n", 2, None, "needs an image and a split"),
    ("image,split\ncrow/000.jpg,test_seen\n", None, "split", "no image is in trainval"),
    ("picture,split\ncrow/000.jpg,trainval\n", 1, "image", "must be 'image'"),
]


@pytest.mark.parametrize("text, line, column, words", BAD_SPLITS)
def test_bad_splits_csv(tmp_path, text, line, column, words):
    err = error_of(make_folder(tmp_path, splits_csv=text))
    assert err.path.endswith("splits.csv") and (err.line, err.column) == (line, column)
    assert words in str(err)


@pytest.mark.parametrize(
    "text, line, words",
    [
        ("attribute,group\nwingspan,body\n", 2, "'wingspan' is not a column of classes.csv"),
        ("attribute,group\nsize,body\nsize,shape\n", 3, "described twice"),
    ],
)
def test_bad_attributes_csv(tmp_path, text, line, words):
    err = error_of(make_folder(tmp_path, attributes_csv=text))
    assert err.path.endswith("attributes.csv") and (err.line, err.column) == (line, "attribute")
    assert words in str(err)
