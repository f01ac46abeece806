"""The user class library (engine/classes.py): persistence, corruption, exchange, undo history."""

import json

import numpy as np
import pytest

from zsl_desktop.engine.classes import (
    EXPORT_FORMAT,
    ClassLibrary,
    LibraryError,
    UserClass,
    attribute_identity,
    check_name,
    library_path,
    read_export,
    unique_name,
    value_range,
)
from zsl_desktop.engine.edit_history import EditHistory

NAMES = ("has_bill_shape::cone", "has_bill_shape::hooked", "has_crown_color::red", "has_crown_color::blue")
ID = attribute_identity(NAMES)


def test_identity_depends_on_names_and_order():
    assert attribute_identity(NAMES) == attribute_identity(list(NAMES))
    assert attribute_identity(NAMES) != attribute_identity(NAMES[::-1])
    assert attribute_identity(NAMES) != attribute_identity(NAMES[:3])


def test_value_range():
    assert value_range(np.array([[0, 55.5], [100, 3]])) == (0.0, 100.0)
    assert value_range(np.array([[0, 0.5], [1, 0.3]])) == (0.0, 1.0)
    assert value_range(np.array([[-1, 0.5]])) == (0.0, 1.0)  # AwA2's -1 = unknown


def test_library_path_follows_home(tmp_path, monkeypatch):
    monkeypatch.setenv("ZSL_DESKTOP_HOME", str(tmp_path))
    assert library_path() == tmp_path / "data" / "class_library.json"


def test_save_load_roundtrip_and_isolation(tmp_path):
    path = tmp_path / "lib.json"
    lib = ClassLibrary(path)
    lib.put(ID, UserClass.from_array("Blue hook", [0, 100, 0, 80]), NAMES, "birds")
    lib.put("other", UserClass.from_array("Elsewhere", [1, 2]), ("a", "b"))
    lib.save()
    assert json.loads(path.read_text())["format"] == "zsl-desktop-class-library/1"
    again = ClassLibrary.load(path)
    assert again.names(ID) == ["Blue hook"]
    assert again.names("other") == ["Elsewhere"]
    assert again.names(attribute_identity(("x",))) == []
    np.testing.assert_allclose(again.get(ID, "Blue hook").array(), [0, 100, 0, 80])
    names, matrix = again.matrix(ID, 4)
    assert names == ["Blue hook"] and matrix.shape == (1, 4) and matrix.dtype == np.float32
    assert not again.warnings
    assert not list(tmp_path.glob(".lib.json.*"))  # no temp file left behind


def test_put_replaces_and_keeps_created(tmp_path):
    lib = ClassLibrary(tmp_path / "lib.json")
    first = lib.put(ID, UserClass.from_array("A", [1, 2, 3, 4]), NAMES)
    second = lib.put(ID, UserClass.from_array("A", [4, 3, 2, 1]), NAMES)
    assert second.created == first.created
    assert lib.get(ID, "A").values == (4.0, 3.0, 2.0, 1.0)
    with pytest.raises(ValueError, match="3 values for 4 attributes"):
        lib.put(ID, UserClass.from_array("B", [1, 2, 3]), NAMES)


def test_rename_and_delete(tmp_path):
    lib = ClassLibrary(tmp_path / "lib.json")
    lib.put(ID, UserClass.from_array("A", [1, 2, 3, 4]), NAMES)
    lib.put(ID, UserClass.from_array("B", [1, 2, 3, 4]), NAMES)
    lib.rename(ID, "A", "  Alpha   one ")
    assert lib.names(ID) == ["Alpha one", "B"]  # order kept, whitespace tidied
    with pytest.raises(ValueError, match="already a class"):
        lib.rename(ID, "B", "alpha ONE")
    lib.delete(ID, "B")
    assert lib.names(ID) == ["Alpha one"]
    with pytest.raises(KeyError):
        lib.delete(ID, "B")


def test_check_and_unique_names():
    assert check_name("  x  y ") == "x y"
    with pytest.raises(ValueError, match="needs a name"):
        check_name("   ")
    with pytest.raises(ValueError, match="at most"):
        check_name("x" * 200)
    assert unique_name("A", ["a", "A (2)"]) == "A (3)"


def test_corrupt_library_is_kept_aside(tmp_path):
    path = tmp_path / "class_library.json"
    path.write_text("{ this is not json")
    lib = ClassLibrary.load(path)
    assert lib.names(ID) == []
    assert len(lib.warnings) == 1 and "could not be read" in lib.warnings[0]
    aside = list(tmp_path.glob("class_library.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_text() == "{ this is not json"
    assert aside[0].name in lib.warnings[0]
    assert not path.exists()
    lib.put(ID, UserClass.from_array("New", [0, 0, 0, 1]), NAMES)
    lib.save()  # a fresh library replaces it; the damaged one stays aside
    assert ClassLibrary.load(path).names(ID) == ["New"]
    assert aside[0].exists()


@pytest.mark.parametrize(
    "content",
    [
        '{"format": "something else"}',
        "[1, 2]",
        '{"format": "zsl-desktop-class-library/1", "sets": {"x": {"classes": [{"name": 1}]}}}',
    ],
)
def test_structurally_wrong_library_is_kept_aside(tmp_path, content):
    path = tmp_path / "class_library.json"
    path.write_text(content)
    lib = ClassLibrary.load(path)
    assert lib.warnings and list(tmp_path.glob("*.corrupt-*"))


def test_export_import_roundtrip_reorders_attributes(tmp_path):
    lib = ClassLibrary(tmp_path / "a.json")
    lib.put(ID, UserClass.from_array("Red cone", [100, 0, 90, 0]), NAMES)
    out = lib.export_json(tmp_path / "export.json", ID, NAMES, scale=(0, 100))
    data = json.loads(out.read_text())
    assert data["format"] == EXPORT_FORMAT and data["attribute_names"] == list(NAMES)
    # The same file with the attributes written in another order still imports correctly.
    order = [2, 0, 3, 1]
    data["attribute_names"] = [NAMES[i] for i in order]
    data["classes"][0]["values"] = [data["classes"][0]["values"][i] for i in order]
    (tmp_path / "shuffled.json").write_text(json.dumps(data))
    other = ClassLibrary(tmp_path / "b.json")
    other.put(ID, UserClass.from_array("Red cone", [1, 1, 1, 1]), NAMES)
    added = other.import_json(tmp_path / "shuffled.json", ID, NAMES, scale=(0, 100))
    assert added == ["Red cone (2)"]
    np.testing.assert_allclose(other.get(ID, "Red cone (2)").array(), [100, 0, 90, 0])


def test_import_a_whole_library_file(tmp_path):
    lib = ClassLibrary(tmp_path / "lib.json")
    lib.put(ID, UserClass.from_array("A", [1, 2, 3, 4]), NAMES)
    lib.save()
    assert [c.name for c in read_export(tmp_path / "lib.json", NAMES)] == ["A"]
    with pytest.raises(LibraryError, match="no classes for the current dataset"):
        read_export(tmp_path / "lib.json", NAMES[:2])


def _export(tmp_path, **changes):
    data = {
        "format": EXPORT_FORMAT,
        "attribute_names": list(NAMES),
        "classes": [{"name": "X", "values": [0, 10, 20, 30]}],
    }
    data.update(changes)
    path = tmp_path / "in.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    "changes, problem",
    [
        ({"format": "nope"}, "not a ZSL Desktop class file"),
        ({"attribute_names": list(NAMES[:3])}, "do not match"),
        ({"attribute_names": list(NAMES[:3]) + ["has_eye::big"]}, "1 missing"),
        ({"classes": [{"name": "X", "values": [1, 2]}]}, "2 values for 4 attributes"),
        ({"classes": [{"name": "X", "values": [1, 2, "a", 4]}]}, "value 3"),
        ({"classes": [{"name": "X", "values": [1, 2, 3, 400]}]}, "outside the scale 0-100"),
        ({"classes": [{"name": "", "values": [1, 2, 3, 4]}]}, "class 1: a class needs a name"),
        ({"classes": [{"name": "X", "values": [1, 2, 3, 4]}, {"name": "x", "values": [1, 2, 3, 4]}]}, "already"),
        ({"classes": "many"}, "must be a list"),
    ],
)
def test_import_validation_names_file_and_problem(tmp_path, changes, problem):
    path = _export(tmp_path, **changes)
    lib = ClassLibrary(tmp_path / "lib.json")
    with pytest.raises(LibraryError) as info:
        lib.import_json(path, ID, NAMES, scale=(0, 100))
    assert str(path) in str(info.value) and problem in str(info.value)
    assert lib.names(ID) == []  # nothing half-imported


def test_import_bad_json_reports_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{\n  "format": "x",\n  oops\n}')
    with pytest.raises(LibraryError, match=r"not valid JSON .* line 3"):
        read_export(path, NAMES)
    with pytest.raises(LibraryError, match="no such file"):
        read_export(tmp_path / "missing.json", NAMES)


def test_history_merges_a_drag_and_undoes():
    h = EditHistory([0, 0, 0])
    for v in (10, 20, 30):  # one drag of attribute 0
        h.set(0, v)
    h.seal()
    h.set(0, 40)  # a new drag: a new step
    h.set(2, 5)  # another attribute: a new step
    assert h.values.tolist() == [40, 0, 5]
    assert h.undo() and h.values.tolist() == [40, 0, 0]
    assert h.undo() and h.values.tolist() == [30, 0, 0]
    assert h.undo() and h.values.tolist() == [0, 0, 0]
    assert not h.undo()
    assert h.redo() and h.values.tolist() == [30, 0, 0]
    h.set(1, 7)  # a new edit clears the redo stack
    assert not h.can_redo


def test_history_bulk_edits_and_no_op():
    h = EditHistory([1, 2])
    assert not h.set(0, 1)
    assert h.set_all([5, 5], "start from X")
    assert h.undo_text == "start from X"
    assert not h.set_all([5, 5], "again")
    h.undo()
    assert h.values.tolist() == [1, 2]
    with pytest.raises(ValueError):
        h.set_all([1, 2, 3], "bad")
