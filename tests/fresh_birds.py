"""The built-in birds with only their test images drawn: the set the shipped-model tests check (conftest).

Why not every bird: the shipped-model checks read the test images alone, and ``Dataset.fingerprint`` (which a
checkpoint must match) hashes the classes, attribute names, file names, labels and split, never a pixel, box or
part. Drawing every bird and installing the set took 43 CPU-seconds, the test images alone 15-16 (busy 2-core
machine, one process per core): the 1,920 training birds were drawn for no assertion. Each training image keeps its place in the CUB tables (so the dataset is the full one, with the full
fingerprint): its attribute values are the generator's (they need no drawing), its box is the whole picture and
its parts are marked not visible, and its file is empty, so a check that ever reads one fails loudly.
"""

from pathlib import Path

import numpy as np

from zsl_desktop.engine.data.bird_attributes import PART_NAMES
from zsl_desktop.engine.data.builtin_birds import config, image_values, write_tables
from zsl_desktop.engine.data.builtin_chunks import BirdDrawing
from zsl_desktop.engine.data.cub import load_cub
from zsl_desktop.engine.data.model import Dataset

NAME = "builtin"  # the built-in birds' dataset name: the shipped checkpoints were made on it


def draw_test_images(out_dir: Path) -> Dataset:
    """The default built-in birds in ``out_dir``'s partial folder, their test split drawn (first-launch code)."""
    with BirdDrawing(out_dir) as drawing:
        undrawn = {p.image_id: _undrawn_record(drawing, p) for p in drawing.plan}
        write_tables(drawing.folder, drawing.small, drawing.seed, drawing.table, list(undrawn.values()))
        for image in drawing.plan:  # empty files: the loader lists only the images it finds
            path = drawing.folder / "images" / image.rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        planned = load_cub(drawing.folder, name=NAME)  # the split is the loader's: seeded, from the labels
        test_rows = np.concatenate([planned.splits["test_seen"], planned.splits["test_unseen"]])
        by_file = {p.rel: p for p in drawing.plan}
        test_images = [by_file[planned.image_paths[int(row)]] for row in test_rows]
        for _ in drawing.draw(test_images):  # each drawn image replaces its empty file
            pass
        records = {**undrawn, **drawing.records}
        write_tables(drawing.folder, drawing.small, drawing.seed, drawing.table, list(records.values()))
    dataset = load_cub(drawing.folder, name=NAME)
    assert dataset.fingerprint == planned.fingerprint  # drawing changes no file name, label or split
    return dataset


def _undrawn_record(drawing: BirdDrawing, image) -> dict:
    """What the tables need of a bird that is not drawn: its values, the whole picture as box, no part seen."""
    size = config(drawing.small).size
    return {
        "id": image.image_id,
        "values": image_values(drawing.table.species[image.c].values, drawing.seed, image.c, image.j),
        "bbox": [0.0, 0.0, float(size), float(size)],
        "parts": [[0.0, 0.0, False] for _ in PART_NAMES],
    }
