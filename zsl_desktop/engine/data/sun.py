"""SUN Attribute database (``SUNAttributeDB/`` with the ``images/`` folder beside or inside it).

The scene class of an image is its folder path without the leading letter
folder, ``/`` joined by ``_`` (``a/airport/airport/x.jpg`` -> ``airport_airport``),
which are xlsa17's class names; classes are in name order (xlsa17's, which
differs from folder order: ``desert/sand`` vs ``desert_road``). Images are kept in sorted relative-path order,
the order xlsa17's ``att_splits.mat`` indexes. Per-image attributes are the
0-1 vote fractions of ``attributeLabels_continuous.mat``; class attributes are
their mean over every listed image of the class.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .model import Attribute, Dataset, DatasetError, split_from_classes
from .textfiles import dataset_root, mat_numeric, mat_strings, read_mat
from .xlsa17 import AttSplits, dataset_splits, find_split_file, load_att_splits, remap_splits

UNSEEN_FRACTION = 72 / 717  # the proposed split's share of unseen classes


def load_sun(root, split_file=None) -> Dataset:
    """Read the SUN Attribute database; the split comes from xlsa17 when found, else a seeded class split."""
    root = dataset_root(Path(root), "SUNAttributeDB", "images.mat")
    image_root = _find_image_root(root)
    paths, votes, attribute_names = _read_listing(root)
    order = np.array(sorted(range(len(paths)), key=paths.__getitem__), dtype=np.int64)
    paths = [paths[i] for i in order]
    votes = votes[order]
    class_of = [scene_class(p) for p in paths]
    split_path = Path(split_file) if split_file is not None else find_split_file(root, "SUN")
    att_splits = load_att_splits(split_path) if split_path is not None else None
    classes = _class_order(set(class_of), att_splits)
    index = {c: i for i, c in enumerate(classes)}
    labels = np.array([index[c] for c in class_of], dtype=np.int64)
    class_attributes = np.stack([votes[labels == k].mean(axis=0) for k in range(len(classes))])

    notes = []
    if att_splits is not None:
        if att_splits.num_samples != len(labels):
            raise DatasetError(
                split_path, f"the split covers {att_splits.num_samples} images but images.mat lists {len(labels)}"
            )
        splits, seen, unseen, split_notes = dataset_splits(att_splits, labels)
        notes += [f"proposed split (Xian et al.) from {split_path}", *split_notes]
    else:
        unseen = _seeded_unseen(len(classes))
        seen = np.setdiff1d(np.arange(len(classes)), unseen)
        splits = split_from_classes(labels, unseen, seed=0)
        notes.append(
            f"no xlsa17 att_splits.mat found: a seeded split with {len(unseen)} unseen classes "
            "and 80/20 of the seen classes' images (not the proposed split of published results)"
        )

    present = np.array([(image_root / p).is_file() for p in paths], dtype=bool)
    if not present.any():
        raise DatasetError(image_root, f"none of the {len(paths)} images listed in images.mat are there")
    if not present.all():
        notes.append(f"{int((~present).sum())} of {len(paths)} listed images are absent and were skipped")
        splits = remap_splits(splits, present)
    return Dataset(
        name="SUN",
        format="sun",
        root=root,
        classes=tuple(classes),
        attributes=tuple(Attribute.from_name(n) for n in attribute_names),
        class_attributes=class_attributes.astype(np.float32),
        labels=labels[present],
        splits=splits,
        seen_classes=np.asarray(seen, dtype=np.int64),
        unseen_classes=np.asarray(unseen, dtype=np.int64),
        image_root=image_root,
        image_paths=tuple(p for p, keep in zip(paths, present) if keep),
        image_attributes=votes[present].astype(np.float32),
        notes=tuple(notes),
        split_file=split_path,
    )


def scene_class(path: str) -> str:
    """``a/airport/airport/sun_x.jpg`` -> ``airport_airport`` (xlsa17's SUN class name)."""
    parts = path.replace("\\", "/").split("/")[:-1]
    if len(parts) > 1 and len(parts[0]) == 1:
        parts = parts[1:]
    return "_".join(parts)


def _find_image_root(root: Path) -> Path:
    for candidate in (root / "images", root.parent / "images"):
        if candidate.is_dir():
            return candidate
    raise DatasetError(root, "no images/ folder inside or beside SUNAttributeDB")


def _read_listing(root: Path) -> tuple[list[str], np.ndarray, list[str]]:
    """Image paths, their [N, A] attribute votes and the attribute names, checked against each other."""
    images_path = root / "images.mat"
    paths = [
        p.replace("\\", "/") for p in mat_strings(read_mat(images_path, ["images"])["images"], images_path, "images")
    ]
    if not paths:
        raise DatasetError(images_path, "field 'images' lists no images", column="images")
    if len(set(paths)) != len(paths):
        raise DatasetError(images_path, "field 'images' lists an image twice", column="images")
    for i, p in enumerate(paths):
        if "/" not in p:
            raise DatasetError(images_path, f"entry {i + 1} ({p!r}) has no class folder", column="images")
    names_path = root / "attributes.mat"
    names = mat_strings(read_mat(names_path, ["attributes"])["attributes"], names_path, "attributes")
    votes_path = root / "attributeLabels_continuous.mat"
    votes = mat_numeric(read_mat(votes_path, ["labels_cv"])["labels_cv"], votes_path, "labels_cv")
    if votes.shape != (len(paths), len(names)):
        raise DatasetError(
            votes_path,
            f"field 'labels_cv' is {votes.shape[0]} x {votes.shape[1]}; expected {len(paths)} images x "
            f"{len(names)} attributes",
            column="labels_cv",
        )
    if votes.min() < 0 or votes.max() > 1:
        raise DatasetError(votes_path, "field 'labels_cv' must hold vote fractions in 0-1", column="labels_cv")
    return paths, votes, names


def _class_order(names: set[str], att_splits: AttSplits | None) -> list[str]:
    """Sorted class names, which is xlsa17's order; an xlsa17 file must name the same classes."""
    if att_splits is None or not att_splits.class_names_given:
        return sorted(names)
    if set(att_splits.class_names) != names:
        different = sorted(set(att_splits.class_names) ^ names)[:3]
        raise DatasetError(
            att_splits.path,
            f"its classes do not match the image folders (e.g. {different})",
            column="allclasses_names",
        )
    return list(att_splits.class_names)


def _seeded_unseen(num_classes: int, seed: int = 0) -> np.ndarray:
    n_unseen = min(num_classes - 1, max(1, int(round(num_classes * UNSEEN_FRACTION))))
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(num_classes, size=n_unseen, replace=False)).astype(np.int64)
