"""Where per-user files live. ``ZSL_DESKTOP_HOME`` overrides everything (tests point it at a temp folder)."""
from __future__ import annotations

import os
from pathlib import Path

import appdirs

APP_NAME = "zsl-desktop"


def data_dir() -> Path:
    """Generated datasets, feature stores, user checkpoints and the class library."""
    home = os.environ.get("ZSL_DESKTOP_HOME")
    path = Path(home) / "data" if home else Path(appdirs.user_data_dir(APP_NAME))
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_dir() -> Path:
    home = os.environ.get("ZSL_DESKTOP_HOME")
    path = Path(home) / "config" if home else Path(appdirs.user_config_dir(APP_NAME))
    path.mkdir(parents=True, exist_ok=True)
    return path


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
    """The project's ``resources/`` folder (vocabularies, icons)."""
    return Path(__file__).resolve().parents[2] / "resources"
