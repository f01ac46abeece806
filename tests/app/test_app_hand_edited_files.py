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
