"""Reading the small text, CSV and MATLAB files datasets come as, with errors that say where.

Every reader here raises :class:`DatasetError` naming the file, and the line
(and column) when there is one, so a user can open the file and fix it.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..userfiles import PDF_MAGIC, ZIP_MAGIC, check_file, read_bytes
from .model import DatasetError

FLOAT32_MAX = float(np.finfo(np.float32).max)  # values are stored as float32: larger ones become infinity

Row = tuple[int, list]  # (1-based line number, fields)


# -- the dataset's folder ------------------------------------------------------
def dataset_root(root: Path, inner: str, marker: str) -> Path:
    """``root`` itself, or ``root / inner`` when only that holds ``marker``: a user may pick the folder a download
    unpacks into (AwA2's ``Animals_with_Attributes2``, SUN's ``SUNAttributeDB``) or the one above it."""
    if not (root / marker).exists() and (root / inner / marker).exists():
        root = root / inner
    if not root.is_dir():
        raise DatasetError(root, "folder not found")
    return root


# -- plain text ----------------------------------------------------------------


_UNICODE_BOMS = (  # longest first: the UTF-32 LE mark starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_text(data: bytes, path) -> str:
    """Text of a file's bytes: the encoding its byte-order mark names (spreadsheets save "Unicode text" as
    UTF-16), else UTF-8, else Latin-1 (an old Windows file)."""
    for bom, encoding in _UNICODE_BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise DatasetError(
                    path, f"the file says it is {encoding.upper()} text but is not ({exc.reason})"
                ) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def read_text(path) -> str:
    """The whole file as text: UTF-8 (BOM dropped), UTF-16/32 with a BOM, Latin-1 when it is not UTF-8."""
    return decode_text(read_bytes(Path(path), "table", DatasetError), path)  # the gate: no pipes, bounded size


def _type_name(kind: Callable) -> str:
    return getattr(kind, "__name__", str(kind))


def convert(value: str, kind: Callable, path, line: int | None, column: str | None):
    """``kind(value)``, or a DatasetError that says which value could not be read.

    ``float`` values must be finite: NaN and infinity are refused here so that
    no loader lets them into a dataset.
    """
    try:
        result = kind(value)
    except (ValueError, TypeError):
        shown = value if value.strip() else "an empty value"
        raise DatasetError(path, f"expected {_type_name(kind)}, got {shown!r}", line=line, column=column) from None
    if isinstance(result, float) and not math.isfinite(result):
        raise DatasetError(path, f"value {value!r} is not a finite number", line=line, column=column)
    if isinstance(result, float) and abs(result) > FLOAT32_MAX:
        raise DatasetError(
            path, f"value {value!r} is too large (beyond ±3.4e38, the float32 range)", line=line, column=column
        )
    return result


def read_table(
    path,
    min_columns: int,
    types: Sequence[Callable] = (),
    *,
    delimiter: str | None = None,
    maxsplit: int = -1,
    names: Sequence[str] | None = None,
    skip_header: bool = False,
) -> list[Row]:
    """Rows of a whitespace (or ``delimiter``) separated text table as ``(line_number, fields)``.

    Tolerant of what real files contain: CRLF endings, a BOM, blank lines and
    extra trailing fields (CUB's ``image_attribute_labels.txt`` has a few lines
    with more than five). The first ``len(types)`` fields are converted with
    ``types``; the rest stay strings. ``maxsplit`` keeps names with spaces
    whole (``1 sailing/ boating``). ``names`` label columns in error messages.
    """
    path = Path(path)
    rows: list[Row] = []
    lines = read_text(path).splitlines()
    for number, text in enumerate(lines, start=1):
        if skip_header and number == 1:
            continue
        if not text.strip():
            continue
        fields = text.split(delimiter, maxsplit) if delimiter else text.split(None, maxsplit)
        if delimiter:
            fields = [f.strip() for f in fields]
        if len(fields) < min_columns:
            raise DatasetError(
                path, f"expected at least {min_columns} fields, found {len(fields)}: {text.strip()[:80]!r}", line=number
            )
        for i, kind in enumerate(types[: len(fields)]):
            column = names[i] if names and i < len(names) else str(i + 1)
            fields[i] = convert(fields[i], kind, path, number, column)
        rows.append((number, fields))
    return rows


def read_matrix(path, rows: int | None = None, columns: int | None = None) -> np.ndarray:
    """A whitespace-separated matrix of floats, checking its shape (e.g. AwA2's 50 x 85)."""
    table = read_table(path, 1)
    width = columns if columns is not None else (len(table[0][1]) if table else 0)
    values = []
    for number, fields in table:
        if len(fields) != width:
            raise DatasetError(path, f"expected {width} values, found {len(fields)}", line=number)
        values.append([convert(f, float, path, number, str(i + 1)) for i, f in enumerate(fields)])
    if rows is not None and len(values) != rows:
        raise DatasetError(path, f"expected {rows} rows, found {len(values)}")
    return np.asarray(values, dtype=np.float64).reshape(len(values), width)


def read_name_list(path, with_ids: bool = True) -> list[str]:
    """Names from ``id<TAB>name`` / ``id name`` files (AwA2 ``classes.txt``) or one name a line.

    With ids, they must run 1, 2, 3, ... so that row i of a matrix is name i.
    """
    if not with_ids:
        return [fields[0] for _, fields in read_table(path, 1, delimiter=None, maxsplit=0)]
    rows = read_table(path, 2, (int, str), maxsplit=1, names=("id", "name"))
    names = []
    for expected, (number, fields) in enumerate(rows, start=1):
        if fields[0] != expected:
            raise DatasetError(path, f"expected id {expected}, found {fields[0]}", line=number, column="id")
        names.append(fields[1].strip())
    return names


# -- CSV ------------------------------------------------------------------------


# Files a spreadsheet user may hand us as "CSV" that are not text: their first bytes, and what to say.
_NOT_CSV = (
    (
        ZIP_MAGIC,
        "an Excel workbook (.xlsx) or another zip file, not CSV text; in the spreadsheet, "
        'save it as "CSV (comma delimited)" or "CSV UTF-8"',
    ),
    (b"\xd0\xcf\x11\xe0", "an old Excel workbook (.xls), not CSV text; in the spreadsheet, save it as CSV"),
    (PDF_MAGIC, "a PDF document, not CSV text"),
)
CSV_DELIMITERS = (",", ";", "\t")
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+(?:[eE][+-]?\d+)?%?")  # 0,5 or -12,25: a number from a European spreadsheet
TEXT_COLUMNS = ("note", "description", "group")  # free text in our CSV files: never read as numbers


def _csv_text(path: Path) -> str:
    """The CSV file's text through the gate, refusing a workbook, PDF or other binary file in words."""
    data = read_bytes(path, "table", DatasetError)
    for magic, words in _NOT_CSV:
        if data.startswith(magic):
            raise DatasetError(path, f"this is {words}")
    text = decode_text(data, path)
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise DatasetError(path, "holds a NUL byte: binary data, not CSV text (was it saved as CSV?)", line=line)
    return text


def _delimiter(text: str) -> tuple[str, str, int]:
    """The field separator, the text without an Excel ``sep=`` line, and the lines so skipped.

    A spreadsheet set to a European locale writes ``;`` between fields (its decimal mark is the comma);
    one set to "Unicode text" writes tabs. The header row says which: the separator it holds most of
    (outside quotes); a comma when it holds none. Excel's own ``sep=;`` first line is honoured.
    """
    first, _, rest = text.partition("\n")
    if first.strip().lower().startswith("sep=") and len(first.strip()) == 5:
        return first.strip()[4], rest, 1
    header = re.sub(r'"[^"]*"', "", first)
    counts = {d: header.count(d) for d in CSV_DELIMITERS}
    best = max(CSV_DELIMITERS, key=lambda d: counts[d])  # ties keep the first: the comma
    return (best if counts[best] else ","), text, 0


def _trim_empty_columns(header: list[str], rows: list[Row]) -> list[str]:
    """Drop columns with no name and no value at the header's end (a spreadsheet's stray last column)."""
    width = len(header)
    while width and not header[width - 1] and all(len(f) < width or not f[width - 1] for _, f in rows):
        width -= 1
    for _, fields in rows:
        while len(fields) > width and not fields[-1]:
            fields.pop()
    return header[:width]


def read_csv(path, required_header: Sequence[str] = ()) -> tuple[list[str], list[Row]]:
    """Header and rows of a CSV file; rows are ``(line_number, fields)`` with blank rows dropped.

    Reads what spreadsheet programs write: a BOM, UTF-16, CRLF, quoted fields, ``;`` or tab
    separators with decimal commas (``0,5`` reads as ``0.5`` in every column but the leading
    ``required_header`` ones and free-text ones), an Excel ``sep=`` line, and empty trailing
    columns. Header names are stripped and compared case-insensitively against ``required_header``
    (which must start the header, in order). A workbook (.xlsx/.xls) is refused with what to do.
    """
    path = Path(path)
    delimiter, text, skipped = _delimiter(_csv_text(path))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    rows: list[Row] = []
    try:
        for fields in reader:
            number = reader.line_num + skipped
            if not any(f.strip() for f in fields):
                continue
            if header is None:
                header = [f.strip() for f in fields]
                continue
            rows.append((number, [f.strip() for f in fields]))
    except csv.Error as exc:
        raise DatasetError(path, f"not valid CSV: {exc}", line=reader.line_num + skipped) from None
    if header is None:
        raise DatasetError(path, "the file is empty; expected a header row")
    header = _trim_empty_columns(header, rows)
    for i, name in enumerate(required_header):
        if i >= len(header) or header[i].lower() != name.lower():
            found = header[i] if i < len(header) else "nothing"
            hint = ""
            if len(header) == 1 and any(d in header[0] for d in ",;\t|"):
                hint = " (one column only: are the fields separated by something other than , ; or a tab?)"
            raise DatasetError(
                path, f"header column {i + 1} must be {name!r}, found {found!r}{hint}", line=1 + skipped, column=name
            )
    if delimiter != ",":
        numeric = [i >= len(required_header) and header[i].lower() not in TEXT_COLUMNS for i in range(len(header))]
        for _, fields in rows:
            for i, value in enumerate(fields):
                if i < len(numeric) and numeric[i] and _DECIMAL_COMMA.fullmatch(value):
                    fields[i] = value.replace(",", ".")
    return header, rows


# -- MATLAB ---------------------------------------------------------------------


def read_mat(path, required: Sequence[str] = ()) -> dict:
    """The variables of a MATLAB v5 ``.mat`` file, checking that ``required`` ones are there."""
    import scipy.io

    path = Path(path)
    check_file(path, "mat", DatasetError)  # the gate: no pipes, devices or folders; bounded size
    try:
        data = scipy.io.loadmat(str(path))
    except NotImplementedError:
        raise DatasetError(path, "MATLAB v7.3 (HDF5) files are not supported; save it with -v7") from None
    except Exception as exc:  # scipy raises several kinds for a damaged file
        raise DatasetError(path, f"not a readable MATLAB file: {exc}") from None
    variables = {k: v for k, v in data.items() if not k.startswith("__")}
    for name in required:
        if name not in variables:
            present = ", ".join(sorted(variables)) or "none"
            raise DatasetError(path, f"field {name!r} is missing (present: {present})", column=name)
    return variables


def mat_strings(value, path, field: str) -> list[str]:
    """A MATLAB cell array of strings (or a char matrix) as a flat list of Python strings.

    ``loadmat`` gives a cell as an object array whose items are 1-element
    string arrays (or empty arrays); a char matrix comes as an array of str.
    """
    array = np.asarray(value)
    if array.dtype.kind in "US":
        return [str(s).strip() for s in array.ravel()]
    if array.dtype != object:
        raise DatasetError(path, f"field {field!r} must be a cell array of strings, found {array.dtype}", column=field)
    out = []
    for i, item in enumerate(array.ravel()):
        while isinstance(item, np.ndarray) and item.dtype == object and item.size == 1:
            item = item.ravel()[0]
        if isinstance(item, np.ndarray) and item.dtype.kind in "US":
            item = "".join(str(s) for s in item.ravel())  # an empty cell reads as size 0
        if not isinstance(item, str):
            raise DatasetError(path, f"field {field!r}: entry {i + 1} is not a string", column=field)
        out.append(item.strip())
    return out


def mat_numeric(value, path, field: str, ndim: int = 2) -> np.ndarray:
    """A numeric MATLAB array as float64, refusing text, cells and NaN/inf."""
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise DatasetError(path, f"field {field!r} must be numeric, found {array.dtype}", column=field)
    array = array.astype(np.float64)
    if array.ndim != ndim:
        raise DatasetError(path, f"field {field!r} must be {ndim}-D, found shape {array.shape}", column=field)
    if not np.isfinite(array).all():
        raise DatasetError(path, f"field {field!r} contains NaN or infinite values", column=field)
    if array.size and np.abs(array).max() > FLOAT32_MAX:
        raise DatasetError(path, f"field {field!r} has values beyond ±3.4e38, the float32 range", column=field)
    return array


def mat_index_vector(value, path, field: str, size: int) -> np.ndarray:
    """A MATLAB 1-based index (or label) vector as 0-based int64, every entry in ``1..size``."""
    array = mat_numeric(np.asarray(value).reshape(-1, 1) if np.asarray(value).ndim < 2 else value, path, field)
    if min(array.shape) > 1:
        raise DatasetError(path, f"field {field!r} must be a vector, found shape {array.shape}", column=field)
    array = array.ravel()
    if array.size and (np.any(array != np.round(array))):
        raise DatasetError(path, f"field {field!r} must hold whole numbers", column=field)
    if array.size and (array.min() < 1 or array.max() > size):
        raise DatasetError(
            path,
            f"field {field!r} has values from {int(array.min())} to {int(array.max())}; "
            f"they must be 1-based and at most {size}",
            column=field,
        )
    return array.astype(np.int64) - 1
