"""The user's own files edited by hand (settings INI, class library JSON): the window still opens, nothing is lost."""

from __future__ import annotations

from zsl_desktop.app.settings import FILE_NAME, Settings
from zsl_desktop.engine.paths import config_dir


def test_settings_with_huge_numbers_and_words_fall_back_to_the_defaults(make_window, qtbot):
    """Before: ``topk=99999999999`` made the window's restore raise OverflowError (a C int in Qt)."""
    config_dir().mkdir(parents=True, exist_ok=True)
    (config_dir() / FILE_NAME).write_text(
        "[predictions]\ntopk=99999999999\n[overlay]\nopacity=lots\ncolormap=1, 2\n"
        "[features]\ncap=-99999999999999999999\n[training]\nseed=1e999\nflips=sideways\n"
        "[window]\ngeometry=@ByteArray(garbage)\n"
    )
    w = make_window(open_dataset=False)
    assert w.predictions.topk.value() == 8
    assert w.image_view.opacity.value() == 55
    assert w.image_view.cmap.currentText() == "inferno"


def test_settings_value_refuses_what_a_widget_cannot_take(tmp_path):
    s = Settings(tmp_path / "s.ini")
    cases = [("7", int, 7), ("2147483648", int, 3), ("-2147483648", int, 3), ("x", int, 3)]
    cases += [("0.5", float, 0.5), ("inf", float, 3), ("nan", float, 3), ("1e999", float, 3)]
    for text, kind, expected in cases:
        s.set("k", text)
        assert s.value("k", 3, kind) == expected, text


def _disk_full(*args, **kwargs):
    import errno

    from zsl_desktop.engine.atomic import DiskFullError

    raise DiskFullError(errno.ENOSPC, "class_library.json could not be saved: no space left on device")


def test_a_full_disk_on_save_or_delete_is_said_and_the_app_stays_up(make_window, monkeypatch):
    """Before: Delete on a full (or read-only) disk raised out of the slot; now both say so in the status line."""
    from zsl_desktop.engine.classes import ClassLibrary

    w = make_window(open_dataset=True, with_model=False)
    w.editor.start_from("dataset", 0)
    assert w.editor.save("Mine")
    monkeypatch.setattr(ClassLibrary, "save", _disk_full)
    w.editor.start_from("dataset", 1)
    assert not w.editor.save("Other")
    assert "no space left" in w.editor.status.text()
    w.editor.edit_class("Mine")
    w.editor.delete_current()
    assert "no space left" in w.editor.status.text() and w.editor.current == "Mine"
    monkeypatch.undo()
    assert ClassLibrary.load(w.store.library.path).names(w.store.identity) == ["Mine"]  # the file is whole


def test_deleting_a_class_another_window_deleted_first(make_window):
    """Two windows on one library: the second's Delete of a class the first already deleted just leaves it gone."""
    from zsl_desktop.engine.classes import ClassLibrary

    w = make_window(open_dataset=True, with_model=False)
    w.editor.start_from("dataset", 0)
    assert w.editor.save("Mine")
    w.editor.new_class()
    w.editor.start_from("dataset", 1)
    assert w.editor.save("Mine too")
    other = ClassLibrary.load(w.store.library.path)  # the other window
    other.delete(w.store.identity, "Mine")
    other.save()
    w.editor.new_class()
    w.editor.start_from("dataset", 2)
    assert w.editor.save("Third")  # this save merges the other window's delete in
    w.editor.edit_class("Mine too")
    w.editor.current = "Mine"  # the box still showed it
    w.editor.delete_current()
    assert sorted(ClassLibrary.load(w.store.library.path).names(w.store.identity)) == ["Mine too", "Third"]
