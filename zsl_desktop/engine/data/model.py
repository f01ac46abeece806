"""The one immutable dataset description every loader returns.

Loaders differ in what they read; everything downstream (feature store,
methods, evaluation, UI) sees only this. Index arrays are 0-based numpy
arrays; class ids index ``classes`` and the rows of ``class_attributes``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zsl_desktop.engine.errors import ZslError
from zsl_desktop.engine.userfiles import shown_path

SPLIT_NAMES = ("trainval", "test_seen", "test_unseen")


class DatasetError(ZslError):
    """A dataset file is missing or malformed.

    The message always names the file, and the line (or row/column) when
    there is one, so the user can fix it.
    """

    def __init__(self, path, problem: str, line: int | None = None, column: str | None = None):
        self.path = str(path)
        self.line = line
        self.column = column
        self.problem = problem
        where = shown_path(path)
        if line is not None:
            where += f", line {line}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class Attribute:
    """One attribute: CUB's ``has_bill_shape::hooked`` has group ``bill_shape``, value ``hooked``."""

    name: str
    group: str
    value: str

    @staticmethod
    def from_name(name: str, group: str | None = None) -> "Attribute":
        if group is None:
            if "::" in name:
                head, value = name.split("::", 1)
                group = head[4:] if head.startswith("has_") else head
            else:
                group, value = "attributes", name
        else:
            value = name.split("::", 1)[-1]
        return Attribute(name=name, group=group, value=value)

    @property
    def label(self) -> str:
        """Human readable: ``bill shape: hooked``."""
        if self.group == "attributes" or self.value == self.name:
            return self.name.replace("_", " ")
        return f"{self.group.replace('_', ' ')}: {self.value.replace('_', ' ')}"


@dataclass(frozen=True, eq=False)
class Dataset:
    """Classes, attributes, samples and the ZSL split of one dataset.

    ``image_paths`` are relative to ``image_root``; feature-only datasets
    (xlsa17 ``res101.mat``) carry ``features`` instead and have no images.
    ``part_locations`` is [N, P, 3] (x, y, visible) in original image pixels.
    """

    name: str
    format: str
    root: Path
    classes: tuple[str, ...]
    attributes: tuple[Attribute, ...]
    class_attributes: np.ndarray  # float32 [K, A]
    labels: np.ndarray  # int64 [N]
    splits: dict  # name -> int64 index array; always SPLIT_NAMES, optionally train/val
    seen_classes: np.ndarray  # int64
    unseen_classes: np.ndarray  # int64
    image_root: Path | None = None
    image_paths: tuple[str, ...] | None = None
    features: np.ndarray | None = None  # float32 [N, D] for feature-only datasets
    image_attributes: np.ndarray | None = None  # float32 [N, A] in 0-1 (CUB: 0/1 labels, SUN: vote fractions)
    part_names: tuple[str, ...] | None = None
    part_locations: np.ndarray | None = None  # float32 [N, P, 3]
    boxes: np.ndarray | None = None  # float32 [N, 4] x, y, w, h
    notes: tuple[str, ...] = field(default_factory=tuple)
    split_file: Path | None = None  # where the ZSL split came from (named when the split is unusable)

    def __post_init__(self):
        k, a = self.class_attributes.shape
        if k != len(self.classes) or a != len(self.attributes):
            raise ValueError(
                f"class_attributes is {k}x{a} but there are {len(self.classes)} classes "
                f"and {len(self.attributes)} attributes"
            )
        for name in SPLIT_NAMES:
            if name not in self.splits:
                raise ValueError(f"split {name!r} missing")

    # -- sizes ------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def num_attributes(self) -> int:
        return len(self.attributes)

    @property
    def num_samples(self) -> int:
        return int(self.labels.shape[0])

    @property
    def has_images(self) -> bool:
        return self.image_paths is not None

    @property
    def attribute_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.attributes)

    def attribute_groups(self) -> dict[str, list[int]]:
        """Group name -> attribute indices, in first-seen order."""
        groups: dict[str, list[int]] = {}
        for i, attribute in enumerate(self.attributes):
            groups.setdefault(attribute.group, []).append(i)
        return groups

    def image_path(self, index: int) -> Path:
        if self.image_paths is None or self.image_root is None:
            raise DatasetError(self.root, "this dataset has features only, no images")
        return self.image_root / self.image_paths[index]

    @property
    def fingerprint(self) -> str:
        """Identity of the data a model was trained on: classes, attributes, samples, split.

        Checkpoints and feature stores record it and refuse a dataset that differs.
        """
        h = hashlib.sha256()
        h.update("\n".join(self.classes).encode())
        h.update(b"\x00")
        h.update("\n".join(self.attribute_names).encode())
        h.update(b"\x00")
        if self.image_paths is not None:
            # surrogateescape: a file name that is not valid UTF-8 (read from a Linux folder) still hashes
            h.update("\n".join(self.image_paths).encode("utf-8", "surrogateescape"))
        elif self.features is not None:
            h.update(str(self.features.shape).encode())
        h.update(np.ascontiguousarray(self.labels, dtype=np.int64).tobytes())
        for name in SPLIT_NAMES:
            h.update(np.ascontiguousarray(self.splits[name], dtype=np.int64).tobytes())
        return h.hexdigest()[:16]

    def summary(self) -> str:
        lines = [
            f"{self.name} ({self.format}) at {self.root}",
            f"  classes: {self.num_classes} ({len(self.seen_classes)} seen / {len(self.unseen_classes)} unseen)",
            f"  attributes: {self.num_attributes} in {len(self.attribute_groups())} groups",
            f"  samples: {self.num_samples}" + ("" if self.has_images else " (precomputed features only)"),
        ]
        for name in (*SPLIT_NAMES, "train", "val"):
            if name in self.splits:
                lines.append(f"  {name}: {len(self.splits[name])}")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)


MIN_TRAIN_IMAGES = 1  # per seen class: a seen class never trained on breaks the seen/unseen scoring


def check_zsl_split(dataset: Dataset) -> None:
    """Refuse a split that cannot give a meaningful zero-shot result, naming the file it came from.

    Checked at load, before any feature is extracted or epoch trained: test_unseen must hold images,
    no class may be both seen and unseen, no image may be in two of trainval/test_seen/test_unseen
    (test leakage), and every seen class needs ``MIN_TRAIN_IMAGES`` training images.
    """
    where = dataset.split_file or dataset.root
    labels, splits = dataset.labels, dataset.splits
    both = np.intersect1d(dataset.seen_classes, dataset.unseen_classes)
    if both.size:
        raise DatasetError(
            where,
            f"class {dataset.classes[int(both[0])]!r} is listed both seen and unseen"
            + (f" (and {both.size - 1} more)" if both.size > 1 else ""),
        )
    if len(dataset.unseen_classes) == 0 or len(splits["test_unseen"]) == 0:
        raise DatasetError(
            where, "the split has no unseen test images (test_unseen is empty): zero-shot accuracy cannot be measured"
        )
    for a, b in (("trainval", "test_seen"), ("trainval", "test_unseen"), ("test_seen", "test_unseen")):
        shared = np.intersect1d(splits[a], splits[b])
        if shared.size:
            name = dataset.image_paths[int(shared[0])] if dataset.image_paths else f"row {int(shared[0]) + 1}"
            raise DatasetError(
                where,
                f"image {name!r} is in both {a} and {b} (test images must never be "
                f"trained on)" + (f"; {shared.size - 1} more" if shared.size > 1 else ""),
            )
    leaked = np.intersect1d(np.unique(labels[splits["trainval"]]), dataset.unseen_classes)
    if leaked.size:
        raise DatasetError(where, f"unseen class {dataset.classes[int(leaked[0])]!r} has images in trainval")
    counts = np.bincount(labels[splits["trainval"]], minlength=dataset.num_classes)
    few = [int(c) for c in dataset.seen_classes if counts[int(c)] < MIN_TRAIN_IMAGES]
    if few:
        c = few[0]
        raise DatasetError(
            where,
            f"seen class {dataset.classes[c]!r} has {counts[c]} training image"
            f"{'s' if counts[c] != 1 else ''} (at least {MIN_TRAIN_IMAGES} are needed)"
            + (f"; {len(few) - 1} more classes too" if len(few) > 1 else ""),
        )


def split_from_classes(labels: np.ndarray, unseen: np.ndarray, seed: int = 0, test_fraction: float = 0.2):
    """A seeded ZSL split: 80/20 of each seen class into trainval/test_seen, all unseen images to test_unseen."""
    rng = np.random.default_rng(seed)
    unseen_set = set(int(c) for c in unseen)
    trainval, test_seen, test_unseen = [], [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if int(c) in unseen_set:
            test_unseen.extend(idx.tolist())
            continue
        idx = rng.permutation(idx)
        n_test = int(round(len(idx) * test_fraction))
        if len(idx) > 1:
            n_test = max(1, n_test)
        test_seen.extend(idx[:n_test].tolist())
        trainval.extend(idx[n_test:].tolist())

    def as_array(xs):
        return np.array(sorted(xs), dtype=np.int64)

    return {"trainval": as_array(trainval), "test_seen": as_array(test_seen), "test_unseen": as_array(test_unseen)}


def validation_split(dataset: Dataset, seed: int = 0, fraction: float = 0.2):
    """Split trainval into (train, val, val_unseen_classes) for model selection.

    Uses xlsa17's ``train``/``val`` (a class split) when the dataset has it;
    otherwise holds out a seeded ``fraction`` of the seen classes as pseudo-unseen.
    Selection never looks at the test split.
    """
    labels = dataset.labels
    trainval = dataset.splits["trainval"]
    if "train" in dataset.splits and "val" in dataset.splits:
        train, val = dataset.splits["train"], dataset.splits["val"]
        val_classes = np.setdiff1d(np.unique(labels[val]), np.unique(labels[train]))
        if len(val_classes) > 0:
            return train, val, val_classes
    seen = np.unique(labels[trainval])
    rng = np.random.default_rng(seed)
    n_val = max(1, int(round(len(seen) * fraction)))
    val_classes = np.sort(rng.choice(seen, size=n_val, replace=False))
    is_val = np.isin(labels[trainval], val_classes)
    return trainval[~is_val], trainval[is_val], val_classes
