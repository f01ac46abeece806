"""The app's Train job: train on the session's features (the one checkpoint policy), then use the new model."""

from __future__ import annotations

from zsl_desktop.engine.session.encoding import encoding_progress
from zsl_desktop.engine.session.results import Progress, TrainDone
from zsl_desktop.engine.session.snapshot import checkpoint_sha256
from zsl_desktop.engine.training import Finished, default_checkpoint_path


def train_and_use(session, config, control, emit, autosave: bool = True):
    """Train (saved to the default checkpoint file with ``autosave``), then make the new model ``session``'s
    active one, its live work prepared.

    Yields the training events (without ``Finished``) and ends with a ``TrainDone``.
    """
    path = default_checkpoint_path(session.dataset, config.method, session.checkpoint_dir()) if autosave else None
    yield from session.prepare_mirrored(config.flips, control)
    finished = None
    for event in session.train(config, control, save_to=path):
        if isinstance(event, Finished):
            finished = event
        else:
            yield event
    if finished is None or finished.cancelled or finished.report is None:
        yield TrainDone(True, None, None)  # the panel says what stays active (it knows whether any model does)
        return
    yield Progress("model", 0, 1, "encoding every image with the new model")
    state = session.use_method(
        finished.method,
        finished.header,
        progress=encoding_progress(emit, "encoding every image with the new model"),
    )
    if finished.checkpoint is not None:  # saved: its scores are kept for the next start, as a loaded model's are
        session.kept.model_from(checkpoint_sha256(finished.checkpoint))
    session.prepare_live()  # as load_model_job does
    source = str(finished.checkpoint) if finished.checkpoint is not None else "trained in this session"
    yield TrainDone(False, session.summary(source, state), finished.report)
