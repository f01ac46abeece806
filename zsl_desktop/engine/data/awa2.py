"""Animals with Attributes 2 (``Animals_with_Attributes2/``).

Images are listed from ``JPEGImages/<class>/`` and kept in sorted relative-path
order, which is the order xlsa17's ``att_splits.mat`` indexes, so its proposed
split applies directly. ``image_root`` is ``JPEGImages/`` and image paths are
``<class>/<class>_NNNNN.jpg``.

Unknown predicate values (-1 in ``predicate-matrix-continuous.txt``, four of
them in the real file) are set to 0 so every value lies in 0-100; a note says
how many.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .model import Attribute, Dataset, DatasetError, split_from_classes
from .textfiles import dataset_root, read_matrix, read_name_list, read_table
from .xlsa17 import AttSplits, dataset_splits, find_split_file, load_att_splits

IMAGE_SUFFIXES = {".jpg", ".jpeg"}


def load_awa2(root, split_file=None) -> Dataset:
    """Read an AwA2 folder; the split comes from xlsa17 when found, else the original class lists."""
    root = dataset_root(Path(root), "Animals_with_Attributes2", "classes.txt")
    classes = read_name_list(root / "classes.txt")
    predicates = read_name_list(root / "predicates.txt")
    class_attributes, unknown = _predicate_matrix(root / "predicate-matrix-continuous.txt", classes, predicates)
    image_paths, labels = list_images(root / "JPEGImages", classes)

    notes = []
    if unknown:
        notes.append(f"{unknown} unknown (-1) predicate values set to 0")
    split_path = Path(split_file) if split_file is not None else find_split_file(root, "AWA2")
    if split_path is not None:
        att_splits = load_att_splits(split_path)
        _check_matches(att_splits, classes, len(image_paths), root / "JPEGImages")
        splits, seen, unseen, split_notes = dataset_splits(att_splits, labels)
        notes.append(f"proposed split (Xian et al.) from {split_path}")
        notes.extend(split_notes)
    else:
        unseen = _original_unseen(root, classes)
        splits = split_from_classes(labels, unseen, seed=0)
        seen = np.setdiff1d(np.arange(len(classes)), unseen)
        notes.append(
            "no xlsa17 att_splits.mat found: using AwA2's original trainclasses/testclasses split "
            "with a seeded 80/20 of the seen classes' images (not the proposed split of published results)"
        )
    return Dataset(
        name="AwA2",
        format="awa2",
        root=root,
        classes=tuple(classes),
        attributes=tuple(Attribute.from_name(p) for p in predicates),
        class_attributes=class_attributes,
        labels=labels,
        splits=splits,
        seen_classes=np.asarray(seen, dtype=np.int64),
        unseen_classes=np.asarray(unseen, dtype=np.int64),
        image_root=root / "JPEGImages",
        image_paths=tuple(image_paths),
        notes=tuple(notes),
        split_file=split_path,
    )


def _predicate_matrix(path: Path, classes: list[str], predicates: list[str]) -> tuple[np.ndarray, int]:
    """float32 [50, 85] class attributes in 0-100, with the count of unknown values set to 0."""
    matrix = read_matrix(path, rows=len(classes), columns=len(predicates))
    unknown = matrix < 0
    if np.any(matrix > 100):
        row = int(np.argwhere(matrix > 100)[0][0])
        raise DatasetError(path, "values must be at most 100", line=row + 1)
    matrix[unknown] = 0.0
    return matrix.astype(np.float32), int(unknown.sum())


def sorted_image_paths(paths) -> list[str]:
    """xlsa17's image order: relative paths sorted as plain strings ('/' separated)."""
    return sorted(str(p).replace("\\", "/") for p in paths)


def list_images(image_root: Path, classes: list[str]) -> tuple[list[str], np.ndarray]:
    """Sorted ``<class>/<file>.jpg`` paths under ``image_root`` and their 0-based labels."""
    if not image_root.is_dir():
        raise DatasetError(image_root, "image folder not found")
    index = {name: i for i, name in enumerate(classes)}
    found = []
    for folder in image_root.iterdir():
        if folder.name.startswith(".") or not folder.is_dir():
            continue
        if folder.name not in index:
            raise DatasetError(folder, "this image folder is not a class in classes.txt")
        found += [
            f"{folder.name}/{f.name}"
            for f in folder.iterdir()
            if f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith(".") and f.is_file()
        ]
    if not found:
        raise DatasetError(image_root, "no .jpg images found in the class folders")
    paths = sorted_image_paths(found)
    labels = np.array([index[p.split("/", 1)[0]] for p in paths], dtype=np.int64)
    return paths, labels


def _check_matches(att_splits: AttSplits, classes: list[str], num_images: int, image_root: Path) -> None:
    """The xlsa17 file must describe these classes and exactly these images."""
    if att_splits.class_names_given and set(att_splits.class_names) != set(classes):
        missing = sorted(set(att_splits.class_names) - set(classes))[:3]
        raise DatasetError(
            att_splits.path, f"its classes do not match classes.txt (e.g. {missing})", column="allclasses_names"
        )
    if att_splits.num_samples != num_images:
        raise DatasetError(
            att_splits.path,
            f"the split covers {att_splits.num_samples} images but {num_images} were found in {image_root}",
        )


def _original_unseen(root: Path, classes: list[str]) -> np.ndarray:
    """Class ids of ``testclasses.txt`` (AwA2's original 40/10 split)."""
    path = root / "testclasses.txt"
    index = {name: i for i, name in enumerate(classes)}
    unseen = []
    for number, fields in read_table(path, 1, maxsplit=0):
        name = fields[0].strip()
        if name not in index:
            raise DatasetError(path, f"class {name!r} is not in classes.txt", line=number)
        unseen.append(index[name])
    if not unseen:
        raise DatasetError(path, "no unseen classes listed")
    return np.array(sorted(set(unseen)), dtype=np.int64)
