"""The session: the one facade the app and the CLI share (see ``facade``).

``facade.Session`` owns one dataset's features, model, loose photos and the
checkpoint policy; ``opening`` makes a Session (load, extract, bring a model);
``results`` holds the plain payloads it hands out.
"""

from zsl_desktop.engine.session.facade import ModelState, NoModel, Session

__all__ = ["ModelState", "NoModel", "Session"]
