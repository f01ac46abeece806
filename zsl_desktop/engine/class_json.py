"""JSON class files read back, through the engine's gate and validated: an export, or a whole class library.

Why apart from ``classes``: ``classes.ClassLibrary`` keeps the user's classes and writes them; reading a file
someone else may have written (another app, a hand edit, a hostile file) is the other job, with its own rules:
every problem is a ``LibraryError`` naming the file and the class, and a broken class is either refused or,
in the library, left out and named. CSV class files are ``class_csv``.
"""

from __future__ import annotations

import math
from pathlib import Path

from zsl_desktop.engine.user_class import (
    LIBRARY_MAX_VALUE,
    LibraryError,
    UserClass,
    attribute_identity,
    check_name,
    timestamp,
)
from zsl_desktop.engine.userfiles import read_json

LIBRARY_FORMAT = "zsl-desktop-class-library/1"
EXPORT_FORMAT = "zsl-desktop-classes/1"


def read_export(path: Path, attribute_names, scale=None) -> list[UserClass]:
    """Validated classes of an export or library file, reordered to ``attribute_names``."""
    data = _read_json(path)
    if not isinstance(data, dict):
        raise LibraryError(path, "expected a JSON object with 'format', 'attribute_names' and 'classes'")
    fmt = data.get("format")
    if fmt == LIBRARY_FORMAT:  # a whole library: take the set with these attributes
        identity = attribute_identity(attribute_names)
        sets = data.get("sets")
        if not isinstance(sets, dict) or identity not in sets:
            raise LibraryError(path, "this class library holds no classes for the current dataset's attributes")
        data = sets[identity]
    elif fmt != EXPORT_FORMAT:
        raise LibraryError(path, f"not a ZSL Desktop class file (format {fmt!r}, expected {EXPORT_FORMAT!r})")
    names = data.get("attribute_names")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise LibraryError(path, "'attribute_names' must be a list of attribute names")
    wanted = list(attribute_names)
    if names != wanted:
        missing = sorted(set(wanted) - set(names))
        extra = sorted(set(names) - set(wanted))
        if missing or extra or len(names) != len(wanted):
            detail = []
            if missing:
                detail.append(f"{len(missing)} missing (e.g. {missing[0]!r})")
            if extra:
                detail.append(f"{len(extra)} unknown (e.g. {extra[0]!r})")
            raise LibraryError(
                path, "its attributes do not match the current dataset's: " + ", ".join(detail or ["duplicated names"])
            )
    order = [names.index(n) for n in wanted]
    classes = data.get("classes")
    if not isinstance(classes, list):
        raise LibraryError(path, "'classes' must be a list")
    lo, hi = scale if scale is not None else (-math.inf, math.inf)
    out: list[UserClass] = []
    seen: set[str] = set()
    for i, item in enumerate(classes, 1):
        where = f"class {i}"
        if not isinstance(item, dict):
            raise LibraryError(path, f"{where}: expected an object with 'name' and 'values'")
        try:
            name = check_name(item.get("name", ""), seen)
        except ValueError as exc:
            raise LibraryError(path, f"{where}: {exc}") from None
        where = f"class {i} ({name!r})"
        values = item.get("values")
        if not isinstance(values, list) or len(values) != len(names):
            count = len(values) if isinstance(values, list) else "no"
            raise LibraryError(path, f"{where}: {count} values for {len(names)} attributes")
        bad = [
            j
            for j, v in enumerate(values)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
        ]
        if bad:
            raise LibraryError(path, f"{where}: value {bad[0] + 1} ({names[bad[0]]}) is not a finite number")
        outside = [j for j, v in enumerate(values) if not (lo - 1e-6 <= v <= hi + 1e-6)]
        if outside:
            j = outside[0]
            raise LibraryError(path, f"{where}: value {values[j]} of {names[j]} is outside the scale {lo:g}-{hi:g}")
        seen.add(name)
        out.append(
            UserClass(
                name=name,
                values=tuple(float(values[j]) for j in order),
                created=str(item.get("created") or timestamp()),
                note=str(item.get("note") or ""),
            )
        )
    return out


def _read_json(path: Path):
    """JSON through the engine's gate: no pipes or devices, bounded size and nesting, NaN refused."""
    if not Path(path).exists() and not Path(path).is_symlink():
        raise LibraryError(path, "no such file")
    return read_json(path, LibraryError)


def read_library(path: Path, problems: list[str] | None = None) -> dict:
    """The sets of a library file, {identity: {"attribute_names", "dataset", "classes": {name: UserClass}}}.
    A class that breaks the rules raises LibraryError, or, given a ``problems`` list, is left out with its
    problem appended (the file's structure must hold either way)."""
    data = _read_json(path)
    if not isinstance(data, dict) or data.get("format") != LIBRARY_FORMAT:
        raise LibraryError(path, f"not a class library (format {LIBRARY_FORMAT!r} expected)")
    sets = data.get("sets")
    if not isinstance(sets, dict):
        raise LibraryError(path, "'sets' is missing or not an object")
    out = {}
    for identity, entry in sets.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("classes"), list):
            raise LibraryError(path, f"set {identity}: malformed")
        names = entry.get("attribute_names") or []
        if not isinstance(names, list):
            raise LibraryError(path, f"set {identity}: 'attribute_names' is not a list")
        classes: dict[str, UserClass] = {}
        for i, item in enumerate(entry["classes"], 1):
            try:
                user_class = _library_class(path, f"set {identity}, class {i}", item, names, classes)
            except LibraryError as exc:
                if problems is None:
                    raise
                problems.append(exc.problem)
                continue
            classes[user_class.name] = user_class
        out[str(identity)] = {"attribute_names": names, "dataset": str(entry.get("dataset", "")), "classes": classes}
    return out


def _library_class(path: Path, where: str, item, names: list, taken) -> UserClass:
    """One class of a library file, by the rules a class saved in the editor or imported follows."""
    try:
        name = str(item["name"])
        if not isinstance(item["values"], list):
            raise TypeError
        values = tuple(float(v) for v in item["values"])
    except (KeyError, TypeError, ValueError):
        raise LibraryError(path, f"{where}: malformed") from None
    try:
        name = check_name(name, taken)
    except ValueError as exc:
        raise LibraryError(path, f"{where}: {exc}") from None
    where = where.rsplit(", class", 1)[0] + f", class {name!r}"
    if names and len(values) != len(names):
        raise LibraryError(path, f"{where}: {len(values)} values for {len(names)} attributes")
    outside = [v for v in values if not (-1e-6 <= v <= LIBRARY_MAX_VALUE + 1e-6)]
    if outside:
        raise LibraryError(
            path, f"{where}: value {outside[0]:g} is outside 0-{LIBRARY_MAX_VALUE:g}, the widest attribute scale"
        )
    return UserClass(
        name=name,
        values=values,
        created=str(item.get("created") or timestamp()),
        modified=str(item.get("modified") or timestamp()),
        note=str(item.get("note") or ""),
    )
