"""``zsl-desktop predict``: one row per photo, bad photos as rows with errors, user classes, resuming safely."""

import csv
import json

import numpy as np
import pytest
from PIL import Image

from zsl_desktop.cli import main
from zsl_desktop.engine.classes import EXPORT_FORMAT
from zsl_desktop.engine.predict import PredictionsCsv, cell


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The small built-in birds and a one-epoch MSDN model on 64 px features."""
    root = tmp_path_factory.mktemp("predict")
    data = root / "birds"
    assert main(["generate", "--small", "--out", str(data)]) == 0
    model = root / "m.pt"
    assert (
        main(
            [
                "train",
                "--dataset",
                str(data),
                "--input-size",
                "64",
                "--epochs",
                "1",
                "--set",
                "batch_size=16",
                "--out",
                str(model),
                "--threads",
                "1",
            ]
        )
        == 0
    )
    return data, model


@pytest.fixture
def photos(tmp_path, trained):
    data, _ = trained
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    images = sorted((data / "images").rglob("*.png")) + sorted((data / "images").rglob("*.jpg"))
    for k, src in enumerate(images[:5]):
        Image.open(src).convert("RGB").save(folder / ("sub" if k % 2 else ".") / f"bird{k}.png")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(folder / "noise.jpg")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (folder / "notes.txt").write_text("not a photo")
    return folder


def _classes_file(tmp_path, data):
    from zsl_desktop.engine.data import load_dataset

    d = load_dataset(data)
    values = [float(v) for v in d.class_attributes[int(d.unseen_classes[0])]]
    path = tmp_path / "mine.json"
    path.write_text(
        json.dumps(
            {
                "format": EXPORT_FORMAT,
                "attribute_names": [a.name for a in d.attributes],
                "classes": [{"name": "My bird", "values": values}],
            }
        )
    )
    return path


def _read(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_predict_writes_one_row_per_photo_with_errors_and_user_classes(trained, photos, tmp_path, capsys):
    data, model = trained
    out = tmp_path / "p.csv"
    args = [
        "predict",
        "--model",
        str(model),
        "--dataset",
        str(data),
        "--photos",
        str(photos),
        "--classes",
        str(_classes_file(tmp_path, data)),
        "--top-k",
        "3",
        "--out",
        str(out),
        "--threads",
        "1",
    ]
    # the model's training features, from which its out-of-domain reference is made (each test has its own home)
    assert main(["extract", "--dataset", str(data), "--input-size", "64", "--threads", "1"]) == 0
    assert main(args) == 0
    rows = _read(out)
    assert len(rows) == 7  # 5 birds, the noise image and the broken file; notes.txt is not an image
    broken = next(r for r in rows if r["file"].endswith("broken.jpg"))
    assert broken["error"] and not broken["top1_class"]
    good = [r for r in rows if not r["error"]]
    assert len(good) == 6
    for r in good:
        p = [float(r[f"top{i}_probability"]) for i in (1, 2, 3)]
        assert p == sorted(p, reverse=True) and sum(p) <= 1 + 1e-5
        assert 0 <= float(r["user:My bird:probability"]) <= 1 and r["user:My bird:raw_score"]
    # every photo gets its out-of-domain score, and random noise lies farther from the birds than any bird photo
    ood = {r["file"].rsplit("/", 1)[-1]: float(r["out_of_domain"]) for r in good}
    assert ood["noise.jpg"] > max(v for k, v in ood.items() if k != "noise.jpg")
    err = capsys.readouterr().err
    assert "predicting" in err and "eta" in err
    # the same photos again: nothing redone
    assert main(args) == 0
    assert len(_read(out)) == 7
    assert "7 of 7 photos are already in" in capsys.readouterr().err


def test_an_interrupted_csv_is_repaired_and_completed(trained, photos, tmp_path, capsys):
    data, model = trained
    out = tmp_path / "p.csv"
    args = [
        "predict",
        "--model",
        str(model),
        "--dataset",
        str(data),
        "--photos",
        str(photos),
        "--out",
        str(out),
        "--threads",
        "1",
    ]
    assert main(args) == 0
    whole = _read(out)
    lines = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:3]) + lines[3][:10])  # a crash: two rows kept, the third torn
    assert main(args) == 0
    assert "torn last line" in capsys.readouterr().err
    again = _read(out)
    assert sorted(r["file"] for r in again) == sorted(r["file"] for r in whole)  # every photo once
    by_file = {r["file"]: r for r in whole}
    for r in again:
        assert r["top1_class"] == by_file[r["file"]]["top1_class"]


def test_other_columns_are_refused_not_mixed(trained, photos, tmp_path, capsys):
    data, model = trained
    out = tmp_path / "p.csv"
    base = ["predict", "--model", str(model), "--dataset", str(data), "--photos", str(photos), "--out", str(out)]
    assert main(base) == 0
    before = out.read_bytes()
    assert main(base + ["--top-k", "2"]) == 2
    assert "columns differ" in capsys.readouterr().err
    assert out.read_bytes() == before


def test_csv_append_and_cells(tmp_path):
    path = tmp_path / "x.csv"
    table = PredictionsCsv(path, ["file", "a"]).open()
    table.append([[cell("odd\nname.jpg"), "1"], [cell("b.jpg"), "2"]])
    assert path.read_text().splitlines() == ["file,a", "odd\\nname.jpg,1", "b.jpg,2"]
    with open(path, "ab") as f:
        f.write(b"c.jp")  # torn
    again = PredictionsCsv(path, ["file", "a"]).open()
    assert again.repaired == 4 and again.done == {"odd\\nname.jpg", "b.jpg"}


def test_a_model_trained_with_flip_averaging_scores_a_photo_and_its_mirror_alike(trained, tmp_path):
    """Each photo is scored as the mean with its mirror, as eval scored the test images: mirroring changes nothing."""
    data, _ = trained
    model = tmp_path / "tta.pt"
    size = ["--dataset", str(data), "--input-size", "64", "--threads", "1"]
    assert main(["extract", *size, "--flips", "tta"]) == 0
    assert main(["train", *size, "--method", "ipce", "--epochs", "1", "--flips", "tta", "--out", str(model)]) == 0
    src = sorted(p for p in (data / "images").rglob("*") if p.suffix in (".png", ".jpg"))[0]
    image = Image.open(src).convert("RGB").resize((64, 64))  # square at the input size: no crop to break the symmetry
    folder = tmp_path / "photos"
    folder.mkdir()
    image.save(folder / "a.png")
    image.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(folder / "b.png")
    out = tmp_path / "p.csv"
    assert (
        main(["predict", "--model", str(model), "--dataset", str(data), "--photos", str(folder), "--out", str(out)])
        == 0
    )
    a, b = _read(out)
    assert a["top1_class"] == b["top1_class"]
    scores = [[float(r[f"top{i}_raw_score"]) for i in (1, 2, 3)] for r in (a, b)]
    np.testing.assert_allclose(scores[0], scores[1], atol=1e-4)
