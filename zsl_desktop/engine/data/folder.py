"""Our folder format for users' own data (DATASETS.md, "Folder format").

```
my_dataset/
  classes.csv      class,split,<attribute 1>,...   (split: seen or unseen; values: finite floats)
  attributes.csv   optional: attribute,group,description
  images/<class>/<name>.jpg|jpeg|png|bmp|webp
  splits.csv       optional: image,split  (image: path under images/; split: trainval, test_seen, test_unseen)
```
Every error names the file, the line and the column, so a user can fix a
spreadsheet without guessing. Image paths are ``<class>/<name>`` relative to
``images/``, classes in ``classes.csv`` order and file names sorted within a class.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .class_checks import check_rows_describe_classes, indistinct_class_notes
from .model import SPLIT_NAMES, Attribute, Dataset, DatasetError, split_from_classes
from .textfiles import convert, read_csv

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
CLASS_SPLITS = ("seen", "unseen")


def load_folder(root) -> Dataset:
    """Read a dataset in our folder format."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(root, "folder not found")
    classes_path = root / "classes.csv"
    names, is_unseen, matrix, class_lines, attribute_names = _read_classes(classes_path)
    attributes = _read_attributes(root / "attributes.csv", attribute_names)
    check_rows_describe_classes(classes_path, names, class_lines, matrix)
    image_paths, labels, notes = _list_images(root / "images", names, is_unseen, class_lines, classes_path)
    notes += indistinct_class_notes(names, matrix)
    unseen = np.flatnonzero(is_unseen).astype(np.int64)
    if (root / "splits.csv").exists():
        splits, split_notes = _read_splits(root / "splits.csv", image_paths, labels, is_unseen, names)
        notes += split_notes
    else:
        splits = split_from_classes(labels, unseen, seed=0)
        notes.append("no splits.csv: a seeded 80/20 of each seen class's images; unseen images are test_unseen")
    return Dataset(
        name=root.name,
        format="folder",
        root=root,
        classes=tuple(names),
        attributes=attributes,
        class_attributes=matrix,
        labels=labels,
        splits=splits,
        seen_classes=np.flatnonzero(~is_unseen).astype(np.int64),
        unseen_classes=unseen,
        image_root=root / "images",
        image_paths=tuple(image_paths),
        notes=tuple(notes),
        split_file=(root / "splits.csv") if (root / "splits.csv").exists() else classes_path,
    )


# -- classes.csv ----------------------------------------------------------------


def _read_classes(path: Path):
    """Class names, unseen flags, the [K, A] attribute matrix, line numbers and attribute names."""
    header, rows = read_csv(path, required_header=("class", "split"))
    attribute_names = _attribute_header(path, header)
    names, unseen, values, lines = [], [], [], []
    first_line: dict[str, int] = {}
    for line, fields in rows:
        if len(fields) != len(header):
            raise DatasetError(
                path,
                f"row has {len(fields)} fields but the header has {len(header)} "
                f"(class, split and {len(attribute_names)} attributes)",
                line=line,
            )
        name, split = fields[0], fields[1].lower()
        if not name:
            raise DatasetError(path, "class name is empty", line=line, column="class")
        key = name.casefold()
        if key in first_line:
            raise DatasetError(
                path, f"class {name!r} is already defined on line {first_line[key]}", line=line, column="class"
            )
        first_line[key] = line
        if split not in CLASS_SPLITS:
            raise DatasetError(
                path, f"split must be 'seen' or 'unseen', found {fields[1]!r}", line=line, column="split"
            )
        row = [convert(v, float, path, line, attribute_names[i]) for i, v in enumerate(fields[2:])]
        names.append(name)
        unseen.append(split == "unseen")
        values.append(row)
        lines.append(line)
    if not names:
        raise DatasetError(path, "no classes listed")
    is_unseen = np.array(unseen, dtype=bool)
    if is_unseen.all():
        raise DatasetError(path, "no seen class: at least one class must have split 'seen'", column="split")
    if not is_unseen.any():
        raise DatasetError(path, "no unseen class: at least one class must have split 'unseen'", column="split")
    matrix = np.array(values, dtype=np.float32).reshape(len(names), len(attribute_names))
    return names, is_unseen, matrix, lines, attribute_names


def _attribute_header(path: Path, header: list[str]) -> list[str]:
    names = header[2:]
    if not names:
        raise DatasetError(path, "the header names no attributes after 'class,split'", line=1)
    seen: set[str] = set()
    for i, name in enumerate(names, start=3):
        if not name:
            raise DatasetError(path, f"header column {i} has no attribute name", line=1, column=str(i))
        if name in seen:
            raise DatasetError(path, f"attribute {name!r} appears twice in the header", line=1, column=name)
        seen.add(name)
    return names


# -- attributes.csv --------------------------------------------------------------


def _read_attributes(path: Path, names: list[str]) -> tuple[Attribute, ...]:
    """Attributes in classes.csv order; groups from attributes.csv when given, else from the name."""
    if not path.exists():
        return tuple(Attribute.from_name(n) for n in names)
    _, rows = read_csv(path, required_header=("attribute", "group"))
    groups: dict[str, str] = {}
    known = set(names)
    for line, fields in rows:
        name = fields[0]
        if name not in known:
            raise DatasetError(
                path, f"attribute {name!r} is not a column of classes.csv", line=line, column="attribute"
            )
        if name in groups:
            raise DatasetError(path, f"attribute {name!r} is described twice", line=line, column="attribute")
        groups[name] = fields[1] if len(fields) > 1 else ""
    return tuple(Attribute.from_name(n, groups.get(n) or None) for n in names)


# -- images/ ----------------------------------------------------------------------


def _list_images(image_root: Path, names, is_unseen, class_lines, classes_path: Path):
    """``<class>/<file>`` paths, labels and notes; every class needs a folder with images."""
    if not image_root.is_dir():
        raise DatasetError(image_root, "image folder not found (expected images/<class>/...)")
    folders = {p.name: p for p in image_root.iterdir() if p.is_dir() and not p.name.startswith(".")}
    paths, labels = [], []
    for k, name in enumerate(names):
        if name not in folders:
            hint = [f for f in folders if f.casefold() == name.casefold()]
            extra = f" (found {hint[0]!r}; names are case-sensitive)" if hint else ""
            raise DatasetError(
                classes_path, f"class {name!r} has no folder images/{name}{extra}", line=class_lines[k], column="class"
            )
        files = sorted(
            f.name
            for f in folders[name].iterdir()
            if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith(".")
        )
        if not files:
            need = "to be evaluated" if is_unseen[k] else "to train on"
            kind = "unseen" if is_unseen[k] else "seen"
            raise DatasetError(
                classes_path,
                f"{kind} class {name!r} has no images in images/{name} (it needs some {need})",
                line=class_lines[k],
                column="class",
            )
        paths += [f"{name}/{f}" for f in files]
        labels += [k] * len(files)
    notes = []
    ignored = sorted(set(folders) - set(names))
    if ignored:
        notes.append(
            f"image folders not in classes.csv were ignored: {', '.join(ignored[:5])}"
            + (" ..." if len(ignored) > 5 else "")
        )
    return paths, np.array(labels, dtype=np.int64), notes


# -- splits.csv ------------------------------------------------------------------


def _normalise_image(text: str) -> str:
    path = text.strip().replace("\\", "/")
    for prefix in ("./", "images/"):
        if path.startswith(prefix):
            path = path[len(prefix) :]
    return path


def _read_splits(path: Path, image_paths, labels, is_unseen, names):
    """Split index arrays from splits.csv, checked against the images and the classes' seen/unseen."""
    _, rows = read_csv(path, required_header=("image", "split"))
    position = {p: i for i, p in enumerate(image_paths)}
    assigned: dict[int, int] = {}
    members: dict[str, list[int]] = {name: [] for name in SPLIT_NAMES}
    for line, fields in rows:
        if len(fields) < 2:
            raise DatasetError(path, "row needs an image and a split", line=line)
        image, split = _normalise_image(fields[0]), fields[1].lower()
        if image not in position:
            raise DatasetError(path, f"image {fields[0]!r} is not in images/", line=line, column="image")
        if split not in SPLIT_NAMES:
            raise DatasetError(
                path, f"split must be one of {', '.join(SPLIT_NAMES)}, found {fields[1]!r}", line=line, column="split"
            )
        i = position[image]
        if i in assigned:
            raise DatasetError(
                path, f"image {image!r} is already listed on line {assigned[i]}", line=line, column="image"
            )
        unseen = bool(is_unseen[labels[i]])
        if unseen != (split == "test_unseen"):
            kind = "unseen" if unseen else "seen"
            raise DatasetError(
                path,
                f"image of {kind} class {names[labels[i]]!r} cannot be in {split}"
                + (" (unseen classes go to test_unseen)" if unseen else ""),
                line=line,
                column="split",
            )
        assigned[i] = line
        members[split].append(i)
    if not members["trainval"]:
        raise DatasetError(path, "no image is in trainval", column="split")
    splits = {k: np.array(sorted(v), dtype=np.int64) for k, v in members.items()}
    notes = []
    if len(assigned) < len(image_paths):
        notes.append(f"{len(image_paths) - len(assigned)} images are not in splits.csv and belong to no split")
    return splits, notes
