"""Opening a dataset: load or generate it, find or extract its features, bring a model, warm up.

A generator of events (``Progress``, ``DatasetReady``, ``FeaturesReady``,
``ModelSummary``, ``Notice``) in stages, so the gallery can show images while
features are extracted and the model is encoded. ``DatasetReady`` carries the
new ``Session``: from then on every command goes to it.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from zsl_desktop.engine.checkpoints import CheckpointError
from zsl_desktop.engine.data import load_builtin, load_dataset
from zsl_desktop.engine.data.builtin_birds import is_generated
from zsl_desktop.engine.paths import builtin_dataset_dir
from zsl_desktop.engine.session.encoding import encoding_progress
from zsl_desktop.engine.session.facade import Session
from zsl_desktop.engine.session.first_launch import draw_first_launch
from zsl_desktop.engine.session.results import DatasetReady, FeaturesReady, Notice, Progress
from zsl_desktop.engine.session.spec import DatasetSpec as DatasetSpec
from zsl_desktop.engine.session.spec import model_candidates
from zsl_desktop.engine.session.spec import shipped_checkpoint as shipped_checkpoint
from zsl_desktop.engine.session.spec import shipped_checkpoints as shipped_checkpoints
from zsl_desktop.engine.quiet import GATE, paced_imports
from zsl_desktop.engine.session.warmup import prewarm_imports, prewarmed, warm_up


def open_session(spec: DatasetSpec, control, emit_event):
    """Load or generate the dataset, extract its features, load a model, warm up; yields events.

    ``emit_event`` is the same sink as the yields, for callbacks (the built-in generator and
    the encoding report their progress through it).
    """
    plan: list[str] = []  # the slow stages of this opening, in order: their Progress says "step i of n"
    loads_model = spec.model is not None or bool(spec.checkpoints or spec.remembered)

    def emit(event):
        emit_event(numbered(event, plan))

    if spec.dataset is not None:
        dataset = spec.dataset
    elif spec.source == "builtin":
        root = builtin_dataset_dir(spec.small)
        if not is_generated(root):  # the first launch: the first birds with predictions, then the rest
            plan[:] = ["preview", "generate", "extract"] + ["model"] * loads_model
            candidates = [p for p in spec.checkpoints if Path(p).exists()]
            dataset = yield from numbered_all(draw_first_launch(spec, root, candidates, control), plan)
            # The full set replaces the first birds: a generation of its own, so that results
            # computed on the first birds (other rows, other indices) are dropped when they arrive.
            spec = replace(spec, generation=spec.generation + 1)
        else:
            dataset = load_builtin(small=spec.small)
    else:
        if spec.path is None:
            raise ValueError("no dataset to open: give a path or the built-in birds")
        yield Progress("load", 0, 1, f"reading {spec.path}")
        dataset = load_dataset(Path(spec.path), spec.format)
    yield Progress("load", 1, 1, f"{dataset.name}: {dataset.num_samples:,} images, {dataset.num_classes} classes")

    # Stage 1: the dataset itself. The gallery and the class editor work from here on.
    session = Session(dataset, spec.backbone, spec.input_size)
    # The images' check (a stat of every file) waits until the first predictions are on screen.
    features_ready = session.find_features(check_images=False)
    images_checked = not features_ready
    if not plan:
        plan[:] = ["extract"] * (not features_ready) + ["model"] * loads_model
    notes = tuple(f"{dataset.name}: {n}" for n in dataset.notes if "absent" in n)
    checkpoints = model_candidates(spec, dataset)
    yield DatasetReady(
        dataset,
        None,
        features_ready,
        notes,
        spec.generation,
        model_coming=spec.model is not None or bool(checkpoints),
        session=session,
    )

    # Stage 2: features (extracted once, memory-mapped afterwards).
    if not features_ready:
        yield from extract_features(session, control, plan)
        features_ready = session.features_ready
        yield FeaturesReady(spec.generation)
    if not features_ready:
        return

    # Stage 3: a model (injected, the user's last one for this dataset, or the shipped one).
    loaded = yield from bring_model(spec, session, checkpoints, plan, emit)

    # Stage 3b: the images' check put off above; images changed on disk are extracted again, then
    # the model encodes them again, and its new predictions replace those shown.
    if not images_checked:
        if session.model is not None and not wait_for_gate(spec.warm_up_after, control):
            return
        with paced_imports(lambda: control.cancelled):  # it stats every image: it pauses while the user scrolls
            changed = session.changed_images()
        if changed:
            yield Notice(f"{changed:,} images changed on disk since their features were extracted: extracting again")
            yield from extract_features(session, control, plan)
            if not session.features_ready:
                return
            yield FeaturesReady(spec.generation)
            if spec.model is not None or loaded is not None:
                yield from bring_model(spec, session, [loaded] if loaded else [], plan, emit)

    # Stage 4: warm-up, so the first real scoring and training step do not stall the GUI.
    # After the first predictions, not before: they need no optimizer, and torch's first one
    # imports torch._dynamo (1.4 s), which used to delay the first predictions by as much.
    if spec.warm_up:
        if session.model is not None and not wait_for_gate(spec.warm_up_after, control):
            return
        # Its imports hold the GIL for over a second: not while the user scrolls or edits (engine/quiet.py).
        if not prewarmed() and not GATE.wait(lambda: control.cancelled):
            return
        yield Progress("warmup", 0, 1, "warming up")
        with paced_imports(lambda: control.cancelled):  # the user back meanwhile: each next module waits
            prewarm_imports()
            if control.cancelled:  # the window closed meanwhile: no training step to warm up
                return
            warm_up(session)
        yield Progress("warmup", 1, 1, "ready")


def extract_features(session, control, plan: list):
    """The session's features extracted (or their changed images extracted again), as "extract" Progress."""
    for p in session.prepare_features(cancel=control):
        yield numbered(
            Progress("extract", p.done, p.total, p.message or "extracting image features", p.images_per_second),
            plan,
        )


def bring_model(spec: DatasetSpec, session, checkpoints, plan: list, emit):
    """Make the spec's injected model, or the first of ``checkpoints`` that loads, active; yields its
    ModelSummary (and a Notice per checkpoint that did not fit). Returns the checkpoint path it loaded
    (None for an injected model or none)."""
    if spec.model is not None:
        method, header, source = spec.model
        yield numbered(Progress("model", 0, 1, "encoding every image with the model"), plan)
        state = session.use_method(
            method, header, progress=encoding_progress(emit, "encoding every image with the model")
        )
        yield session.summary(source, state)
        return None
    for path in checkpoints:
        yield numbered(Progress("model", 0, 1, f"loading {Path(path).name}"), plan)
        try:
            summary = session.load_model(path, emit)
        except (CheckpointError, ValueError, KeyError) as exc:
            yield Notice(str(exc) if str(path) in str(exc) else f"{path}: {exc}")
            continue
        yield summary
        return path
    return None


WARM_UP_WAIT_S = 10.0  # the warm-up's longest wait for the first predictions (an app that never shows any)


def wait_for_gate(gate, control, limit: float = WARM_UP_WAIT_S) -> bool:
    """Wait until ``gate`` (a threading.Event, or None: no wait) is set, at most ``limit`` seconds.

    Why: on two cores the warm-up (torch's lazy imports, one training step) and the first predictions'
    jobs share the GIL; measured at start-up, running both at once delayed the predictions. False when
    ``control`` was cancelled meanwhile.
    """
    deadline = time.monotonic() + limit
    while gate is not None and not gate.wait(0.05):
        if control.cancelled or time.monotonic() > deadline:
            break
    return not control.cancelled


def numbered_all(events, plan: list):
    """Each of ``events`` numbered (see ``numbered``); returns what the ``events`` generator returns."""
    while True:
        try:
            event = next(events)
        except StopIteration as end:
            return end.value
        yield numbered(event, plan)


def numbered(event, plan: list):
    """``event`` with its step among ``plan`` (the opening's slow stages) when it is the Progress of one."""
    if isinstance(event, Progress) and event.stage in plan and len(plan) > 1:
        return replace(event, step=plan.index(event.stage) + 1, steps=len(plan))
    return event
