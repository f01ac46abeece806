"""The built-in dataset: procedural birds, written in the exact CUB-200-2011 layout.

The app must open with something real to show, offline, in seconds, so it draws
its own birds (see ``bird_drawing``) whose look is fully controlled by CUB-style
attributes, and writes them as CUB-200-2011 files so that one loader serves both.
The species (distinct attribute combinations, the unseen ones composable from the
seen ones) are ``bird_species``'; this module draws their images and writes the files.

Everything derives from ``seed``: the same seed gives byte-identical files.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .bird_attributes import GROUPS, PART_NAMES
from .bird_drawing import render_bird
from .bird_species import SMALL, BirdConfig, SpeciesTable, config, species_table
from zsl_desktop.engine.errors import JobCancelled

GENERATOR_VERSION = 1
DEVIATION_PROBABILITY = 0.05  # per image and attribute group: drawn value differs from the species'
OCCLUDER_PROBABILITY = 0.1
_MARKER = ".complete"


ATTRIBUTE_NAMES = tuple(f"has_{group}::{value}" for group, values in GROUPS.items() for value in values)


class GenerationCancelled(JobCancelled):
    """Raised by ``generate`` when its cancel flag was set; nothing is left behind."""


# -- writing -------------------------------------------------------------------------------
def _image_values(rng, species_values: dict) -> dict:
    """The species' values with each group occasionally swapped for another value (instance variation)."""
    out = {}
    for group, values in GROUPS.items():
        value = species_values[group]
        if rng.random() < DEVIATION_PROBABILITY:
            others = [v for v in values if v != value]
            value = others[int(rng.integers(len(others)))]
        out[group] = value
    return out


def _fmt(v: float) -> str:
    """Floats as CUB writes them: 60.0, 2.9197080292."""
    s = f"{v:.10g}"
    return s if ("." in s or "e" in s) else s + ".0"


def _write_text(path: Path, lines) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.writelines(line + "\n" for line in lines)


def _readme(cfg: BirdConfig, seed: int, table: SpeciesTable) -> list[str]:
    return [
        "ZSL Desktop built-in dataset: procedural birds",
        "=============================================",
        "",
        f"Generator version {GENERATOR_VERSION}, seed {seed}, {'small' if cfg is SMALL else 'default'} configuration.",
        f"{cfg.classes} species ({cfg.classes - cfg.unseen} seen, {cfg.unseen} unseen), {cfg.per_class} images each,",
        f"{cfg.size}x{cfg.size} px JPEG, {len(ATTRIBUTE_NAMES)} attributes in {len(GROUPS)} groups.",
        "",
        "Cartoon birds drawn with Pillow from CUB-style attributes, written in the CUB-200-2011",
        "layout (images.txt, classes.txt, image_class_labels.txt, train_test_split.txt,",
        "bounding_boxes.txt, parts/, attributes/, attributes.txt). Per-image attribute labels",
        "record what was actually drawn: each attribute group deviates from the species' value",
        f"with probability {DEVIATION_PROBABILITY}. class_attribute_labels_continuous.txt holds the",
        "per-class percentage of images showing each attribute, as in CUB. All certainties are 4",
        "(definitely) and all times 0. Part locations are exact (the drawing's own geometry),",
        "with the far eye and wing invisible in profile and occluded parts invisible.",
        "",
        "Zero-shot split (xlsa17 style): trainvalclasses.txt (seen) and testclasses.txt (unseen).",
        "Every attribute value of an unseen species appears in at least two seen species.",
        "",
        "Unseen species: " + ", ".join(table.species[i].name for i in table.unseen),
    ]


def generate(out_dir, small: bool = False, seed: int = 0, progress=None, cancel=None) -> Path:
    """Writes the dataset into out_dir (created) and returns it.

    progress(done, total) is called per image; cancel (anything with ``is_set()``)
    is checked per image and raises ``GenerationCancelled``. Work happens in a
    temporary sibling folder that is renamed into place at the end, so a cancelled
    or crashed run never leaves a half-written dataset at out_dir.
    """
    out_dir = Path(out_dir)
    table = species_table(small=small, seed=seed)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        plan = image_plan(small, seed, table)
        records = []
        for image in plan:
            if cancel is not None and cancel.is_set():
                raise GenerationCancelled("generation of the built-in birds was cancelled")
            records.append(draw_image(tmp, small, seed, table, image))
            if progress is not None:
                progress(image.image_id, len(plan))
        write_tables(tmp, small, seed, table, records)
        install(tmp, out_dir, small, seed)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def install(drawn: Path, out_dir: Path, small: bool, seed: int) -> None:
    """Mark the finished folder ``drawn`` complete and rename it to ``out_dir`` (one rename: never half there)."""
    _write_text(
        drawn / _MARKER, [f"generator_version {GENERATOR_VERSION}", f"seed {seed}", f"small {int(bool(small))}"]
    )
    old = None
    if out_dir.exists():
        old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
        os.replace(out_dir, old)
    os.replace(drawn, out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@dataclass(frozen=True)
class PlannedImage:
    """One image of a configuration, known before it is drawn: its id, class, index and file name."""

    image_id: int  # CUB's 1-based id (class-major order)
    c: int  # 0-based class
    j: int  # index within the class
    rel: str  # path under images/
    train: bool  # trainval (seen classes) / test half of the class


def image_plan(small: bool = False, seed: int = 0, table: SpeciesTable | None = None) -> list[PlannedImage]:
    """Every image of a configuration in id order (cheap: nothing is drawn)."""
    cfg = config(small)
    table = table or species_table(small=small, seed=seed)
    plan: list[PlannedImage] = []
    for c, species in enumerate(table.species):
        train = np.random.default_rng([seed, c, 0x7A1]).permutation(cfg.per_class) < (cfg.per_class + 1) // 2
        for j in range(cfg.per_class):
            rel = f"{species.folder}/{species.name}_{j + 1:04d}.jpg"
            plan.append(PlannedImage(len(plan) + 1, c, j, rel, bool(train[j])))
    return plan


def image_values(species_values: dict, seed: int, c: int, j: int) -> dict:
    """The attribute values image ``j`` of class ``c`` shows (the species' with rare deviations), without drawing."""
    return _image_values(np.random.default_rng([seed, c, j]), species_values)


def draw_image(root: Path, small: bool, seed: int, table: SpeciesTable, image: PlannedImage) -> dict:
    """Draw one image into ``root``/images (written atomically) and return what the tables need of it.

    The record (values, box, parts) is plain JSON data, so a resumed drawing can read it back.
    """
    cfg = config(small)
    rng = np.random.default_rng([seed, image.c, image.j])
    values = _image_values(rng, table.species[image.c].values)
    bird = render_bird(values, rng, size=cfg.size, occluder_probability=OCCLUDER_PROBABILITY)
    buf = io.BytesIO()
    bird.image.save(buf, "JPEG", quality=90, subsampling=0, optimize=False)
    path = root / "images" / image.rel
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, path)  # a killed drawing never leaves half an image under the right name
    return {
        "id": image.image_id,
        "values": values,
        "bbox": [float(v) for v in bird.bbox],
        "parts": [[float(x), float(y), bool(visible)] for x, y, visible in bird.parts],
    }


def write_tables(root: Path, small: bool, seed: int, table: SpeciesTable, records) -> None:
    """The CUB text files for the drawn images ``records`` (any subset, written in id order).

    The class attributes are always those of the whole configuration (from every image's
    values, which need no drawing), so a subset shows the species as the full set does.
    """
    cfg = config(small)
    plan = image_plan(small, seed, table)
    records = sorted(records, key=lambda r: r["id"])
    images, labels, split, boxes, part_locs, image_attrs = [], [], [], [], [], []
    index = {name: i for i, name in enumerate(ATTRIBUTE_NAMES)}
    for record in records:
        image_id = record["id"]
        image = plan[image_id - 1]
        images.append(f"{image_id} {image.rel}")
        labels.append(f"{image_id} {image.c + 1}")
        split.append(f"{image_id} {int(image.train)}")
        boxes.append(f"{image_id} " + " ".join(f"{v:.1f}" for v in record["bbox"]))
        for p, (x, y, visible) in enumerate(record["parts"]):
            part_locs.append(f"{image_id} {p + 1} {x:.1f} {y:.1f} {int(visible)}")
        present = {index[f"has_{g}::{v}"] for g, v in record["values"].items()}
        for a in range(len(ATTRIBUTE_NAMES)):
            image_attrs.append(f"{image_id} {a + 1} {int(a in present)} 4 0")
    counts = np.zeros((cfg.classes, len(ATTRIBUTE_NAMES)), dtype=np.int64)
    for image in plan:
        values = image_values(table.species[image.c].values, seed, image.c, image.j)
        counts[image.c, [index[f"has_{g}::{v}"] for g, v in values.items()]] += 1

    _write_text(root / "images.txt", images)
    _write_text(root / "classes.txt", [f"{i + 1} {s.folder}" for i, s in enumerate(table.species)])
    _write_text(root / "image_class_labels.txt", labels)
    _write_text(root / "train_test_split.txt", split)
    _write_text(root / "bounding_boxes.txt", boxes)
    _write_text(root / "parts" / "parts.txt", [f"{i + 1} {n}" for i, n in enumerate(PART_NAMES)])
    _write_text(root / "parts" / "part_locs.txt", part_locs)
    _write_text(root / "attributes.txt", [f"{i + 1} {n}" for i, n in enumerate(ATTRIBUTE_NAMES)])
    _write_text(root / "attributes" / "image_attribute_labels.txt", image_attrs)
    _write_text(root / "attributes" / "certainties.txt", ["1 not visible", "2 guessing", "3 probably", "4 definitely"])
    percent = counts * 100.0 / cfg.per_class
    _write_text(
        root / "attributes" / "class_attribute_labels_continuous.txt",
        [" ".join(_fmt(v) for v in row) for row in percent],
    )
    _write_text(root / "trainvalclasses.txt", [table.species[i].folder for i in table.seen])
    _write_text(root / "testclasses.txt", [table.species[i].folder for i in table.unseen])
    _write_text(root / "README", _readme(cfg, seed, table))


def is_generated(out_dir, small: bool | None = None, seed: int | None = None) -> bool:
    """True when out_dir holds a complete dataset from this generator version (and, if given, small/seed)."""
    marker = Path(out_dir) / _MARKER
    with contextlib.suppress(OSError, ValueError, KeyError):
        fields = dict(line.split(" ", 1) for line in marker.read_text(encoding="utf-8").splitlines() if line)
        if int(fields["generator_version"]) != GENERATOR_VERSION:
            return False
        if seed is not None and int(fields["seed"]) != seed:
            return False
        if small is not None and bool(int(fields["small"])) != small:
            return False
        return True
    return False
