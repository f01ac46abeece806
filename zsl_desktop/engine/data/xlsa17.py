"""Xian et al.'s xlsa17 benchmark files: ``att_splits.mat`` (the proposed ZSL split) and ``res101.mat``.

``load_att_splits`` and ``find_split_file`` serve every loader that takes its
split from xlsa17 (CUB, AwA2, SUN); ``load_xlsa17`` builds a feature-only
dataset from a folder holding both files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .model import Attribute, Dataset, DatasetError
from .textfiles import mat_index_vector, mat_numeric, mat_strings, read_mat, read_table

LOC_FIELDS = ("trainval_loc", "test_seen_loc", "test_unseen_loc")
OPTIONAL_LOC_FIELDS = ("train_loc", "val_loc")
ATTENTION_NOTE = "precomputed ResNet-101 features only: pooled-feature methods work, attention methods need the images"
_NO_LIMIT = 2**40

# dataset folder name -> the folder of its attribute names under shared/zsl_data/attributes
_VOCABULARIES = {"CUB": "CUB", "AWA1": "AWA2", "AWA2": "AWA2", "AWA": "AWA2", "SUN": "SUN"}
_VOCABULARY_SIZES = {312: "CUB", 85: "AWA2", 102: "SUN"}


@dataclass(frozen=True, eq=False)
class AttSplits:
    """The contents of one ``att_splits.mat``; index arrays are 0-based image positions."""

    path: Path
    att: np.ndarray  # float64 [A, K] as read (L2-normalised columns)
    original_att: np.ndarray | None  # float64 [A, K], the unnormalised values
    class_names: tuple[str, ...]
    class_names_given: bool  # False when the file has no allclasses_names (FLO)
    trainval: np.ndarray
    test_seen: np.ndarray
    test_unseen: np.ndarray
    train: np.ndarray | None = None
    val: np.ndarray | None = None

    @property
    def num_classes(self) -> int:
        return int(self.att.shape[1])

    @property
    def num_attributes(self) -> int:
        return int(self.att.shape[0])

    @property
    def num_samples(self) -> int:
        """Images the split covers: trainval, test_seen and test_unseen together cover 0..N-1."""
        return int(max(a.max(initial=-1) for a in (self.trainval, self.test_seen, self.test_unseen)) + 1)

    def class_vectors(self) -> np.ndarray:
        """float32 [K, A]: ``original_att`` when present (the dataset's own scale), else ``att``."""
        source = self.original_att if self.original_att is not None else self.att
        return np.ascontiguousarray(source.T, dtype=np.float32)

    def splits(self) -> dict[str, np.ndarray]:
        out = {"trainval": self.trainval, "test_seen": self.test_seen, "test_unseen": self.test_unseen}
        if self.train is not None and self.val is not None:
            out.update(train=self.train, val=self.val)
        return out


def load_att_splits(path) -> AttSplits:
    """Read and check an xlsa17 ``att_splits.mat``."""
    path = Path(path)
    mat = read_mat(path, required=("att", *LOC_FIELDS))
    att = mat_numeric(mat["att"], path, "att")
    num_attributes, num_classes = att.shape
    original = None
    if "original_att" in mat:
        original = mat_numeric(mat["original_att"], path, "original_att")
        if original.shape != att.shape:
            raise DatasetError(
                path, f"field 'original_att' is {original.shape}, but 'att' is {att.shape}", column="original_att"
            )
    names, given = _class_names(mat, path, num_classes)
    locs = {f: mat_index_vector(mat[f], path, f, _NO_LIMIT) for f in LOC_FIELDS}
    _check_disjoint(locs, path)
    optional = {}
    if all(f in mat for f in OPTIONAL_LOC_FIELDS):
        optional = {f[:-4]: mat_index_vector(mat[f], path, f, _NO_LIMIT) for f in OPTIONAL_LOC_FIELDS}
    return AttSplits(
        path=path,
        att=att,
        original_att=original,
        class_names=tuple(names),
        class_names_given=given,
        trainval=locs["trainval_loc"],
        test_seen=locs["test_seen_loc"],
        test_unseen=locs["test_unseen_loc"],
        **optional,
    )


def _class_names(mat: dict, path: Path, num_classes: int) -> tuple[list[str], bool]:
    if "allclasses_names" not in mat:
        return [f"class_{i:03d}" for i in range(1, num_classes + 1)], False
    names = mat_strings(mat["allclasses_names"], path, "allclasses_names")
    if len(names) != num_classes:
        raise DatasetError(
            path,
            f"field 'allclasses_names' has {len(names)} names but 'att' has {num_classes} classes",
            column="allclasses_names",
        )
    if len(set(names)) != len(names):
        raise DatasetError(path, "field 'allclasses_names' repeats a class name", column="allclasses_names")
    return names, True


def _check_disjoint(locs: dict, path: Path) -> None:
    fields = list(locs)
    for i, a in enumerate(fields):
        if len(np.unique(locs[a])) != len(locs[a]):
            raise DatasetError(path, f"field {a!r} lists an image twice", column=a)
        for b in fields[i + 1 :]:
            shared = np.intersect1d(locs[a], locs[b])
            if shared.size:
                raise DatasetError(
                    path, f"fields {a!r} and {b!r} share {shared.size} images (first: {shared[0] + 1})", column=b
                )


def find_split_file(root, dataset_key: str, filename: str = "att_splits.mat") -> Path | None:
    """The xlsa17 split file for ``dataset_key`` ("CUB", "AWA2", "SUN") in the usual places near ``root``.

    Looks in ``root/``, ``root/xlsa17/KEY/`` and, beside ``root``, in
    ``xlsa17/KEY/``, ``xlsa/KEY/``, ``xlsa17/data/KEY/`` and ``data/KEY/``.
    """
    root = Path(root)
    keys = list(dict.fromkeys([dataset_key, dataset_key.upper()]))
    candidates = [root / filename]
    for key in keys:
        candidates += [root / "xlsa17" / key / filename, root / "xlsa17" / "data" / key / filename]
        for base in ("xlsa17", "xlsa", "xlsa17/data", "data"):
            candidates.append(root.parent / base / key / filename)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return None


def dataset_splits(att_splits: AttSplits, labels: np.ndarray) -> tuple[dict, np.ndarray, np.ndarray, list[str]]:
    """The Dataset's ``splits``, seen and unseen classes, and notes, for labels in split order.

    xlsa17's ``train_loc``/``val_loc`` also list test_seen images (20% of them
    for AWA1/AWA2/SUN/FLO); those are dropped from train/val so that model
    selection never sees a test image.
    """
    path = att_splits.path
    if att_splits.num_samples > len(labels):
        raise DatasetError(
            path, f"the split indexes image {att_splits.num_samples}, but there are only {len(labels)} images"
        )
    splits = {k: np.sort(v) for k, v in att_splits.splits().items()}
    notes = []
    if "train" in splits:
        for name in ("train", "val"):
            kept = splits[name][np.isin(splits[name], splits["trainval"])]
            if len(kept) < len(splits[name]):
                notes.append(
                    f"{len(splits[name]) - len(kept)} {name} images of {path.name} lie outside trainval "
                    f"(an xlsa17 quirk); {name} keeps only trainval images"
                )
            splits[name] = kept
    seen = np.unique(labels[splits["trainval"]])
    unseen = np.unique(labels[splits["test_unseen"]])
    overlap = np.intersect1d(seen, unseen)
    if overlap.size:
        raise DatasetError(
            path, f"{overlap.size} classes have images in both trainval and test_unseen", column="test_unseen_loc"
        )
    return splits, seen.astype(np.int64), unseen.astype(np.int64), notes


def remap_splits(splits: dict, keep: np.ndarray) -> dict:
    """Splits over all listed images -> splits over the kept ones (``keep`` is a bool mask)."""
    new_index = np.cumsum(keep) - 1
    return {k: new_index[v[keep[v]]].astype(np.int64) for k, v in splits.items()}


# -- attribute names ---------------------------------------------------------------


def known_attribute_names(dataset_key: str | None = None, count: int | None = None) -> list[str] | None:
    """The real attribute names of CUB (312), AwA (85) or SUN (102) from the shared data, if present.

    Chosen by dataset key when it is a known one, else by count; ``None`` when
    nothing matches or the shared data is not there.
    """
    from ..paths import shared_data_dir

    vocabulary = _VOCABULARIES.get((dataset_key or "").upper())
    if vocabulary is None and count is not None:
        vocabulary = _VOCABULARY_SIZES.get(count)
    shared = shared_data_dir()
    if vocabulary is None or shared is None:
        return None
    folder = shared / "attributes" / vocabulary
    filename = {"CUB": "attributes.txt", "AWA2": "predicates.txt", "SUN": "attributes.txt"}[vocabulary]
    if not (folder / filename).is_file():
        return None
    names = [fields[1].strip() for _, fields in read_table(folder / filename, 2, (int, str), maxsplit=1)]
    if count is not None and len(names) != count:
        return None
    return names


def attributes_for(names: list[str] | None, count: int, embedding: bool = False) -> tuple[Attribute, ...]:
    """Attributes from real names, or generic ones: ``attribute_001`` or, for embeddings, ``dim_0001``."""
    if names is not None:
        return tuple(Attribute.from_name(n) for n in names)
    if embedding:
        return tuple(Attribute(f"dim_{i:04d}", "embedding", f"dim_{i:04d}") for i in range(1, count + 1))
    return tuple(Attribute.from_name(f"attribute_{i:03d}") for i in range(1, count + 1))


# -- res101.mat --------------------------------------------------------------------


def load_xlsa17(folder_or_res101_path, attribute_names=None) -> Dataset:
    """A feature-only Dataset from xlsa17's ``res101.mat`` and ``att_splits.mat`` in one folder."""
    given = Path(folder_or_res101_path)
    res101 = given if given.suffix.lower() == ".mat" else given / "res101.mat"
    folder = res101.parent
    att_splits = load_att_splits(folder / "att_splits.mat")
    features, labels = _read_res101(res101, att_splits.num_classes)
    splits, seen, unseen, notes = dataset_splits(att_splits, labels)
    if att_splits.num_samples != len(labels):
        raise DatasetError(
            att_splits.path,
            f"the split covers {att_splits.num_samples} images but {res101.name} has {len(labels)}",
        )
    attributes, naming_note = _attributes(folder.name, att_splits.num_attributes, attribute_names, att_splits.path)
    notes = [ATTENTION_NOTE, *notes] + ([naming_note] if naming_note else [])
    if not att_splits.class_names_given:
        notes.append(f"{att_splits.path.name} has no class names; classes are numbered class_001...")
    return Dataset(
        name=folder.name,
        format="xlsa17",
        root=folder,
        classes=att_splits.class_names,
        attributes=attributes,
        class_attributes=att_splits.class_vectors(),
        labels=labels,
        splits=splits,
        seen_classes=seen,
        unseen_classes=unseen,
        features=features,
        notes=tuple(notes),
        split_file=att_splits.path,
    )


def _read_res101(path: Path, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """features as float32 [N, D] and 0-based labels from ``res101.mat`` (features stored D x N)."""
    mat = read_mat(path, required=("features", "labels"))
    labels = mat_index_vector(mat["labels"], path, "labels", num_classes)
    n = len(labels)
    features = mat_numeric(mat["features"], path, "features")
    if features.shape[1] == n:
        features = features.T
    elif features.shape[0] != n:
        raise DatasetError(
            path,
            f"field 'features' is {features.shape[0]} x {features.shape[1]}; expected D x {n} (one column per label)",
            column="features",
        )
    if "image_files" in mat:
        files = mat_strings(mat["image_files"], path, "image_files")
        if len(files) != n:
            raise DatasetError(
                path, f"field 'image_files' has {len(files)} entries but 'labels' has {n}", column="image_files"
            )
    return np.ascontiguousarray(features, dtype=np.float32), labels


def _attributes(dataset_key: str, count: int, names, att_path: Path):
    """Attribute list and an optional note on how they were named."""
    if names is not None:
        names = [str(n) for n in names]
        if len(names) != count:
            raise DatasetError(att_path, f"{len(names)} attribute names given but 'att' has {count} rows", column="att")
        return attributes_for(names, count), None
    embedding = dataset_key.upper() == "FLO" or count == 1024
    known = None if embedding else known_attribute_names(dataset_key, count)
    if known is not None:
        return attributes_for(known, count), None
    if embedding:
        return attributes_for(None, count, embedding=True), "class vectors are sentence embeddings, not attributes"
    return attributes_for(None, count), "attribute names unknown; they are numbered attribute_001..."
