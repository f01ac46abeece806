"""CUB's 200 species and 312 attribute names, as shipped in ``resources/`` (no torch).

Why apart from ``real_birds``: the class editor and the controller need the species names
at start-up, and ``real_birds`` (the real-bird model) imports torch, which the app's start-up
modules must not do before the first predictions are on screen (issue #19).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CLASSES_FILE = "cub_classes.csv"


def classes_path() -> Path:
    from zsl_desktop.engine.paths import resources_dir

    return resources_dir() / CLASSES_FILE


@functools.lru_cache(maxsize=1)
def cub_attribute_names() -> tuple[str, ...]:
    """CUB's 312 attribute names, from the shipped vocabulary (``1 has_bill_shape::curved_(up_or_down)``)."""
    from zsl_desktop.engine.paths import resources_dir

    lines = (resources_dir() / "vocabularies" / "CUB_attributes.txt").read_text().splitlines()
    return tuple(line.split(" ", 1)[1].strip() for line in lines if line.strip())


def cub_classes() -> tuple[tuple[str, ...], np.ndarray]:
    """(the 200 CUB species names, their [200, 312] attribute percentages) from ``resources/``."""
    from zsl_desktop.engine.class_csv import read_classes_csv

    classes = read_classes_csv(classes_path(), cub_attribute_names(), (0.0, 100.0))
    return tuple(c.name for c in classes), np.stack([c.array() for c in classes])


def species_for_attributes(attribute_names) -> tuple[tuple[str, ...], np.ndarray]:
    """The 200 CUB species when ``attribute_names`` are CUB's 312 (in order), else nothing.

    What "Start from" offers beside the open dataset's classes: a class drawn on CUB's attributes
    can start from any species, not only from the dataset's 50.
    """
    from zsl_desktop.engine.classes import LibraryError

    try:
        if tuple(attribute_names) != cub_attribute_names() or not classes_path().is_file():
            return (), np.zeros((0, len(attribute_names)), np.float32)
        return cub_classes()
    except (OSError, ValueError, LibraryError):  # a damaged install: the dataset's own classes still work
        return (), np.zeros((0, len(attribute_names)), np.float32)


@dataclass(frozen=True)
class SpeciesOffer:
    """The CUB species "Start from" offers for a dataset on ``attribute_names`` (none when they are not CUB's)."""

    attribute_names: tuple[str, ...]
    names: tuple[str, ...]
    matrix: np.ndarray  # [len(names), len(attribute_names)] attribute percentages


def species_offer(attribute_names) -> SpeciesOffer:
    """``species_for_attributes`` with the names it answers: read on a worker (the 200 species' CSV takes
    0.2-0.5 s of CPU, a frozen window when the class editor read it on the GUI thread; opening14), the reply
    is kept only by an editor still showing those attributes."""
    names, matrix = species_for_attributes(attribute_names)
    return SpeciesOffer(tuple(attribute_names), names, matrix)
