"""Before the first window: can Qt's X11 (xcb) platform plugin load on this machine?

Why: on a fresh Debian/Ubuntu machine the plugin's system libraries (``libxcb-cursor0``,
``libxcb-icccm4``, ...) are often missing, and Qt then aborts the interpreter with a message
that does not say what to install. This check runs before the QApplication is made, only when
the platform will be xcb, and names the missing files and the ``apt-get`` line that installs them.
Nothing here imports Qt's GUI modules (loading them is what aborts).
"""

from __future__ import annotations

import ctypes.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterable

# Every library the xcb plugin (and libQt6XcbQpa, libQt6Gui) needs beyond a base system, with the
# Debian/Ubuntu package that ships it. From `readelf -d` of PySide6 6.11's libqxcb.so, libQt6XcbQpa.so.6
# and libQt6Gui.so.6, mapped with `dpkg -S` on Debian 12.
XCB_PACKAGES: dict[str, str] = {
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libdbus-1.so.3": "libdbus-1-3",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxcb.so.1": "libxcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
}

EXIT_MISSING = 2  # the exit status when the app cannot start for a reason printed on stderr


def platform_will_be_xcb(env=None, platform: str | None = None) -> bool:
    """True when Qt will pick its X11 plugin: Linux (or BSD), and QT_QPA_PLATFORM says xcb or,
    unset, the session is not Wayland (Qt 6 prefers its Wayland plugin there)."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if platform.startswith(("win", "darwin", "cygwin")):
        return False
    chosen = env.get("QT_QPA_PLATFORM", "").strip()
    if chosen:
        return chosen.split(";")[0].split(":")[0].strip() == "xcb"
    return env.get("XDG_SESSION_TYPE", "") != "wayland" and not env.get("WAYLAND_DISPLAY")


def xcb_plugin_path() -> Path | None:
    """PySide6's ``libqxcb.so`` (found without importing QtGui), or None."""
    try:
        import PySide6
    except ImportError:
        return None
    path = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return path if path.is_file() else None


def ldd_missing(plugin: Path) -> list[str] | None:
    """Libraries ``ldd`` reports as "not found" for ``plugin`` (direct and indirect); None without ldd."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return None
    try:
        out = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_ldd(out)


def parse_ldd(text: str) -> list[str]:
    """The sonames of ``ldd`` output lines like ``libxcb-cursor.so.0 => not found``, in order, once each."""
    missing = []
    for line in text.splitlines():
        name, sep, where = line.strip().partition("=>")
        if sep and where.strip() == "not found" and name.strip() not in missing:
            missing.append(name.strip())
    return missing


def find_library_missing(names: Iterable[str] = XCB_PACKAGES) -> list[str]:
    """Fallback without ldd: the known libraries the dynamic linker's cache does not list."""
    return [n for n in names if ctypes.util.find_library(n.split(".so")[0].removeprefix("lib")) is None]


def default_probe() -> list[str]:
    """Missing libraries of the xcb plugin on this machine (empty when it will load)."""
    plugin = xcb_plugin_path()
    if plugin is None:
        return []  # not PySide6's wheel layout: let Qt speak for itself
    found = ldd_missing(plugin)
    return find_library_missing() if found is None else found


def missing_message(missing: list[str]) -> str:
    """What to tell the user: the missing files, their packages and the exact command."""
    packages = []
    for name in missing:
        package = XCB_PACKAGES.get(name)
        if package and package not in packages:
            packages.append(package)
    lines = [
        "ZSL Desktop cannot open a window: Qt's X11 (xcb) platform plugin needs these system "
        "libraries, which are missing:"
    ]
    lines += [
        f"    {name}" + (f"  (Debian/Ubuntu package {XCB_PACKAGES[name]})" if name in XCB_PACKAGES else "")
        for name in missing
    ]
    if packages:
        lines += ["Install them on Debian or Ubuntu with:", f"    sudo apt-get install -y {' '.join(packages)}"]
    unknown = [n for n in missing if n not in XCB_PACKAGES]
    if unknown:
        lines.append(
            "Other distributions: install the packages that provide "
            + ", ".join(unknown if not packages else missing)
            + "."
        )
    lines.append('(README.md, "System requirements", lists everything the app needs.)')
    return "\n".join(lines)


def check_display(env=None, probe: Callable[[], list[str]] | None = None, platform: str | None = None) -> str | None:
    """None when the window can open; otherwise the message to print (and exit with ``EXIT_MISSING``).

    ``probe`` lists the missing libraries (default: :func:`default_probe`; tests inject one).
    """
    env = os.environ if env is None else env
    if not platform_will_be_xcb(env, platform):
        return None
    missing = (probe or default_probe)()
    if missing:
        return missing_message(missing)
    if not env.get("DISPLAY"):
        return (
            "ZSL Desktop cannot open a window: no X display (DISPLAY is not set). Start it from a desktop "
            "session, or under a virtual one: xvfb-run -a zsl-desktop"
        )
    return None
