"""The corpus's datasets: folder-format CSVs and xlsa17 ``.mat`` files, well formed or damaged.

``FOLDER_CASES`` and ``MAT_CASES`` rows are (id, build, words, file): ``words`` None means accepted, else a
regex the refusal must contain, naming ``file``. ``make_folder_dataset`` is also the other tests' small dataset.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

from corpus_images import jpeg_bytes

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
        "line 2: holds a NUL byte: binary data, not CSV text",
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
