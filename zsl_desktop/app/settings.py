"""Settings: an INI file under ``paths.config_dir()`` (so tests isolate it with ZSL_DESKTOP_HOME).

Why not the default QSettings(): under pytest-qt it writes into the real
home folder (UI.md 3.4), and a per-user INI file is easy to inspect or delete.
"""

from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from zsl_desktop.engine.paths import config_dir

FILE_NAME = "zsl-desktop.ini"
QT_INT_MAX = 2**31 - 1  # Qt widgets take a C int: a larger Python int raises OverflowError in setValue


class Settings:
    """Typed accessors over one QSettings INI file."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path is not None else config_dir() / FILE_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._qs = QSettings(str(self.path), QSettings.IniFormat)

    def value(self, key: str, default=None, kind=None):
        """The saved value as ``kind``; ``default`` when it does not convert or is out of range.

        The INI file can be edited by hand: a word where a number was, a number too large for a
        Qt widget (``topk=99999999999`` made the window's restore raise OverflowError), infinity.
        """
        value = self._qs.value(key, default)
        if kind is None or value is None:
            return value
        try:
            if kind is bool:
                return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
            converted = kind(value)
        except (TypeError, ValueError, OverflowError):
            return default
        if isinstance(converted, int) and not -QT_INT_MAX <= converted <= QT_INT_MAX:
            return default
        if isinstance(converted, float) and not math.isfinite(converted):
            return default
        return converted

    def set(self, key: str, value) -> None:
        self._qs.setValue(key, value)

    def remove(self, key: str) -> None:
        self._qs.remove(key)

    def bytes(self, key: str) -> QByteArray | None:
        value = self._qs.value(key)
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def sync(self) -> None:
        self._qs.sync()

    # -- the last checkpoint used with each dataset -------------------------------------------------
    def checkpoint_for(self, fingerprint: str) -> str | None:
        value = self._qs.value(f"checkpoints/{fingerprint}")
        return str(value) if value else None

    def set_checkpoint_for(self, fingerprint: str, path: str | None) -> None:
        if path:
            self._qs.setValue(f"checkpoints/{fingerprint}", str(path))
        else:
            self._qs.remove(f"checkpoints/{fingerprint}")

    def remembered_checkpoints(self) -> tuple[tuple[str, str], ...]:
        self._qs.beginGroup("checkpoints")
        try:
            return tuple((k, str(self._qs.value(k))) for k in self._qs.childKeys())
        finally:
            self._qs.endGroup()

    def last_dir(self, what: str, default: Path | None = None) -> str:
        """The folder last used for ``what``; else ``default``, else home (a folder since deleted is skipped)."""
        saved = self._qs.value(f"dirs/{what}")
        for candidate in (saved, default):
            if candidate and Path(str(candidate)).is_dir():
                return str(candidate)
        return str(Path.home())

    def set_last_dir(self, what: str, path) -> None:
        p = Path(path)
        self._qs.setValue(f"dirs/{what}", str(p if p.is_dir() else p.parent))
