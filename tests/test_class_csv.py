"""Class definitions as CSV (engine/class_csv.py): round trip, column order, and messages that name the cell."""

import os

import numpy as np
import pytest

from zsl_desktop.engine.class_csv import read_classes_csv, write_classes_csv
from zsl_desktop.engine.classes import ClassLibrary, LibraryError, UserClass, attribute_identity

NAMES = ("has_bill_shape::cone", "has_bill_shape::hooked", "has_crown_color::red", "has_crown_color::blue")
SCALE = (0.0, 100.0)


def write(tmp_path, text, name="classes.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_round_trip_keeps_names_values_and_notes(tmp_path):
    classes = [
        UserClass.from_array("Blue hook", [0, 100, 0, 80.5], note="from a field guide"),
        UserClass.from_array("Red, cone", [90, 0, 75, 0]),
    ]  # a comma in the name: quoted
    path = write_classes_csv(tmp_path / "out.csv", classes, NAMES)
    assert path.read_text().splitlines()[0] == "class," + ",".join(NAMES) + ",note"
    back = read_classes_csv(path, NAMES, SCALE)
    assert [c.name for c in back] == ["Blue hook", "Red, cone"]
    assert np.allclose(back[0].array(), [0, 100, 0, 80.5]) and back[0].note == "from a field guide"
    assert np.allclose(back[1].array(), [90, 0, 75, 0])


def test_columns_in_any_order_are_put_in_the_dataset_order(tmp_path):
    header = "class," + ",".join(reversed(NAMES))
    path = write(tmp_path, header + "\nMostly red,1,2,3,4\n")
    (only,) = read_classes_csv(path, NAMES, SCALE)
    assert np.allclose(only.array(), [4, 3, 2, 1])


def test_spreadsheet_quirks_bom_crlf_blank_rows(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(("\ufeffclass," + ",".join(NAMES) + "\r\nA,1,2,3,4\r\n,,,,\r\nB,5,6,7,8\r\n").encode("utf-8"))
    assert [c.name for c in read_classes_csv(path, NAMES, SCALE)] == ["A", "B"]


@pytest.mark.parametrize(
    "body, words",
    [
        ("A,1,2,3\n", ["line 2", "4 fields", "header has 5"]),
        ("A,1,2,x,4\n", ["line 2", "'has_crown_color::red'", "expected a number", "'x'"]),
        ("A,1,2,,4\n", ["line 2", "'has_crown_color::red'", "an empty cell"]),
        ("A,1,2,3,4\nB,1,2,3,140\n", ["line 3", "'has_crown_color::blue'", "140 is outside the scale 0-100"]),
        ("A,1,2,3,-5\n", ["line 2", "'has_crown_color::blue'", "-5 is outside"]),
        ("A,1,2,3,nan\n", ["line 2", "'has_crown_color::blue'", "not a finite number"]),
        ("A,1,2,3,4\na,1,2,3,4\n", ["line 3", "'class'", "already a class called"]),
        (",1,2,3,4\n", ["line 2", "'class'", "needs a name"]),
    ],
)
def test_bad_rows_name_the_file_line_and_column(tmp_path, body, words):
    path = write(tmp_path, "class," + ",".join(NAMES) + "\n" + body)
    with pytest.raises(LibraryError) as info:
        read_classes_csv(path, NAMES, SCALE)
    message = str(info.value)
    assert message.startswith(str(path))
    for w in words:
        assert w in message, message


def test_unknown_duplicate_or_missing_attribute_columns_are_named(tmp_path):
    unknown = write(tmp_path, "class," + ",".join(NAMES) + ",has_wing_color::plaid\nA,1,2,3,4,5\n", "u.csv")
    with pytest.raises(LibraryError, match=r"line 1, column 'has_wing_color::plaid': unknown attribute"):
        read_classes_csv(unknown, NAMES, SCALE)
    twice = write(tmp_path, "class," + ",".join(NAMES) + f",{NAMES[0]}\nA,1,2,3,4,5\n", "d.csv")
    with pytest.raises(LibraryError, match="appears twice"):
        read_classes_csv(twice, NAMES, SCALE)
    missing = write(tmp_path, "class," + ",".join(NAMES[:3]) + "\nA,1,2,3\n", "m.csv")
    with pytest.raises(
        LibraryError, match=r"1 of the dataset's attributes have no column \(e.g. 'has_crown_color::blue'\)"
    ):
        read_classes_csv(missing, NAMES, SCALE)
    no_header = write(tmp_path, "name," + ",".join(NAMES) + "\n", "h.csv")
    with pytest.raises(LibraryError, match=r"line 1, column 'class'.*must be 'class'"):
        read_classes_csv(no_header, NAMES, SCALE)


def test_the_gate_refuses_special_and_missing_files(tmp_path):
    with pytest.raises(LibraryError, match="no such file"):
        read_classes_csv(tmp_path / "absent.csv", NAMES, SCALE)
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    with pytest.raises(LibraryError, match="is a folder"):
        read_classes_csv(folder, NAMES, SCALE)
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "pipe.csv"
        os.mkfifo(fifo)
        with pytest.raises(LibraryError, match="named pipe"):
            read_classes_csv(fifo, NAMES, SCALE)


def test_import_into_the_library_renames_taken_names(tmp_path):
    identity = attribute_identity(NAMES)
    lib = ClassLibrary(tmp_path / "lib.json")
    lib.put(identity, UserClass.from_array("A", [1, 2, 3, 4]), NAMES)
    path = write(tmp_path, "class," + ",".join(NAMES) + "\nA,5,6,7,8\nB,0,0,0,0\n")
    added = lib.add_classes(identity, read_classes_csv(path, NAMES, SCALE), NAMES)
    assert added == ["A (2)", "B"]
    assert np.allclose(lib.get(identity, "A (2)").array(), [5, 6, 7, 8])


# -- what spreadsheet programs really write ----------------------------------------------------------------
HEADER = "class," + ",".join(NAMES)


@pytest.mark.parametrize(
    "text, encoding",
    [
        ("class;" + ";".join(NAMES) + "\nA;1,5;2;3;4,25\n", "utf-8"),  # a European Excel: ; and decimal commas
        ("sep=;\nclass;" + ";".join(NAMES) + "\nA;1,5;2;3;4,25\n", "utf-8"),  # Excel's own separator line
        ("class\t" + "\t".join(NAMES) + "\r\nA\t1.5\t2\t3\t4.25\r\n", "utf-16"),  # "Unicode text": UTF-16, tabs
        (HEADER + "\r\nA,1.5,2,3,4.25\r\n", "utf-16"),  # UTF-16 with commas
        (HEADER + ",,\nA,1.5,2,3,4.25,,\n,,,,,,\n\n\n", "utf-8"),  # stray empty columns and rows at the end
        (HEADER + ",\nA,1.5,2,3,4.25\n", "utf-8"),  # an empty column in the header only
        (HEADER + "\nA,1.5%,2%,3%,4.25%\n", "utf-8"),  # percentage cells: % of the full scale
        ("class;" + ";".join(NAMES) + "\nA;1,5%;2%;3%;4,25%\n", "utf-8"),  # European percentages
    ],
)
def test_spreadsheet_dialects_read_the_same_classes(tmp_path, text, encoding):
    path = tmp_path / "sheet.csv"
    path.write_bytes(text.encode(encoding))
    (only,) = read_classes_csv(path, NAMES, SCALE)
    assert only.name == "A"
    assert np.allclose(only.array(), [1.5, 2, 3, 4.25])


def test_a_semicolon_file_keeps_commas_in_names_and_notes(tmp_path):
    path = write(tmp_path, "class;" + ";".join(NAMES) + ";note\n1,5;1;2;3;4;seen at 2,5 km\n")
    (only,) = read_classes_csv(path, NAMES, SCALE)
    assert only.name == "1,5" and only.note == "seen at 2,5 km"


def test_percentages_on_a_zero_to_one_scale(tmp_path):
    path = write(tmp_path, HEADER + "\nA,50%,0%,100%,25%\n")
    (only,) = read_classes_csv(path, NAMES, (0.0, 1.0))
    assert np.allclose(only.array(), [0.5, 0, 1, 0.25])
    wrong_scale = write(tmp_path, HEADER + "\nA,50,0,100,25\n", "hundreds.csv")
    with pytest.raises(LibraryError, match=r"line 2, column 'has_bill_shape::cone': 50 is outside the scale 0-1 \("):
        read_classes_csv(wrong_scale, NAMES, (0.0, 1.0))
    with pytest.raises(LibraryError, match="is a percentage, but this dataset's scale is -1-1"):
        read_classes_csv(path, NAMES, (-1.0, 1.0))


@pytest.mark.parametrize(
    "data, words",
    [
        (b"PK\x03\x04" + b"\x00" * 40, "Excel workbook (.xlsx)"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 40, "old Excel workbook (.xls)"),
        (HEADER.encode() + b"\nA\x00,1,2,3,4\n", "line 2: holds a NUL byte"),
        (b"\xff\xfe" + b"\x00\xd8", "says it is UTF-16 text but is not"),
        (b"class|" + "|".join(NAMES).encode() + b"\nA|1|2|3|4\n", "one column only"),
    ],
)
def test_files_that_are_not_csv_text_are_refused_in_words(tmp_path, data, words):
    path = tmp_path / "classes.csv"
    path.write_bytes(data)
    with pytest.raises(LibraryError) as info:
        read_classes_csv(path, NAMES, SCALE)
    assert str(info.value).startswith(str(path)) and words in str(info.value), str(info.value)


def test_fractions_for_a_zero_to_hundred_dataset_are_refused_in_words(tmp_path):
    """Before: 0/1 or 0-1 values imported silently into CUB's 0-100 scale, as classes that look empty."""
    path = write(tmp_path, HEADER + "\nA,1,0,0.5,1\nB,0,1,0,0\n")
    with pytest.raises(LibraryError, match="every value is between 0 and 1, but this dataset's attributes run 0-100"):
        read_classes_csv(path, NAMES, SCALE)
    assert len(read_classes_csv(path, NAMES, (0.0, 1.0))) == 2  # right for a 0-1 dataset
    zeros = write(tmp_path, HEADER + "\nNothing,0,0,0,0\n", "zeros.csv")
    assert len(read_classes_csv(zeros, NAMES, SCALE)) == 1
    some = write(tmp_path, HEADER + "\nA,1,0,0.5,1\nB,0,1,0,40\n", "some.csv")
    assert len(read_classes_csv(some, NAMES, SCALE)) == 2  # one value above 1: the file is on the 0-100 scale
