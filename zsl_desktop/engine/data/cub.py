"""CUB-200-2011 (and anything written in its format, like the built-in birds).

The ZSL split comes, in this order, from: an explicit ``split_file``
(an xlsa17 ``att_splits.mat``, or a folder with ``trainvalclasses.txt`` and
``testclasses.txt``); an ``att_splits.mat`` found in the usual places; class
lists inside the dataset folder; else a seeded class split, said in a note.
xlsa17 indexes images in sorted-path order and orders classes differently
from ``classes.txt``: both are mapped by name here.

Listed images that are absent on disk are skipped (and counted in a note);
classes left without images are dropped unless ``keep_empty_classes``.
"""

from __future__ import annotations

import dataclasses
import io
import os
from pathlib import Path

import numpy as np

from ..paths import resources_dir
from .model import Attribute, Dataset, DatasetError, split_from_classes
from .textfiles import FLOAT32_MAX, read_table, read_text
from .xlsa17 import dataset_splits, find_split_file, load_att_splits, remap_splits

NUM_PARTS = 15


def find_cub_root(path) -> Path:
    """``path`` itself or its ``CUB_200_2011`` child: the folder holding ``images.txt``."""
    path = Path(path)
    for candidate in (path, path / "CUB_200_2011"):
        if (candidate / "images.txt").is_file():
            return candidate
    raise DatasetError(path / "images.txt", "not a CUB-200-2011 folder: images.txt not found")


def load_cub(
    path,
    split_file=None,
    attributes_file=None,
    keep_empty_classes: bool = False,
    name: str | None = None,
    seed: int = 0,
) -> Dataset:
    root = find_cub_root(path)
    notes: list[str] = []
    image_ids, rel_paths = _read_images(root / "images.txt")
    class_names = _read_classes(root / "classes.txt")
    labels = _read_labels(root / "image_class_labels.txt", image_ids, len(class_names))
    class_attributes = _read_class_attributes(root, len(class_names))
    attributes = _read_attribute_names(root, attributes_file, class_attributes.shape[1], notes)

    splits, seen, unseen, split_source = _zsl_split(root, split_file, rel_paths, labels, class_names, seed, notes)

    images = str(root / "images")  # os.path, not a Path per image: a third of the time (11,788 images: ~0.3 s less)
    present = np.array([os.path.isfile(os.path.join(images, p)) for p in rel_paths], bool)
    if not present.any():
        raise DatasetError(root / "images", f"none of the {len(rel_paths)} images listed in images.txt exist")
    if not present.all():
        notes.append(
            f"{int((~present).sum())} of {len(rel_paths)} listed images are absent and were skipped; "
            f"{int(present.sum())} used"
        )
    splits = remap_splits(splits, present)
    index = np.flatnonzero(present)
    labels = labels[index]
    image_attributes = _read_image_attributes(root, image_ids, len(attributes))
    parts = _read_parts(root, image_ids)
    boxes = _read_boxes(root / "bounding_boxes.txt", image_ids)

    keep = np.arange(len(class_names))
    if not keep_empty_classes:
        keep = np.unique(labels)
        if len(keep) < len(class_names):
            notes.append(
                f"{len(class_names) - len(keep)} classes have no images here and were left out; "
                f"{len(keep)} classes used"
            )
    new_id = np.full(len(class_names), -1, np.int64)
    new_id[keep] = np.arange(len(keep))
    seen = new_id[np.intersect1d(seen, keep)]
    unseen = new_id[np.intersect1d(unseen, keep)]
    return Dataset(
        name=name or root.name,
        format="cub",
        root=root,
        classes=tuple(class_names[i] for i in keep),
        attributes=attributes,
        class_attributes=class_attributes[keep],
        labels=new_id[labels],
        splits=splits,
        seen_classes=np.sort(seen),
        unseen_classes=np.sort(unseen),
        image_root=root / "images",
        image_paths=tuple(rel_paths[i] for i in index),
        image_attributes=None if image_attributes is None else image_attributes[index],
        part_names=None if parts is None else parts[0],
        part_locations=None if parts is None else parts[1][index],
        boxes=None if boxes is None else boxes[index],
        notes=tuple(notes),
        split_file=split_source,
    )


# -- the metadata files -------------------------------------------------------------
def _read_images(path: Path):
    rows = read_table(path, 2, (int, str), maxsplit=1, names=("image_id", "path"))
    ids = np.array([f[0] for _, f in rows], np.int64)
    if len(np.unique(ids)) != len(ids):
        raise DatasetError(path, "an image id is listed twice")
    first_line: dict[str, int] = {}
    for line, fields in rows:  # one file under two ids could land in trainval and test: leakage
        name = fields[1].strip()
        if name in first_line:
            raise DatasetError(
                path, f"image {name!r} is already listed on line {first_line[name]}", line=line, column="path"
            )
        first_line[name] = line
    return ids, [f[1].strip() for _, f in rows]


def _read_classes(path: Path) -> list[str]:
    rows = read_table(path, 2, (int, str), maxsplit=1, names=("class_id", "name"))
    for expected, (line, fields) in enumerate(rows, start=1):
        if fields[0] != expected:
            raise DatasetError(path, f"expected class id {expected}, found {fields[0]}", line=line, column="class_id")
    return [f[1].strip() for _, f in rows]


def _read_labels(path: Path, image_ids: np.ndarray, num_classes: int) -> np.ndarray:
    table = _numeric_table(read_text(path), (np.int64, np.int64))  # read_text: the file gate
    if table is not None and ((table[1] >= 1) & (table[1] <= num_classes)).all():
        labels, present = _by_image(table[0], table[1], image_ids)
        if present.all():
            return labels[:, 0] - 1
    rows = read_table(path, 2, (int, int), names=("image_id", "class_id"))
    by_id = {}
    for line, (image_id, class_id) in ((n, f[:2]) for n, f in rows):
        if not 1 <= class_id <= num_classes:
            raise DatasetError(path, f"class id {class_id} is not in 1..{num_classes}", line=line, column="class_id")
        by_id[image_id] = class_id - 1
    missing = [i for i in image_ids if i not in by_id]
    if missing:
        raise DatasetError(path, f"{len(missing)} images have no label (first: image id {missing[0]})")
    return np.array([by_id[i] for i in image_ids], np.int64)


def _read_class_attributes(root: Path, num_classes: int) -> np.ndarray:
    path = root / "attributes" / "class_attribute_labels_continuous.txt"
    rows = read_table(path, 1, ())
    if len(rows) != num_classes:
        raise DatasetError(path, f"expected {num_classes} rows (one per class), found {len(rows)}")
    width = len(rows[0][1])
    values = np.empty((num_classes, width), np.float32)
    for k, (line, fields) in enumerate(rows):
        if len(fields) != width:
            raise DatasetError(path, f"expected {width} values, found {len(fields)}", line=line)
        try:
            row = np.array(fields, dtype=np.float64)
            if np.isfinite(row).all() and np.abs(row).max(initial=0) > FLOAT32_MAX:
                col = int(np.argmax(np.abs(row)))
                raise DatasetError(
                    path,
                    f"value {fields[col]!r} is too large (beyond ±3.4e38, the float32 range)",
                    line=line,
                    column=str(col + 1),
                )
            values[k] = row
        except ValueError:
            bad = next(i for i, f in enumerate(fields) if not _is_float(f))
            raise DatasetError(path, f"not a number: {fields[bad]!r}", line=line, column=str(bad + 1)) from None
        if not np.isfinite(values[k]).all():
            raise DatasetError(path, "NaN or infinite value", line=line)
    return values


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _read_attribute_names(root: Path, explicit, count: int, notes: list) -> tuple[Attribute, ...]:
    """``attributes.txt`` from wherever the archive put it (it sits beside CUB_200_2011/ officially)."""
    candidates = [Path(explicit)] if explicit else []
    candidates += [
        root / "attributes.txt",
        root / "attributes" / "attributes.txt",
        root.parent / "attributes.txt",
        root.parent / "attributes" / "CUB" / "attributes.txt",
    ]
    bundled = resources_dir() / "vocabularies" / "CUB_attributes.txt"
    for path in candidates + [bundled]:
        if path.is_file():
            rows = read_table(path, 2, (int, str), maxsplit=1, names=("attribute_id", "name"))
            if len(rows) != count:
                if path in candidates[:1]:
                    raise DatasetError(path, f"lists {len(rows)} attributes, but the class matrix has {count} columns")
                continue
            if path == bundled:
                notes.append("attributes.txt not found beside the dataset; used the bundled CUB attribute names")
            return tuple(Attribute.from_name(f[1].strip()) for _, f in rows)
    raise DatasetError(root / "attributes.txt", f"attribute names not found (looked in {len(candidates)} places)")


def _read_image_attributes(root: Path, image_ids: np.ndarray, num_attributes: int):
    """Per-image 0/1 labels from ``image_attribute_labels.txt``; tolerates its odd lines with extra fields."""
    path = root / "attributes" / "image_attribute_labels.txt"
    if not path.is_file():
        return None
    contents = read_text(path)  # the file gate
    fast = _image_attributes_fast(contents, image_ids, num_attributes)
    if fast is not None:
        return fast
    row_of = {int(i): r for r, i in enumerate(image_ids)}
    out = np.zeros((len(image_ids), num_attributes), np.float32)
    for line, text in enumerate(contents.splitlines(), start=1):
        fields = text.split()
        if not fields:
            continue
        if len(fields) < 3:
            raise DatasetError(path, f"expected at least 3 fields, found {len(fields)}", line=line)
        try:
            image_id, attribute_id, present = int(fields[0]), int(fields[1]), int(fields[2])
        except ValueError:
            raise DatasetError(path, f"expected integers, found {text.strip()[:60]!r}", line=line) from None
        if not 1 <= attribute_id <= num_attributes:
            raise DatasetError(path, f"attribute id {attribute_id} is not in 1..{num_attributes}", line=line)
        r = row_of.get(image_id)
        if r is not None:
            out[r, attribute_id - 1] = float(present)
    return out


def _image_attributes_fast(text: str, image_ids: np.ndarray, num_attributes: int):
    """``_read_image_attributes`` by numpy's parser (a tenth of the time: it is on the way to the first
    predictions); None when the file has a problem, so that the line-by-line reader names the line."""
    try:
        table = np.loadtxt(io.StringIO(text), usecols=(0, 1, 2), dtype=np.int64, ndmin=2)
    except ValueError:
        return None
    image, attribute, present = table[:, 0], table[:, 1], table[:, 2]
    if len(table) and not (attribute.min() >= 1 and attribute.max() <= num_attributes):
        return None
    ids = np.asarray(image_ids, np.int64)
    order = np.argsort(ids, kind="stable")
    at = np.minimum(np.searchsorted(ids[order], image), max(len(ids) - 1, 0))
    known = ids[order][at] == image if len(ids) else np.zeros(len(image), bool)
    out = np.zeros((len(ids), num_attributes), np.float32)
    out[order[at[known]], attribute[known] - 1] = present[known]
    return out


def _read_parts(root: Path, image_ids: np.ndarray):
    names_path, locs_path = root / "parts" / "parts.txt", root / "parts" / "part_locs.txt"
    if not (names_path.is_file() and locs_path.is_file()):
        return None
    names = tuple(f[1].strip() for _, f in read_table(names_path, 2, (int, str), maxsplit=1))
    try:
        table = np.loadtxt(io.StringIO(read_text(locs_path)), ndmin=2)  # read_text: the file gate
        if table.shape[1] < 5:
            raise ValueError
    except ValueError:  # slow path, for the message with a line number
        table = np.array([f[:5] for _, f in read_table(locs_path, 5, (int, int, float, float, int))], np.float64)
    known = np.isin(table[:, 0], image_ids)
    if not known.all():  # -1 would index the last image; a huge id would allocate a huge lookup table
        lines = [line for line, f in read_table(locs_path, 5, (float,))]
        bad = int(np.flatnonzero(~known)[0])
        raise DatasetError(locs_path, f"image id {table[bad, 0]:g} is not in images.txt", line=lines[bad], column="1")
    out = np.zeros((len(image_ids), len(names), 3), np.float32)
    part = table[:, 1].astype(np.int64) - 1
    if part.min() < 0 or part.max() >= len(names):
        raise DatasetError(locs_path, f"part ids must be in 1..{len(names)}")
    ids = np.asarray(image_ids, np.int64)  # unique (``_read_images``), and every line's id is among them
    order = np.argsort(ids, kind="stable")
    rows = order[np.searchsorted(ids[order], table[:, 0])]
    out[rows, part] = table[:, 2:5]
    return names, out


def _read_boxes(path: Path, image_ids: np.ndarray):
    if not path.is_file():
        return None
    table = _numeric_table(read_text(path), (np.int64,) + (np.float64,) * 4)  # read_text: the file gate
    if table is not None:
        return _by_image(table[0], table[1], image_ids)[0].astype(np.float32)
    rows = read_table(path, 5, (int, float, float, float, float))
    by_id = {f[0]: f[1:5] for _, f in rows}
    return np.array([by_id.get(int(i), [0, 0, 0, 0]) for i in image_ids], np.float32)


def _numeric_table(text: str, types: tuple):
    """The first ``len(types)`` columns of a whitespace-separated table by numpy's parser: (the first
    column, int64 [M]; the others [M, len(types) - 1]), or None when numpy cannot read it exactly as
    ``read_table`` would (then the line-by-line reader runs, and its error names the line).

    Why: CUB's ``image_class_labels.txt`` and ``bounding_boxes.txt`` are on the way to the first
    predictions, and reading them value by value took ~0.1 s for 3,000 images.
    """
    if not text.strip():
        return None
    columns = [(f"c{i}", kind) for i, kind in enumerate(types)]
    try:
        table = np.loadtxt(io.StringIO(text), dtype=columns, usecols=range(len(types)), comments=None, ndmin=1)
    except ValueError:
        return None
    values = np.stack([table[f"c{i}"] for i in range(1, len(types))], axis=1)
    if values.dtype.kind == "f" and not (np.isfinite(values).all() and (np.abs(values) <= FLOAT32_MAX).all()):
        return None  # read_table refuses these, naming the line
    return table["c0"].astype(np.int64), values


def _by_image(ids: np.ndarray, values: np.ndarray, image_ids: np.ndarray):
    """``values`` (one row per line) in ``image_ids``' order, the last line of an id winning, as a dict
    built line by line would; absent ids are zeros. Returns (rows, present)."""
    image_ids = np.asarray(image_ids, np.int64)
    out = np.zeros((len(image_ids), values.shape[1]), values.dtype)
    present = np.zeros(len(image_ids), bool)
    if not len(image_ids) or not len(ids):
        return out, present
    last = len(ids) - 1 - np.unique(ids[::-1], return_index=True)[1]  # each id's last line
    order = np.argsort(image_ids, kind="stable")
    at = np.minimum(np.searchsorted(image_ids[order], ids[last]), len(image_ids) - 1)
    known = image_ids[order][at] == ids[last]
    out[order[at[known]]] = values[last[known]]
    present[order[at[known]]] = True
    return out, present


# -- the ZSL split ----------------------------------------------------------------------
def _zsl_split(root, split_file, rel_paths, labels, class_names, seed, notes):
    split_path = Path(split_file) if split_file else None
    if split_path is not None and split_path.is_dir():
        return (*_split_from_class_lists(split_path, labels, class_names, seed, notes), split_path / "testclasses.txt")
    if split_path is None:
        if (root / "trainvalclasses.txt").is_file() and (root / "testclasses.txt").is_file():
            return (*_split_from_class_lists(root, labels, class_names, seed, notes), root / "testclasses.txt")
        split_path = find_split_file(root, "CUB")
    if split_path is None:
        rng = np.random.default_rng(seed)
        unseen = np.sort(rng.choice(len(class_names), size=max(1, len(class_names) // 4), replace=False))
        notes.append(
            "no xlsa17 att_splits.mat or class lists found: unseen classes are a seeded random 25%, "
            "NOT the standard proposed split; pass --split-file for it"
        )
        splits = split_from_classes(labels, unseen, seed)
        return splits, np.setdiff1d(np.arange(len(class_names)), unseen), unseen, None
    return (*_split_from_att_splits(split_path, rel_paths, labels, class_names, notes), Path(split_path))


def _split_from_att_splits(path, rel_paths, labels, class_names, notes):
    att = load_att_splits(path)
    if att.num_samples > len(rel_paths):
        raise DatasetError(
            path,
            f"indexes {att.num_samples} images but images.txt lists {len(rel_paths)}; "
            f"is it the split of another dataset?",
        )
    if att.class_names_given:
        ours = {n.split(".", 1)[-1].lower() for n in class_names}
        theirs = {n.split(".", 1)[-1].lower() for n in att.class_names}
        if ours != theirs:
            raise DatasetError(path, "its class names (allclasses_names) do not match classes.txt")
    # xlsa17 position p is the p-th image in sorted relative-path order.
    order = np.argsort(np.array(rel_paths, dtype=object), kind="stable")
    splits = {k: np.sort(order[v]) for k, v in att.splits().items()}
    splits, seen, unseen, more = dataset_splits(dataclasses.replace(att, **splits), labels)
    notes.append(f"ZSL split: xlsa17 proposed split from {path}")
    notes.extend(more)
    return splits, seen, unseen


def _split_from_class_lists(folder, labels, class_names, seed, notes):
    folder = Path(folder)
    lookup = {n: i for i, n in enumerate(class_names)}
    lookup.update({n.split(".", 1)[-1]: i for i, n in enumerate(class_names)})
    path = folder / "testclasses.txt"
    unseen = []
    for line, fields in read_table(path, 1, (str,)):
        if fields[0] not in lookup:
            raise DatasetError(path, f"unknown class {fields[0]!r}", line=line)
        unseen.append(lookup[fields[0]])
    unseen = np.array(sorted(set(unseen)), np.int64)
    seen_path = folder / "trainvalclasses.txt"
    if seen_path.is_file():  # a class in both lists would be trained on and tested as unseen
        for line, fields in read_table(seen_path, 1, (str,)):
            if lookup.get(fields[0], -1) in set(unseen.tolist()):
                raise DatasetError(seen_path, f"class {fields[0]!r} is also in testclasses.txt (unseen)", line=line)
    splits = split_from_classes(labels, unseen, seed)
    notes.append(f"ZSL split: unseen classes from {path}; seen images split 80/20 (seed {seed})")
    return splits, np.setdiff1d(np.arange(len(class_names)), unseen), unseen
