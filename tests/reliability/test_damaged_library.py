"""Class 5 of issue 16: a damaged class library read at start-up is set aside (kept, never deleted) and the
app starts anyway; Import refuses the same files with a message instead of raising inside a Qt slot.

Every JSON is parsed with bounded size and depth and validated like Import.
"""

from __future__ import annotations

import json

import pytest

from zsl_desktop.engine import userfiles
from zsl_desktop.engine.classes import LIBRARY_FORMAT, ClassLibrary, LibraryError, attribute_identity, read_export

NAMES = ["has_bill::hooked", "has_tail::long"]


def _library(classes) -> str:
    return json.dumps(
        {
            "format": LIBRARY_FORMAT,
            "sets": {attribute_identity(NAMES): {"dataset": "birds", "attribute_names": NAMES, "classes": classes}},
        }
    )


def _nested(depth: int = 5000) -> str:
    return "[" * depth + "]" * depth


DAMAGED = {
    "deeply-nested": (_nested(), "nests 5000 levels deep"),
    "nan-value": (_library([{"name": "a", "values": [float("nan"), 1]}]).replace("NaN", "NaN"), "NaN"),
    "huge-value": (_library([{"name": "a", "values": [1e308, 1]}]), "value 1e\\+308 is outside 0-100"),
    "overflowing-value": (
        _library([{"name": "a", "values": [1, 1]}]).replace("[1, 1]", "[1e999, 1]"),
        "1e999 is too large",
    ),
    "duplicate-names": (
        _library([{"name": "a", "values": [1, 1]}, {"name": "a", "values": [2, 2]}]),
        "already a class called 'a'",
    ),
    "negative-value": (_library([{"name": "a", "values": [-5, 1]}]), "outside 0-100"),
}


ONE_CLASS_BROKEN = {"duplicate-names", "huge-value", "negative-value"}  # the others break the whole file


@pytest.mark.parametrize("case", sorted(DAMAGED))
def test_damaged_library_is_set_aside_and_kept(tmp_path, case):
    text, words = DAMAGED[case]
    path = tmp_path / "class_library.json"
    path.write_text(text)
    library = ClassLibrary.load(path)  # never raises
    assert library.names(attribute_identity(NAMES)) == (["a"] if case == "duplicate-names" else [])  # the first a
    assert len(library.warnings) == 1
    warning = library.warnings[0]
    assert str(path) in warning and "\n" not in warning
    import re

    assert re.search(words, warning), warning
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("class_library.json.corrupt-")]
    assert len(kept) == 1 and kept[0].read_text() == text, "the damaged file is kept byte for byte"
    if case in ONE_CLASS_BROKEN:  # the readable classes were written back in place, the copy keeps the rest
        assert ClassLibrary.load(path).names(attribute_identity(NAMES)) == library.names(attribute_identity(NAMES))
    else:  # nothing readable: the file was moved aside
        assert not path.exists()
    library.save()  # the library goes where the old one was; the kept copy is untouched
    assert path.is_file() and kept[0].read_text() == text


def test_one_class_broken_by_a_hand_edit_leaves_the_others_in_use(tmp_path):
    """Before: one class too long a name (or a value out of range) set the whole library aside: every class vanished."""
    good = [{"name": n, "values": [10, 20]} for n in ("robin", "wren", "jay")]
    text = _library(good[:2] + [{"name": "x" * 500, "values": [1, 1]}, {"name": "b", "values": "12"}] + good[2:])
    path = tmp_path / "class_library.json"
    path.write_text(text)
    library = ClassLibrary.load(path)
    assert library.names(attribute_identity(NAMES)) == ["robin", "wren", "jay"]
    (warning,) = library.warnings
    assert "has 2 classes that could not be read" in warning and "at most 80 characters, and 1 more" in warning
    assert "its other 3 classes were loaded" in warning
    (kept,) = tmp_path.glob("class_library.json.corrupt-*")
    assert kept.read_text() == text and kept.name in warning  # the user's file, byte for byte
    again = ClassLibrary.load(path)  # no edit, no save: the readable classes are still in the library file
    assert again.names(attribute_identity(NAMES)) == ["robin", "wren", "jay"] and again.warnings == []
    assert len(list(tmp_path.glob("class_library.json.corrupt-*"))) == 1


def test_a_valid_library_with_distinct_names_still_loads(tmp_path):
    path = tmp_path / "class_library.json"
    path.write_text(_library([{"name": "a", "values": [10, 90]}, {"name": "b", "values": [0, 100]}]))
    library = ClassLibrary.load(path)
    assert library.warnings == [] and library.names(attribute_identity(NAMES)) == ["a", "b"]


def test_importing_a_deeply_nested_file_is_a_message_not_a_recursion_error(tmp_path):
    path = tmp_path / "classes.json"
    path.write_text(_nested(100_000))
    with pytest.raises(LibraryError, match="nests 100000 levels deep") as info:
        read_export(path, NAMES)
    assert str(path) in str(info.value)


def test_a_json_file_over_the_size_limit_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "classes.json"
    path.write_text(_library([{"name": "a", "values": [1, 1]}]))
    monkeypatch.setitem(userfiles.MAX_BYTES, "json", 50)
    with pytest.raises(LibraryError, match="over the limit"):
        read_export(path, NAMES)
    library = ClassLibrary.load(path)
    assert "over the limit" in library.warnings[0]


def test_app_starts_with_a_nested_library_and_warns(qtbot, tmp_path, monkeypatch):
    """The start-up path: the window's library store reads the file; the app is up and says what it did."""
    from zsl_desktop.app.library import LibraryStore
    from zsl_desktop.engine.classes import library_path

    path = library_path()
    path.write_text(_nested())
    store = LibraryStore()
    assert store.library.classes(attribute_identity(NAMES)) == []
    assert "nests 5000 levels deep" in store.warnings[0]
    assert any(p.name.startswith("class_library.json.corrupt-") for p in path.parent.iterdir())


def test_import_in_the_app_store_raises_library_error_for_the_slot_to_show(qtbot, tmp_path, small_birds):
    from zsl_desktop.app.library import LibraryStore

    store = LibraryStore(tmp_path / "lib.json")
    store.set_dataset(small_birds)
    bad = tmp_path / "bad.json"
    bad.write_text(_nested())
    with pytest.raises(LibraryError, match="nests"):
        store.import_file(bad)
    assert store.classes() == [] and not (tmp_path / "lib.json").exists(), "nothing written for a refused import"
