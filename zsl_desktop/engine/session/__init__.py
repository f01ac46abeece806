"""The session: the one facade the app and the CLI share (see ``facade``).

``facade.Session`` owns one dataset's features, model, loose photos and the
checkpoint policy; ``opening`` makes a Session (load, extract, bring a model);
``results`` holds the plain payloads it hands out.

The three names below are imported on first use (PEP 562): ``facade`` imports torch
(~2 s of CPU), and the app's start-up modules import the plain payloads of ``results``
through this package; they must not pay for torch before the first predictions (issue #19).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zsl_desktop.engine.session.facade import ModelState, NoModel, Session

__all__ = ["ModelState", "NoModel", "Session"]


def __getattr__(name: str):
    if name in __all__:
        return getattr(importlib.import_module("zsl_desktop.engine.session.facade"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
