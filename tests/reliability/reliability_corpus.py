"""The bad-input corpus, generated on the fly (no committed binaries).

Each case is one damaged, odd or hostile input and what the engine must do with it:
``accept`` it (and get it right: colours, orientation, size) or ``refuse`` it with a
message that names the file and says the problem (``words``, a regex).
Case ids carry a running number so the corpus size shows in the test names.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import scipy.io
from PIL import Image


@dataclass(frozen=True)
class Case:
    id: str
    kind: str  # "image" | "folder" | "mat" | "checkpoint"
    build: Callable  # (folder: Path, **ctx) -> Path of the input (an image, a dataset folder, a checkpoint)
    words: str | None = None  # None: accepted; else a regex the refusal must contain
    check: Callable | None = None  # for accepted images: check(rgb_image)
    file: str | None = None  # the file the message must name (default: the built path's name)


# -- images ------------------------------------------------------------------------------------------


def png_bytes(w: int, h: int, bitdepth: int, colortype: int, raw: bytes, extra: bytes = b"") -> bytes:
    """A PNG written by hand, so sizes and bit depths Pillow will not write can be made."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, bitdepth, colortype, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + extra + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )


def _rows(pixels: np.ndarray) -> bytes:
    return b"".join(b"\x00" + row.tobytes() for row in pixels)  # filter byte 0 per row


def jpeg_bytes(size=(48, 32), color=(200, 40, 40), mode="RGB", **save) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, "JPEG", quality=95, **save)
    return buf.getvalue()


def _write(folder: Path, name, data: bytes) -> Path:
    path = Path(folder) / (os.fsdecode(name) if isinstance(name, bytes) else name)
    path.write_bytes(data)
    return path


def _half_red_blue() -> bytes:
    arr = np.zeros((30, 60, 3), np.uint8)
    arr[:, :30] = (255, 0, 0)
    arr[:, 30:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display": the left (red) half ends up on top
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=95, exif=exif)
    return buf.getvalue()


def _near(rgb, expected, tol=12) -> bool:
    return all(abs(int(a) - int(b)) <= tol for a, b in zip(rgb, expected))


def _check_exif(im):
    assert im.size == (30, 60), f"orientation ignored: {im.size}"
    top, bottom = im.getpixel((15, 5)), im.getpixel((15, 55))
    assert _near(top, (255, 0, 0), 40) and _near(bottom, (0, 0, 255), 40), (top, bottom)


def _png16_rgba() -> bytes:
    px = np.zeros((6, 8, 4), ">u2")
    px[..., 0] = 65535
    px[..., 3] = 32768  # half transparent red over white -> pink
    return png_bytes(8, 6, 16, 6, _rows(px))


def _png16_grey() -> bytes:
    return png_bytes(8, 6, 16, 0, _rows(np.full((6, 8), 40000, ">u2")))


def _palette_alpha() -> bytes:
    im = Image.new("P", (10, 10), 0)
    im.putpalette([0, 0, 0, 0, 200, 0] + [0] * 762)
    for x in range(5, 10):
        for y in range(10):
            im.putpixel((x, y), 1)
    buf = io.BytesIO()
    im.save(buf, "PNG", transparency=0)  # index 0 fully transparent
    return buf.getvalue()


def _check_palette(im):
    assert _near(im.getpixel((1, 5)), (255, 255, 255)) and _near(im.getpixel((8, 5)), (0, 200, 0))


def _truncated_png() -> bytes:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()[:2000]


def _truncated_jpeg() -> bytes:
    rng = np.random.default_rng(1)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    data = buf.getvalue()
    return data[: len(data) // 2]


NON_UTF8_NAME = b"m\xe9sange-\xff.jpg"  # Latin-1 bytes: not valid UTF-8
LONG_NAME = "l" * 246 + ".jpg"  # 250 bytes, just under the 255-byte limit of one file name


def _image(name, data_fn):
    return lambda folder, **_: _write(folder, name, data_fn())


def _folder_named_jpg(folder, **_):
    path = Path(folder) / "folder.jpg"
    path.mkdir()
    return path


def _fifo_named_jpg(folder, **_):
    path = Path(folder) / "pipe.jpg"
    os.mkfifo(path)  # reading it would block forever
    return path


IMAGE_CASES = [
    ("zero-byte-jpeg", _image("empty.jpg", lambda: b""), "empty \\(0 bytes\\)", None),
    ("truncated-jpeg", _image("cut.jpg", _truncated_jpeg), "truncated", None),
    ("truncated-png", _image("cut.png", _truncated_png), "truncated|damaged", None),
    ("text-named-jpg", _image("notes.jpg", lambda: b"shopping list: eggs, milk\n" * 20), "contains text", None),
    (
        "random-bytes-png",
        _image("noise.png", lambda: bytes(np.random.default_rng(2).integers(0, 256, 4096, np.uint8))),
        "not an image format",
        None,
    ),
    ("folder-named-jpg", _folder_named_jpg, "is a folder", None),
    ("named-pipe-named-jpg", _fifo_named_jpg, "not a regular file", None),
    (
        "declared-50000x50000-bomb",
        _image("bomb.png", lambda: png_bytes(50000, 50000, 8, 2, b"\x00" * 64)),
        "decompression bomb",
        None,
    ),
    (
        "declared-120-megapixels",
        _image("huge.png", lambda: png_bytes(12000, 10000, 8, 2, b"\x00" * 64)),
        "over the limit of 100 million",
        None,
    ),
    (
        "cmyk-jpeg",
        _image("cmyk.jpg", lambda: jpeg_bytes(mode="CMYK", color=(0, 255, 255, 0))),
        None,
        lambda im: _near(im.getpixel((5, 5)), (255, 0, 0), 30) or _fail(im.getpixel((5, 5))),
    ),
    (
        "png-16bit-rgba",
        _image("rgba16.png", _png16_rgba),
        None,
        lambda im: _near(im.getpixel((1, 1)), (255, 127, 127), 3) or _fail(im.getpixel((1, 1))),
    ),
    (
        "png-16bit-grey",
        _image("grey16.png", _png16_grey),
        None,
        lambda im: _near(im.getpixel((1, 1)), (156, 156, 156), 2) or _fail(im.getpixel((1, 1))),
    ),
    ("palette-png-with-alpha", _image("palette.png", _palette_alpha), None, _check_palette),
    (
        "one-by-one-png",
        _image("dot.png", lambda: png_bytes(1, 1, 8, 2, b"\x00\x10\x20\x30")),
        None,
        lambda im: im.size == (1, 1) and im.getpixel((0, 0)) == (16, 32, 48) or _fail(im.getpixel((0, 0))),
    ),
    (
        "strip-1x20000-png",
        _image("strip.png", lambda: png_bytes(1, 20000, 8, 0, b"\x00\x80" * 20000)),
        None,
        lambda im: im.size == (1, 20000) or _fail(im.size),
    ),
    ("exif-rotated-jpeg", _image("rotated.jpg", _half_red_blue), None, _check_exif),
    ("non-utf8-file-name", _image(NON_UTF8_NAME, jpeg_bytes), None, None),
    ("very-long-file-name", _image(LONG_NAME, jpeg_bytes), None, None),
]


def _fail(value):
    raise AssertionError(f"unexpected pixels or size: {value}")


# -- folder-format CSVs ---------------------------------------------------------------------------------

CLASSES = (
    "class,split,wing_black,wing_red,size\ncrow,seen,0.9,0.0,0.5\nrobin,seen,0.2,0.8,0.2\ncardinal,unseen,0.1,1.0,0.3\n"
)


def make_folder_dataset(
    base: Path,
    classes: str | bytes = CLASSES,
    attributes: str | None = None,
    images: dict | None = None,
    name: str = "birds",
) -> Path:
    """A small dataset in our folder format; ``images`` maps class -> file names (default 3 JPEGs each)."""
    root = Path(base) / name
    (root / "images").mkdir(parents=True)
    (root / "classes.csv").write_bytes(classes if isinstance(classes, bytes) else classes.encode())
    if attributes is not None:
        (root / "attributes.csv").write_text(attributes)
    rows = [
        line.split(",")[0]
        for line in (classes.decode("latin-1") if isinstance(classes, bytes) else classes).splitlines()[1:]
        if line.strip()
    ]
    images = images or {c: [f"{i}.jpg" for i in range(3)] for c in rows if c}
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30)]
    for k, (cls, files) in enumerate(images.items()):
        folder = root / "images" / cls
        folder.mkdir(parents=True, exist_ok=True)
        for i, f in enumerate(files):
            (folder / f).write_bytes(jpeg_bytes(color=colours[(k + i) % len(colours)]))
    return root


def _folder(classes=CLASSES, attributes=None, images=None):
    return lambda base, **_: make_folder_dataset(base, classes, attributes, images)


FOLDER_CASES = [
    ("csv-nan-value", _folder(CLASSES.replace("0.8,0.2", "NaN,0.2")), "line 3.*not a finite number", "classes.csv"),
    ("csv-inf-value", _folder(CLASSES.replace("0.1,1.0", "-inf,1.0")), "line 4.*not a finite number", "classes.csv"),
    (
        "csv-missing-column",
        _folder(CLASSES.replace("0.2,0.8,0.2", "0.2,0.8")),
        "line 3.*4 fields but the header has 5",
        "classes.csv",
    ),
    (
        "csv-extra-column",
        _folder(CLASSES.replace("0.9,0.0,0.5", "0.9,0.0,0.5,7")),
        "line 2.*6 fields but the header has 5",
        "classes.csv",
    ),
    (
        "csv-duplicate-class",
        _folder(CLASSES.replace("robin,seen", "CROW,seen")),
        "line 3.*already defined on line 2",
        "classes.csv",
    ),
    (
        "csv-attribute-list-mismatch",
        _folder(attributes="attribute,group\nwing_black,wing\nbeak,head\n"),
        "line 3.*'beak' is not a column of classes.csv",
        "attributes.csv",
    ),
    ("csv-no-attributes", _folder("class,split\ncrow,seen\ncardinal,unseen\n"), "names no attributes", "classes.csv"),
    (
        "csv-binary-garbage",
        _folder(b"class,split,a\n\x00\x01\x02\xff\xfe,seen,1\ncrow,unseen,1\n", images={"crow": ["a.jpg"]}),
        "line 2, column 'class'.*has no folder",
        "classes.csv",
    ),
    ("csv-empty-file", _folder(""), "the file is empty", "classes.csv"),
    (
        "csv-latin1-encoded",
        _folder(
            CLASSES.replace("robin", "m\u00e9sange").encode("latin-1"),
            images={"crow": ["a.jpg"], "m\u00e9sange": ["a.jpg"], "cardinal": ["a.jpg"]},
        ),
        None,
        None,
    ),
]


# -- xlsa17 .mat files ----------------------------------------------------------------------------------

K, A, N = 5, 4, 20


def _cell(strings):
    out = np.empty((len(strings), 1), dtype=object)
    for i, s in enumerate(strings):
        out[i, 0] = np.array([s])
    return out


def _locs(rows):
    return (np.asarray(list(rows)) + 1).astype(float).reshape(-1, 1)


def make_xlsa17(
    base: Path, att: dict | None = None, res: dict | None = None, cut: str | None = None, text: str | None = None
) -> Path:
    """res101.mat + att_splits.mat for 5 classes (3 seen), 4 attributes, 20 images; with damage."""
    folder = Path(base) / "toy"
    folder.mkdir()
    rng = np.random.default_rng(1)
    original = rng.uniform(0, 100, size=(A, K))
    fields = {
        "att": original / np.linalg.norm(original, axis=0),
        "original_att": original,
        "trainval_loc": _locs([0, 1, 2, 4, 5, 6, 8, 9, 10]),
        "test_seen_loc": _locs([3, 7, 11]),
        "test_unseen_loc": _locs(range(12, 20)),
        "allclasses_names": _cell([f"animal{k}" for k in range(K)]),
    }
    fields.update(att or {})
    scipy.io.savemat(folder / "att_splits.mat", {k: v for k, v in fields.items() if v is not None})
    labels = np.repeat(np.arange(1, K + 1), 4).astype(float).reshape(N, 1)
    fields = {"features": rng.normal(size=(16, N)), "labels": labels}
    fields.update(res or {})
    scipy.io.savemat(folder / "res101.mat", {k: v for k, v in fields.items() if v is not None})
    if cut:
        data = (folder / cut).read_bytes()
        (folder / cut).write_bytes(data[: len(data) // 2])
    if text:
        (folder / text).write_text("this is not a MATLAB file\n")
    return folder


def _mat(**kwargs):
    return lambda base, **_: make_xlsa17(base, **kwargs)


MAT_CASES = [
    ("mat-missing-field", _mat(res={"labels": None}), "field 'labels' is missing", "res101.mat"),
    ("mat-missing-split", _mat(att={"test_unseen_loc": None}), "field 'test_unseen_loc' is missing", "att_splits.mat"),
    ("mat-wrong-feature-count", _mat(res={"features": np.zeros((16, N + 1))}), "features", "res101.mat"),
    ("mat-wrong-attribute-shape", _mat(att={"original_att": np.zeros((A + 1, K))}), "original_att", "att_splits.mat"),
    ("mat-3d-array", _mat(att={"att": np.zeros((A, K, 2))}), "att.*2-D", "att_splits.mat"),
    ("mat-nan-features", _mat(res={"features": np.full((16, N), np.nan)}), "NaN or infinite", "res101.mat"),
    ("mat-text-in-numeric-field", _mat(res={"labels": np.array(["abc"])}), "labels.*numeric", "res101.mat"),
    ("mat-truncated", _mat(cut="att_splits.mat"), "not a readable MATLAB file", "att_splits.mat"),
    ("mat-text-file", _mat(text="res101.mat"), "not a readable MATLAB file", "res101.mat"),
]


def all_cases() -> list[Case]:
    cases = []
    for case_id, build, words, check in IMAGE_CASES:
        cases.append(Case(case_id, "image", build, words, check))
    for case_id, build, words, file in FOLDER_CASES:
        cases.append(Case(case_id, "folder", build, words, None, file))
    for case_id, build, words, file in MAT_CASES:
        cases.append(Case(case_id, "mat", build, words, None, file))
    return cases


def numbered(cases: list[Case], start: int = 1) -> list:
    """pytest params with ids ``corpus-NN-<case>``."""
    import pytest

    return [pytest.param(c, id=f"corpus-{i:02d}-{c.id}") for i, c in enumerate(cases, start)]


# -- checkpoints (built against the dataset they are evaluated with) --------------------------------------


def valid_checkpoint_parts(dataset, **header_changes):
    """Header and weights of an (untrained) MSDN for ``dataset`` at input size 32: loadable and compatible."""
    from zsl_desktop.engine.methods.base import ModelInfo
    from zsl_desktop.engine.methods import get_method
    from zsl_desktop.engine.training import TrainConfig, inference_state, make_header

    info = ModelInfo(
        attribute_names=dataset.attribute_names,
        num_classes=dataset.num_classes,
        feature_kind="grid",
        channels=1280,
        grid_size=(1, 1),
    )
    method = get_method("msdn")(info, {})
    header = make_header(dataset, method, TrainConfig(input_size=32), epochs=1, gamma=0.0, gamma_source="fixed")
    header.update(header_changes)
    return header, inference_state(method)


def _ckpt(change=None, state_change=None, damage=None):
    def build(folder, dataset=None, **_):
        import json

        import torch

        from zsl_desktop.engine.checkpoints import FORMAT, save_checkpoint

        path = Path(folder) / "model.pt"
        header, state = valid_checkpoint_parts(dataset)
        if change:
            change(header)
        if state_change:
            state_change(state)
        save_checkpoint(path, header, state)
        if damage == "truncate":
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        elif damage == "empty":
            path.write_bytes(b"")
        elif damage == "foreign":
            torch.save({"model": state}, path)
        elif damage == "header":
            torch.save({"format": FORMAT, "header": "{not json", "state": state}, path)
        elif damage == "json-list":
            torch.save({"format": FORMAT, "header": json.dumps([1, 2]), "state": state}, path)
        return path

    return build


def _pop(key):
    return lambda h: h.pop(key)


CHECKPOINT_CASES = [
    (
        "checkpoint-other-dataset",
        _ckpt(lambda h: h.update(dataset="awa2", dataset_fingerprint="0123456789abcdef")),
        "trained on dataset 'awa2'",
    ),
    (
        "checkpoint-other-attributes",
        _ckpt(lambda h: h.update(attribute_names=["has_tail::long"])),
        "made for 1 attributes",
    ),
    ("checkpoint-truncated", _ckpt(damage="truncate"), "truncated or corrupt"),
    ("checkpoint-empty-file", _ckpt(damage="empty"), "the file is empty"),
    ("checkpoint-not-ours", _ckpt(damage="foreign"), "not a ZSL Desktop checkpoint"),
    ("checkpoint-header-not-json", _ckpt(damage="header"), "header is damaged"),
    ("checkpoint-header-not-an-object", _ckpt(damage="json-list"), "header is damaged"),
    ("checkpoint-header-missing-field", _ckpt(_pop("feature_kind")), "the header has no 'feature_kind'"),
    ("checkpoint-unknown-method", _ckpt(lambda h: h.update(method="magic")), "unknown method 'magic'"),
    (
        "checkpoint-wrong-weight-shapes",
        _ckpt(state_change=lambda s: s.update(W_1=s["W_1"][:, :7])),
        "cannot be used: .*7 channels",
    ),
    ("checkpoint-missing-weights", _ckpt(state_change=lambda s: s.pop("V")), "cannot be used: .*no V"),
]


def checkpoint_cases() -> list[Case]:
    return [Case(case_id, "checkpoint", build, words, None, "model.pt") for case_id, build, words in CHECKPOINT_CASES]


def corpus() -> list[Case]:
    """Every case, in the order their numbers are given."""
    return all_cases() + checkpoint_cases()


def assert_clear_refusal(code, err, file_name, words):
    """Non-zero exit, one error line naming the file and the problem, no traceback."""
    import re

    assert code != 0, err
    assert "Traceback" not in err, err
    assert file_name in err, f"{file_name!r} not named in: {err}"
    assert re.search(words, err), f"{words!r} not in: {err}"
