"""Where per-user files live. ``ZSL_DESKTOP_HOME`` overrides everything (tests point it at a temp folder)."""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

import appdirs

from zsl_desktop.engine.errors import ZslError

APP_NAME = "zsl-desktop"


class UserFolderError(ZslError, OSError):
    """The app's own folder (data or settings) cannot be made: a read-only home, a full disk, a file in the way."""


def _made(path: Path, what: str) -> Path:
    """``path``, created if need be; else a UserFolderError that says which folder and what to do."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserFolderError(
            f"cannot create the app's {what} folder {path}: {exc.strerror or exc}; make it writable, "
            f"or set ZSL_DESKTOP_HOME to a folder you can write"
        ) from None
    return path


def data_dir(create: bool = True) -> Path:
    """Generated datasets, feature stores, user checkpoints, the class library and the log (made unless not ``create``)."""
    home = os.environ.get("ZSL_DESKTOP_HOME")
    path = Path(home) / "data" if home else Path(appdirs.user_data_dir(APP_NAME))
    return _made(path, "data") if create else path


def config_dir() -> Path:
    home = os.environ.get("ZSL_DESKTOP_HOME")
    path = Path(home) / "config" if home else Path(appdirs.user_config_dir(APP_NAME))
    return _made(path, "settings")


def builtin_dataset_dir(small: bool = False) -> Path:
    return data_dir() / "datasets" / ("builtin_birds_small" if small else "builtin_birds")


def feature_store_dir() -> Path:
    return data_dir() / "features"


def shared_data_dir() -> Path | None:
    """The real benchmark files beside the checkout (``../shared/zsl_data``), if present."""
    env = os.environ.get("ZSL_SHARED_DATA")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve()
    candidates += [p / "shared" / "zsl_data" for p in here.parents]
    for c in candidates:
        if (c / "README.md").exists() and (c / "xlsa17").is_dir():
            return c
    return None


def resources_dir() -> Path:
    """The shipped ``resources/`` folder (attribute vocabularies and their word vectors)."""
    return _shipped_folder("resources")


def shipped_models_dir() -> Path:
    """The shipped ``trained/`` folder: the models made for the built-in birds (``<method>_builtin.pt``)."""
    return _shipped_folder("trained")


def _shipped_folder(name: str) -> Path:
    """A folder that ships with the program, in an installed wheel or in a checkout.

    The checkout keeps ``resources/`` and ``trained/`` beside the package; the wheel
    carries them inside it as ``zsl_desktop/resources`` and ``zsl_desktop/trained``
    (pyproject's package-dir). An installed package is a plain folder, so the
    resource is a real path that numpy, torch and file dialogs can open.
    """
    package = importlib.resources.files("zsl_desktop")
    installed = package / name
    if isinstance(installed, Path) and installed.is_dir():
        return installed.resolve()
    return Path(str(package)).resolve().parent / name  # checkout or editable install
