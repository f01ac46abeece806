"""The start-up check that replaces Qt's abort when the xcb plugin's system libraries are missing."""

import pytest

from zsl_desktop.app import system_check as sc

LDD_OUTPUT = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibGL.so.1 => /lib/x86_64-linux-gnu/libGL.so.1 (0x00007f)
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-cursor.so.0 => not found
\tlibfoo-unknown.so.3 => not found
"""


def test_ldd_output_gives_the_missing_libraries_once_each_in_order():
    assert sc.parse_ldd(LDD_OUTPUT) == [
        "libxcb-cursor.so.0",
        "libxcb-icccm.so.4",
        "libxcb-keysyms.so.1",
        "libfoo-unknown.so.3",
    ]


def test_a_missing_library_is_named_with_the_exact_apt_line():
    message = sc.check_display(
        {"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":0"}, probe=lambda: sc.parse_ldd(LDD_OUTPUT), platform="linux"
    )
    assert "libxcb-cursor.so.0" in message and "libfoo-unknown.so.3" in message
    assert "    sudo apt-get install -y libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1\n" in message
    assert "provide" in message  # the library with no known package is still named for other systems


@pytest.mark.parametrize(
    "env, platform, xcb",
    [
        ({"QT_QPA_PLATFORM": "xcb"}, "linux", True),
        ({"QT_QPA_PLATFORM": "xcb;wayland"}, "linux", True),
        ({"QT_QPA_PLATFORM": "offscreen"}, "linux", False),
        ({"QT_QPA_PLATFORM": "wayland;xcb"}, "linux", False),
        ({}, "linux", True),
        ({"XDG_SESSION_TYPE": "wayland"}, "linux", False),
        ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", False),
        ({}, "darwin", False),
        ({}, "win32", False),
    ],
)
def test_only_the_xcb_platform_is_checked(env, platform, xcb):
    calls = []
    sc.check_display({**env, "DISPLAY": ":0"}, probe=lambda: calls.append(1) or [], platform=platform)
    assert bool(calls) == xcb


def test_no_display_is_said_plainly():
    message = sc.check_display({"QT_QPA_PLATFORM": "xcb"}, probe=lambda: [], platform="linux")
    assert "DISPLAY is not set" in message and "xvfb-run" in message
    assert sc.check_display({"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":0"}, probe=lambda: [], platform="linux") is None


def test_the_app_exits_with_status_2_and_the_message_before_making_its_qapplication(monkeypatch, capsys):
    from zsl_desktop.app import main

    made = []
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(sc, "default_probe", lambda: ["libxcb-cursor.so.0"])
    monkeypatch.setattr(main, "configure_torch", lambda: made.append("torch"))
    assert main.run_app(["--small"]) == sc.EXIT_MISSING
    assert "sudo apt-get install -y libxcb-cursor0" in capsys.readouterr().err
    assert not made


def test_this_machine_has_what_the_plugin_needs_or_the_probe_says_what_is_missing():
    """The real probe runs (ldd on PySide6's plugin) and names only libraries, never crashes."""
    missing = sc.default_probe()
    assert all(".so" in name for name in missing)
