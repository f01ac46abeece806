"""The session: the one facade the app and the CLI share (see ``facade``).

``facade.Session`` owns one dataset's features (found and prepared by its mixin ``features_in_use``), model,
loose photos and the checkpoint policy; what its commands compute lives beside it, one module each (``encoding``,
``live_scoring``, ``evaluating``, ``feature_stores``, ``feature_view``, ``adding_photos``,
``training_job``); ``opening`` makes a Session (load, extract, bring a model);
``results`` holds the plain payloads it hands out, ``model_state`` the active model.

The three names below are imported on first use (PEP 562): ``facade`` imports torch
(~2 s of CPU), and the app's start-up modules import the plain payloads of ``results``
through this package; they must not pay for torch before the first predictions (issue #19).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zsl_desktop.engine.session.facade import Session
    from zsl_desktop.engine.session.model_state import ModelState, NoModel

__all__ = ["ModelState", "NoModel", "Session"]
_HOMES = {"ModelState": "model_state", "NoModel": "model_state", "Session": "facade"}


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(importlib.import_module(f"zsl_desktop.engine.session.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
