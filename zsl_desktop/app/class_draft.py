"""The class on the editor as data: the ``Draft`` the controller scores, the values a draft can start
from, and the words for what a refinement moved.

Why apart from the panel: none of it needs a widget, and the controller reads ``Draft`` without the panel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# A class with every attribute the same is not scored (engine.session.class_set): the editor says what to do.
NO_ATTRIBUTE_SET = (
    "Set at least one attribute to see where this class is found: with every attribute the same it matches nothing."
)
NOT_SAVED_BLANK = "Not saved: set at least one attribute first. With every attribute the same, a class matches nothing."
TWIN_START = "Same attributes as"
TWIN_COSINE = 1.0 - 1e-6  # the same direction up to float rounding: a copy, not a near class
MOVES_NAMED = 3  # a refinement's status line names at most this many attributes
MOVE_SHOWN = 0.005  # ... each moved by at least this fraction of the scale


@dataclass(frozen=True)
class Draft:
    """The class on the editor: its name, values and the saved class it replaces (None when new)."""

    name: str
    values: np.ndarray
    replaces: str | None
    active: bool  # False for an untouched new class (nothing to score yet)
    dirty: bool = False  # differs from what is saved (or not saved at all)


def start_values(kind: str, name_or_index, dataset, species, store) -> tuple[np.ndarray, str] | None:
    """The values and name of a dataset class (kind "dataset", index), a CUB species ("species", index,
    from ``species`` = (names, matrix)) or a saved class ("user", name); None for a class no longer saved."""
    if kind == "dataset":
        return dataset.class_attributes[int(name_or_index)], dataset.classes[int(name_or_index)]
    if kind == "species":  # one of the 200 CUB species (a dataset on CUB's attributes)
        names, matrix = species
        return matrix[int(name_or_index)], names[int(name_or_index)]
    c = store.get(name_or_index)
    return None if c is None else (c.array(), c.name)


def twin_class(values, dataset) -> str | None:
    """The dataset class whose attributes ``values`` repeat (the same unit row every method scores), or None.

    Why: a drawn class equal to a dataset class gets the same column, so the two split each of its photos'
    probability (users13: 4 of 20 photos named the drawn class, the rest its twin); the editor says so."""
    rows = np.clip(np.asarray(dataset.class_attributes, np.float64), 0.0, None)
    row = np.clip(np.asarray(values, np.float64), 0.0, None).ravel()
    norms = np.linalg.norm(rows, axis=1) * np.linalg.norm(row)
    if not norms.size or norms.max() <= 0:
        return None
    cosine = rows @ row / np.maximum(norms, 1e-12)
    best = int(np.argmax(cosine))
    return str(dataset.classes[best]) if cosine[best] >= TWIN_COSINE else None


def twin_words(name: str) -> str:
    return f"{TWIN_START} “{name}”: the two share its photos. Move a slider to tell them apart."


def refinement_words(change: np.ndarray, attributes, scale: tuple[float, float], label: str) -> str:
    """ "Refined from 3 images: wing color: red +12, …": the attributes a refinement moved most."""
    lo, hi = scale
    moved = [int(i) for i in np.argsort(-np.abs(change))[:MOVES_NAMED] if abs(change[i]) >= MOVE_SHOWN * (hi - lo)]
    decimals = 0 if hi > 1.5 else 2  # as the sliders' value boxes
    words = ", ".join(f"{attributes[i].label} {change[i]:+.{decimals}f}" for i in moved)
    return f"{label[0].upper()}{label[1:]}: {words or 'no attribute moved'} (Ctrl+Z undoes)."
