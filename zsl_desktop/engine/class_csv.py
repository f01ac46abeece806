"""Class definitions as CSV: one row per class, one column per attribute, for editing in a spreadsheet.

Why beside the JSON export: experts keep attribute tables in spreadsheets. The
layout is ``class,<attribute>,<attribute>,...`` with the attribute columns named
exactly as in the dataset (CUB: ``has_bill_shape::curved_(up_or_down)``), in any
order; an optional ``note`` column is kept. Reading goes through the engine's
CSV gate (``data.textfiles.read_csv``, which reads with ``userfiles.read_bytes``:
no pipes or devices, bounded size), and every problem is a ``LibraryError``
that names the file, the line and the column, so the user can fix the cell.
Text cells are written through ``spreadsheet_cells.guard`` (a class named ``=cmd`` opens as text, not as a
formula) and read back through ``unguard``, so a name survives the round trip exactly.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from zsl_desktop.engine.atomic import atomic_write_text
from zsl_desktop.engine.classes import LibraryError, UserClass, check_name
from zsl_desktop.engine.data.model import DatasetError
from zsl_desktop.engine.spreadsheet_cells import guard, unguard

NAME_COLUMN = "class"
NOTE_COLUMN = "note"


def write_classes_csv(path, classes, attribute_names) -> Path:
    """Write ``classes`` (UserClass) as CSV, atomically: header ``class,<attribute names>,note``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([NAME_COLUMN, *(guard(name) for name in attribute_names), NOTE_COLUMN])
    for c in classes:
        writer.writerow([guard(c.name), *(f"{v:.6g}" for v in c.values), guard(c.note)])
    atomic_write_text(Path(path), buffer.getvalue())
    return Path(path)


def _where(line: int, column: str | None = None) -> str:
    """``line 3, column 'has_size::small'``: where a problem is, in the words a spreadsheet user looks for."""
    return f"line {line}" + (f", column {column!r}" if column else "")


def _column_order(path: Path, header: list[str], attribute_names) -> tuple[list[int], int | None]:
    """For each dataset attribute, its column in the file; and the note column (or None)."""
    wanted = list(attribute_names)
    known = set(wanted)
    position: dict[str, int] = {}
    note = None
    for i, name in enumerate(header[1:], 1):
        if name.lower() == NOTE_COLUMN and NOTE_COLUMN not in known:
            note = i
            continue
        if name not in known:
            raise LibraryError(
                path,
                f"{_where(1, name)}: unknown attribute {name!r} "
                f"(the current dataset has {len(wanted)} attributes, e.g. {wanted[0]!r})",
            )
        if name in position:
            raise LibraryError(path, f"{_where(1, name)}: the attribute column {name!r} appears twice")
        position[name] = i
    missing = [n for n in wanted if n not in position]
    if missing:
        raise LibraryError(
            path,
            f"line 1: {len(missing)} of the dataset's attributes have no column "
            f"(e.g. {missing[0]!r}); every attribute needs one",
        )
    return [position[n] for n in wanted], note


def read_classes_csv(path, attribute_names, scale=None) -> list[UserClass]:
    """Validated classes of a class CSV file, in the dataset's attribute order.

    ``scale`` (lo, hi): values outside it are refused. Raises LibraryError naming
    the file, the line and the column; nothing is returned partly.
    """
    from zsl_desktop.engine.data.textfiles import read_csv

    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise LibraryError(path, "no such file")
    try:
        header, rows = read_csv(path, required_header=(NAME_COLUMN,))
    except DatasetError as exc:  # the gate's and the parser's words, with the line and column
        where = _where(exc.line, exc.column) + ": " if exc.line is not None else ""
        raise LibraryError(path, where + exc.problem) from None
    header = [unguard(name) for name in header]
    order, note_column = _column_order(path, header, attribute_names)
    lo, hi = scale if scale is not None else (-math.inf, math.inf)
    out: list[UserClass] = []
    taken: list[str] = []
    for line, fields in rows:
        if len(fields) != len(header):
            raise LibraryError(path, f"{_where(line)}: {len(fields)} fields, the header has {len(header)}")
        try:
            name = check_name(unguard(fields[0]), taken)
        except ValueError as exc:
            raise LibraryError(path, f"{_where(line, NAME_COLUMN)}: {exc}") from None
        values = np.empty(len(order), np.float64)
        for k, column in enumerate(order):
            values[k] = _cell_value(path, fields[column], _where(line, header[column]), lo, hi)
        note = unguard(fields[note_column]) if note_column is not None else ""
        taken.append(name)
        out.append(UserClass.from_array(name, values, note=note))
    _check_not_fractions(path, out, rows, order, (lo, hi))
    return out


def _check_not_fractions(path: Path, classes: list[UserClass], rows, order, scale) -> None:
    """Refuse a file of 0-1 values (fractions, or 0/1 for absent/present) for a dataset whose values run 0-100.

    Every value would read as at most 1%: classes that look empty, imported without a word. An all-zero
    file and one written with ``%`` cells are left alone.
    """
    if tuple(scale) != (0.0, 100.0) or not classes:
        return
    values = np.stack([c.array() for c in classes])
    percent = any(fields[column].endswith("%") for _, fields in rows for column in order)
    if values.max() <= 1.0 and values.max() > 0 and not percent:
        raise LibraryError(
            path,
            "every value is between 0 and 1, but this dataset's attributes run 0-100 (a percentage of the "
            "images showing each): multiply the values by 100, or write them as percentages (35%)",
        )


def _cell_value(path: Path, text: str, where: str, lo: float, hi: float) -> float:
    """One attribute cell as a number in the dataset's scale, or a LibraryError saying what is wrong.

    A spreadsheet's percentage cell (``35%``) is 0.35 of the full scale: 35 on a 0-100 scale, 0.35 on 0-1.
    A value outside the scale is refused; one that fits 0-100 on a 0-1 scale is named as a percentage.
    """
    percent = text.endswith("%")
    try:
        value = float(text[:-1] if percent else text)
    except ValueError:
        shown = repr(text) if text else "an empty cell"
        raise LibraryError(path, f"{where}: expected a number, got {shown}") from None
    if not math.isfinite(value):
        raise LibraryError(path, f"{where}: {text!r} is not a finite number")
    if percent:
        if lo != 0 or hi not in (1.0, 100.0):
            raise LibraryError(path, f"{where}: {text!r} is a percentage, but this dataset's scale is {lo:g}-{hi:g}")
        value = value / 100.0 * hi
    if not lo - 1e-6 <= value <= hi + 1e-6:
        hint = ""
        if (lo, hi) == (0.0, 1.0) and 1 < value <= 100:
            hint = " (percentages? this dataset's values run 0-1: divide by 100, or write 35% for 0.35)"
        raise LibraryError(path, f"{where}: {value:g} is outside the scale {lo:g}-{hi:g}{hint}")
    return value
