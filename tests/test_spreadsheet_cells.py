"""CSV formula injection (engine/spreadsheet_cells.py and every CSV writer): a name that starts like a formula
opens in a spreadsheet as text, numbers stay numbers, and our own readers give back the user's exact text."""

import csv
import io

import numpy as np
import pytest

from zsl_desktop.engine.class_csv import read_classes_csv, write_classes_csv
from zsl_desktop.engine.predict import PredictionsCsv, cell
from zsl_desktop.engine.spreadsheet_cells import FORMULA_STARTS, guard, unguard
from zsl_desktop.engine.user_class import UserClass

HOSTILE = [
    '=HYPERLINK("http://example.invalid","click")',
    "+1+2",
    "-2+3",
    "@SUM(A1:A2)",
    "\tx=1",
    "\r=1",
    "'=already quoted",
    "''@twice",
]
PLAIN = ["Blue jay", "", "'", "'tis", "a=b", "3 - 2", "#5", "'-5"]
NUMBERS = ["-0.52", "-5", "+1e5", "-.5", "12", "0.000001", "-1.5E-3"]


def runs_as_formula(text: str) -> bool:
    """What Excel and LibreOffice do with a cell: a formula-start character, unless the cell is a number."""
    try:
        float(text)
        return False
    except ValueError:
        return text[:1] in FORMULA_STARTS


def cells(text: str) -> list[str]:
    return [c for row in csv.reader(io.StringIO(text)) for c in row]


@pytest.mark.parametrize("text", HOSTILE)
def test_a_formula_is_guarded_with_a_quote_and_comes_back_exactly(text):
    assert guard(text) == "'" + text and not runs_as_formula(guard(text))
    assert unguard(guard(text)) == text


@pytest.mark.parametrize("text", PLAIN + NUMBERS)
def test_text_that_is_no_formula_and_numbers_are_left_as_they_are(text):
    assert guard(text) == text and unguard(guard(text)) == text


def test_only_strings_are_guarded():
    assert guard(-0.5) == -0.5 and guard(3) == 3 and guard(None) is None


def test_a_class_csv_opens_as_text_and_reads_back_the_same_names(tmp_path):
    names = ("=attr", "has_size::small")  # a dataset attribute that starts like a formula is guarded too
    classes = [UserClass.from_array(n, [10, 90], note="-see +notes") for n in HOSTILE[:4] + ["'=x"]]
    path = write_classes_csv(tmp_path / "classes.csv", classes, names)
    written = cells(path.read_text(encoding="utf-8"))
    assert not any(runs_as_formula(c) for c in written)
    back = read_classes_csv(path, names, (0.0, 100.0))
    assert [c.name for c in back] == [c.name for c in classes]
    assert {c.note for c in back} == {"-see +notes"}
    assert np.allclose(back[0].array(), [10, 90])


def test_a_hand_written_class_csv_with_a_quoted_formula_name_reads_as_the_name(tmp_path):
    path = tmp_path / "typed.csv"
    path.write_text("class,a,b\n'=Odd bird,1,2\n", encoding="utf-8")
    (only,) = read_classes_csv(path, ("a", "b"), (0.0, 100.0))
    assert only.name == "=Odd bird"


def test_the_predictions_csv_guards_file_and_class_names_and_still_resumes(tmp_path):
    path = tmp_path / "p.csv"
    table = PredictionsCsv(path, ["file", "top1_class", "top1_raw_score"]).open()
    table.append([[cell("-2+3.jpg"), cell("=cmd|' /C calc'!A0"), "-0.250000"]])
    written = cells(path.read_text(encoding="utf-8"))
    assert written[3:] == ["'-2+3.jpg", "'=cmd|' /C calc'!A0", "-0.250000"]  # the score stays a number
    assert cell("-2+3.jpg") in PredictionsCsv(path, ["file", "top1_class", "top1_raw_score"]).open().done


def test_the_apps_exports_guard_text_cells_meta_lines_and_keep_numbers(tmp_path):
    pytest.importorskip("PySide6")
    from zsl_desktop.app import export

    rows = [("=HYPERLINK(1)", "@seen", -1.25, -0.5, 0.5)]
    ranking = export.predictions_csv(rows, tmp_path / "pred.csv", {"image": "a,=b.jpg", "gamma": "-0.1000"})
    text = ranking.read_text(encoding="utf-8")
    assert not any(runs_as_formula(c) for c in cells(text))
    assert cells(text)[:2] == ["# image: a,=b.jpg", "# gamma: -0.1000"]  # one cell each: the comma is quoted
    row = next(r for r in csv.reader(io.StringIO(text)) if r[0] == "1")
    assert row == ["1", "'=HYPERLINK(1)", "'@seen", "-1.250000", "-0.500000", "0.500000"]
    every = export.all_predictions_csv([("-x.jpg", "+bird", "=bird", "user", "0.9", 0)], tmp_path / "all.csv")
    assert cells(every.read_text(encoding="utf-8"))[-6:] == ["'-x.jpg", "'+bird", "'=bird", "user", "0.9", "0"]
