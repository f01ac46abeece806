"""What a user class is: a name and one value per attribute, and the rules every class follows.

Why apart from the library (``classes.py``): the class editor, the CSV and JSON importers and the library
file all build and check classes by these rules; the library adds where they are kept and how two apps
share that file.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

import numpy as np

from zsl_desktop.engine.errors import ZslError
from zsl_desktop.engine.userfiles import shown_path

MAX_NAME = 80
LIBRARY_MAX_VALUE = 100.0  # attribute scales are 0-1 or 0-100 (value_range): nothing saved lies outside 0-100


class LibraryError(ZslError):
    """A library or export file cannot be used; the message names the file and the problem."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{shown_path(path)}: {problem}")


def attribute_identity(attribute_names) -> str:
    """Identity of an attribute list: the same names in the same order give the same id."""
    h = hashlib.sha256("\n".join(str(n) for n in attribute_names).encode("utf-8"))
    return h.hexdigest()[:16]


def value_range(class_attributes: np.ndarray) -> tuple[float, float]:
    """The slider scale of a dataset: 0-100 for CUB/AwA2-style percentages, else 0-1."""
    a = np.asarray(class_attributes, dtype=np.float64)
    finite = a[np.isfinite(a)]
    hi = float(finite.max()) if finite.size else 1.0
    return (0.0, 100.0) if hi > 1.0 + 1e-6 else (0.0, 1.0)


def has_attribute_information(values) -> bool:
    """False for a class row every method sees as no class at all: every value the same once negatives (AwA2's
    -1 = unknown) count as 0, e.g. a new class still at all zeros, or every attribute at 50 or at 100.

    Why: every method clips negatives and scales each class row to unit length before comparing it with an
    image (``Method.prepare_class_attributes``), so a constant row says nothing about which attributes the class
    has: all zeros have no direction at all, any other constant is one fixed direction that no dataset class
    takes. Such a row is left out of the scores (``session.class_set``) instead of getting a made-up column.
    """
    row = np.clip(np.nan_to_num(np.asarray(values, np.float64), nan=0.0), 0.0, None).ravel()
    return bool(row.size) and bool(row.max() > row.min()) and bool(np.linalg.norm(row) >= 1e-8)


def timestamp() -> str:
    """Now, as a class's created / modified time is written."""
    return time.strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class UserClass:
    """One class the user drew: a name and one value per attribute (dataset scale)."""

    name: str
    values: tuple[float, ...]
    created: str = field(default_factory=timestamp)
    modified: str = field(default_factory=timestamp)
    note: str = ""

    @staticmethod
    def from_array(name: str, values, note: str = "") -> "UserClass":
        return UserClass(name=name, values=tuple(float(v) for v in np.asarray(values, np.float64).ravel()), note=note)

    def array(self) -> np.ndarray:
        return np.asarray(self.values, dtype=np.float32)

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "values": [round(v, 6) for v in self.values],
            "created": self.created,
            "modified": self.modified,
            "note": self.note,
        }


def check_name(name: str, taken=()) -> str:
    """A cleaned class name, or ValueError saying why it cannot be used."""
    clean = " ".join(str(name).split())
    if not clean:
        raise ValueError("a class needs a name")
    if len(clean) > MAX_NAME:
        raise ValueError(f"a class name has at most {MAX_NAME} characters")
    lowered = {t.casefold() for t in taken}
    if clean.casefold() in lowered:
        raise ValueError(f"there is already a class called {clean!r}")
    return clean


def unique_name(name: str, taken) -> str:
    """``name``, or ``name (2)``, ``name (3)``... whichever is free."""
    lowered = {t.casefold() for t in taken}
    if name.casefold() not in lowered:
        return name
    i = 2
    while f"{name} ({i})".casefold() in lowered:
        i += 1
    return f"{name} ({i})"
