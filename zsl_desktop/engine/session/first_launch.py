"""The first launch on the built-in birds: predictions on the first birds in seconds, the rest behind them.

Measured on a quiet 2-core machine, the first launch took 52 s before the first prediction: 33 s
drawing the 3,000 birds one after another, 16 s extracting their features, 2-3 s for the model.
Now (``builtin_chunks``): a first chunk of four birds per species is drawn on one process per
core and extracted, and the shipped model is made active on it, so predictions show within
seconds; then the other birds are drawn, every feature extracted and the full dataset opened
with its model (``opening.open_session`` carries on with it), with progress and an ETA all along.

The preview is a ``Dataset`` of its own (the first chunk's CUB tables, its own small feature
store inside the partial folder): the shipped model is made for the full dataset, whose
fingerprint the preview cannot have, so it is used on the preview only when its classes,
seen/unseen split and attributes are the preview's; the full dataset then loads it with the
complete check. Cancel, or closing the app, stops between chunks: the birds drawn so far stay
(see ``builtin_chunks``) and the extraction keeps its finished rows, so a re-launch continues.
"""

from __future__ import annotations

from pathlib import Path

from zsl_desktop.engine.checkpoints import CheckpointError, load_checkpoint
from zsl_desktop.engine.data.builtin_chunks import BirdDrawing
from zsl_desktop.engine.data.cub import load_cub
from zsl_desktop.engine.errors import JobCancelled
from zsl_desktop.engine.features import extract
from zsl_desktop.engine.session.facade import Session
from zsl_desktop.engine.session.results import DatasetReady, FeaturesReady, Notice, Progress
from zsl_desktop.engine.training import method_from_checkpoint

TRAIN_PER_CLASS = 2  # birds of the first chunk per species, from its training half ...
TEST_PER_CLASS = 2  # ... and from its test half (a seen class needs a training image to be a dataset)


def draw_first_launch(spec, root: Path, checkpoints, control, workers: int | None = None):
    """Generator of the opening's events until every bird is drawn and extracted; returns the full Dataset.

    ``checkpoints``: the model files to try on the preview (the first that fits is used).
    Stages: "preview" (the first birds: drawn, extracted, the model on them), "generate"
    (the other birds) and "extract" (the full dataset's features, into the usual store).
    """
    name = "builtin-small" if spec.small else "builtin"
    drawing = BirdDrawing(root, spec.small, workers=workers)
    try:
        first = drawing.first_chunk(TRAIN_PER_CLASS, TEST_PER_CLASS)
        yield Progress("preview", len(first) - len(drawing.missing(first)), len(first), "drawing the first birds")
        for _, rate in drawing.draw(first, control):
            done = len(first) - len(drawing.missing(first))
            yield Progress("preview", done, len(first), "drawing the first birds", rate)
        preview = drawing.dataset(first, name)
        session = Session(preview, spec.backbone, spec.input_size)
        yield DatasetReady(
            preview,
            None,
            False,
            generation=spec.generation,
            model_coming=bool(checkpoints),
            session=session,
            coming=drawing.total,
        )
        store = yield from _progress(
            "preview",
            "extracting the first birds' features",
            extract(preview, spec.backbone, spec.input_size, root=drawing.preview_features(), cancel=control),
        )
        session.store = store
        yield FeaturesReady(spec.generation)
        yield from preview_model(session, checkpoints)

        message = "drawing the other birds (predictions above are on the first ones)"
        yield Progress("generate", drawing.drawn, drawing.total, message)
        for drawn, rate in drawing.draw(drawing.plan, control):
            yield Progress("generate", drawn, drawing.total, message, rate)
        full = drawing.dataset(drawing.plan, name)
        yield from _progress(
            "extract", "extracting image features", extract(full, spec.backbone, spec.input_size, cancel=control)
        )
        drawing.install()
    except JobCancelled as stop:
        yield Notice(f"Stopped: {stop}. The next launch continues where this one stopped.")
        raise
    finally:
        drawing.close()
    return load_cub(root, name=name)


def _progress(stage: str, message: str, extraction):
    """Forward an extraction's progress as the opening's ``stage``; returns its FeatureStore."""
    while True:
        try:
            p = next(extraction)
        except StopIteration as end:
            return end.value
        yield Progress(stage, p.done, p.total, p.message or message, p.images_per_second)


def preview_model(session: Session, checkpoints):
    """Make the first model in ``checkpoints`` that fits the preview active on it; yields its ModelSummary.

    Fits: the same classes, seen/unseen split, attributes, backbone and input size, and no mirrored
    test view (the preview has no mirrored store). Nothing is said about those that do not fit:
    the full dataset tries them again with the complete check, and says why one is refused.
    """
    dataset = session.dataset
    for path in checkpoints:
        try:
            checkpoint = load_checkpoint(path)
        except (CheckpointError, OSError, ValueError):
            continue
        h = checkpoint.header
        fits = (
            list(h.get("class_names", ())) == list(dataset.classes)
            and list(h.get("attribute_names", ())) == list(dataset.attribute_names)
            and list(h.get("seen_classes", ())) == dataset.seen_classes.tolist()
            and h.get("backbone", session.backbone) == session.backbone
            and int(h.get("input_size", session.input_size)) == session.input_size
            and h.get("flips", "none") in ("none", "train")
        )
        if not fits:
            continue
        yield Progress("preview", 0, 1, f"loading {Path(path).name} for the first birds")
        try:
            method = method_from_checkpoint(checkpoint).to(session.device)
        except CheckpointError:
            continue
        state = session.use_method(method, h)
        yield session.summary(str(path), state)
        return
