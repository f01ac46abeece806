"""Long jobs the bridge runs on its dedicated thread, written without Qt.

Why Qt-free: each is an engine generator plus the bookkeeping the app needs
(which checkpoint to try, warm-up, autosave), so tests can run it
synchronously and the bridge stays a thin owner of threads and signals.
A job is ``job(control, emit)`` yielding events; ``emit`` is the same sink,
for callbacks (the built-in generator reports progress through one).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zsl_desktop.app.context import EngineContext, summarize
from zsl_desktop.app.results import (
    DatasetReady, FeaturesReady, Notice, Progress, TrainDone, TrainProgress,
)
from zsl_desktop.engine.methods.base import Step


def shipped_checkpoint() -> Path:
    """The MSDN model that ships for the built-in birds (``msdn_builtin.pt`` in the shipped ``trained/``)."""
    from zsl_desktop.engine.paths import shipped_models_dir

    return shipped_models_dir() / "msdn_builtin.pt"


def shipped_checkpoints() -> list[Path]:
    """Every model that ships in ``trained/`` for the built-in birds (``<method>_builtin.pt``), MSDN first.

    (The real-bird model, ``ce-gzsl_cub.pt``, is not one: ``engine/real_birds.py`` loads it for photos.)
    """
    folder = shipped_checkpoint().parent
    found = sorted(folder.glob("*_builtin.pt")) if folder.is_dir() else []
    return sorted(found, key=lambda p: (p.name != "msdn_builtin.pt", p.name))


@dataclass(frozen=True)
class DatasetSpec:
    """What to open: the built-in birds, a dataset path, or a Dataset object (tests, injection)."""

    source: str = "builtin"  # "builtin" | "path" | "object"
    path: str | None = None
    format: str | None = None
    small: bool = False
    dataset: object | None = None
    checkpoints: tuple = ()  # paths to try in order; the first compatible one is loaded
    remembered: tuple = ()  # (dataset fingerprint, checkpoint path): the user's last model per dataset
    use_remembered: bool = True  # False: exactly ``checkpoints`` (the bench measures the shipped model)
    model: tuple | None = None  # (method, header, source) to use directly
    backbone: str = "efficientnet_lite0"
    input_size: int = 224
    warm_up: bool = True
    generation: int = 0

    @property
    def title(self) -> str:
        if self.dataset is not None:
            return getattr(self.dataset, "name", "dataset")
        if self.source == "builtin":
            return "built-in birds" + (" (small)" if self.small else "")
        return Path(self.path or "").name or str(self.path)


def open_dataset_job(ctx: EngineContext, spec: DatasetSpec):
    """Load or generate the dataset, extract its features, load a model, warm up; yields events."""

    def job(control, emit_event):
        from zsl_desktop.engine.checkpoints import CheckpointError
        from zsl_desktop.engine.data import load_builtin, load_dataset
        from zsl_desktop.engine.data.builtin_birds import is_generated
        from zsl_desktop.engine.paths import builtin_dataset_dir
        from zsl_desktop.engine.session import Session

        from zsl_desktop.engine.features import FeatureStore

        plan = []  # the slow stages of this opening, in order: their Progress says "step i of n"
        loads_model = spec.model is not None or bool(spec.checkpoints or spec.remembered)

        def emit(event):
            emit_event(numbered(event, plan))

        if spec.dataset is not None:
            dataset = spec.dataset
        elif spec.source == "builtin":
            root = builtin_dataset_dir(spec.small)
            if not is_generated(root):  # the first launch: draw the birds, extract, load the model
                plan[:] = ["generate", "extract"] + ["model"] * loads_model
                start = time.perf_counter()

                def progress(done, total):
                    rate = done / max(time.perf_counter() - start, 1e-6)
                    emit(Progress("generate", done, total, "drawing the built-in birds", rate))

                emit(Progress("generate", 0, 1, "drawing the built-in birds"))
                dataset = load_builtin(small=spec.small, progress=progress, cancel=control)
            else:
                dataset = load_builtin(small=spec.small)
        else:
            yield Progress("load", 0, 1, f"reading {spec.path}")
            dataset = load_dataset(Path(spec.path), spec.format)
        yield Progress("load", 1, 1, f"{dataset.name}: {dataset.num_samples:,} images, {dataset.num_classes} classes")

        # Stage 1: the dataset itself. The gallery and the class editor work from here on.
        session = Session(dataset, spec.backbone, spec.input_size)
        if dataset.has_images:
            session.store = FeatureStore.open(dataset, session.backbone, session.input_size)
        features_ready = session.store is not None or dataset.features is not None
        if not plan:
            plan[:] = ["extract"] * (not features_ready) + ["model"] * loads_model
        ctx.session = session
        ctx.generation = spec.generation
        ctx.reset_loose()
        notes = tuple(f"{dataset.name}: {n}" for n in dataset.notes if "absent" in n)
        checkpoints = model_candidates(spec, dataset)
        yield DatasetReady(dataset, None, features_ready, notes, spec.generation,
                           model_coming=spec.model is not None or bool(checkpoints))

        # Stage 2: features (extracted once, memory-mapped afterwards).
        if not features_ready:
            for p in session.prepare_features(cancel=control):
                yield numbered(Progress("extract", p.done, p.total, p.message or "extracting image features",
                                        p.images_per_second), plan)
            features_ready = session.store is not None
            yield FeaturesReady(spec.generation)
        if not features_ready:
            return

        # Stage 3: a model (injected, the user's last one for this dataset, or the shipped one).
        if spec.model is not None:
            method, header, source = spec.model
            yield numbered(Progress("model", 0, 1, "encoding every image with the model"), plan)
            session.use_method(method, header,
                               progress=encoding_progress(emit, "encoding every image with the model"))
            ctx.invalidate_codes()
            yield summarize(method, header, source)
        else:
            for path in checkpoints:
                yield numbered(Progress("model", 0, 1, f"loading {Path(path).name}"), plan)
                try:
                    state = load_model(session, path, emit)
                except (CheckpointError, ValueError, KeyError) as exc:
                    yield Notice(str(exc) if str(path) in str(exc) else f"{path}: {exc}")
                    continue
                ctx.invalidate_codes()
                yield summarize(state.method, state.header, str(path))
                break

        # Stage 4: warm-up, so the first real scoring and training step do not stall the GUI.
        # After the model, not before: predictions need no optimizer, and torch's first one
        # imports torch._dynamo (1.4 s), which used to delay the first predictions by as much.
        if spec.warm_up:
            yield Progress("warmup", 0, 1, "warming up")
            prewarm_imports()
            warm_up(session)
            yield Progress("warmup", 1, 1, "ready")

    return job


def model_candidates(spec: DatasetSpec, dataset) -> list:
    """The checkpoint files an open job tries, in order: the user's last model for this dataset, then the spec's."""
    remembered = [p for fp, p in spec.remembered if fp == dataset.fingerprint]
    ordered = remembered + [p for p in spec.checkpoints if str(p) not in remembered]
    return [p for p in ordered if Path(p).exists()]


def numbered(event, plan: list):
    """``event`` with its step among ``plan`` (the opening's slow stages) when it is the Progress of one."""
    if isinstance(event, Progress) and event.stage in plan and len(plan) > 1:
        from dataclasses import replace

        return replace(event, step=plan.index(event.stage) + 1, steps=len(plan))
    return event


def load_checkpoint_job(ctx: EngineContext, path: str):
    def job(control, emit):
        session = ctx.session
        yield Progress("model", 0, 1, f"loading {Path(path).name}")
        state = load_model(session, path, emit)  # CheckpointError reaches the user as is
        ctx.invalidate_codes()
        yield summarize(state.method, state.header, str(path))

    return job


def train_job(ctx: EngineContext, config, autosave: bool = True):
    """Train on the session's features; at the end the new model becomes the active one."""

    def job(control, emit):
        from zsl_desktop.engine.checkpoints import save_checkpoint
        from zsl_desktop.engine.training import Finished, default_checkpoint_path, train

        session = ctx.session
        path = default_checkpoint_path(session.dataset, config.method, session.checkpoint_dir())
        if autosave:  # a model that could not be saved is said now, not after the whole run
            from zsl_desktop.engine.userfiles import check_writable

            check_writable(path, "checkpoint")
        finished = None
        for event in train(session.dataset, session.features, config, control):
            if isinstance(event, Finished):
                finished = event
                continue
            yield event
        if finished is None or finished.cancelled or finished.report is None:
            yield TrainDone(True, None, None)  # the panel says what stays active (it knows whether any model does)
            return
        yield Progress("model", 0, 1, "encoding every image with the new model")
        session.use_method(finished.method, finished.header,
                           progress=encoding_progress(emit, "encoding every image with the new model"))
        ctx.invalidate_codes()
        source = "trained in this session"
        if autosave:
            try:
                save_checkpoint(path, finished.header, finished.method.state_dict())
                source = str(path)
            except OSError as exc:
                yield TrainDone(False, summarize(finished.method, finished.header, source), finished.report,
                                f"could not save {path}: {exc}")
                return
        yield TrainDone(False, summarize(finished.method, finished.header, source), finished.report)

    return job


def load_model(session, path, emit=None):
    """``session.use_checkpoint`` of the file: it switches nothing unless everything succeeded.

    With ``emit``, encoding every image reports its count and rate (an ETA): the first load of an SGMA
    model runs the backbone on two part crops per image, a minute or more on a CPU.
    """
    from zsl_desktop.engine.checkpoints import load_checkpoint

    checkpoint = load_checkpoint(path)
    progress = None
    if emit is not None:
        what = f"encoding the images with {Path(path).name}"
        if checkpoint.header.get("method") == "sgma":  # the crops are cached: later loads take seconds
            what = f"first load of {Path(path).name}: the part crops of every image (then cached)"
        progress = encoding_progress(emit, what)
    return session.use_checkpoint(checkpoint, progress)


def encoding_progress(emit, message: str, every: float = 0.25):
    """A ``progress(done, total)`` for the session's encoding that emits "model" Progress with a rate (at most 4/s)."""
    start = time.perf_counter()
    last = [start]

    def report(done: int, total: int) -> None:
        now = time.perf_counter()
        if done < total and now - last[0] < every:
            return
        last[0] = now
        emit(Progress("model", int(done), int(total), message, done / max(now - start, 1e-6)))

    return report


_PREWARMED = []


def prewarm_imports() -> None:
    """Pay torch's lazy imports (the first optimizer pulls in ~1.4 s of them) before the first training run.

    Run after the first predictions (they need none of it), in the worker.
    """
    if _PREWARMED:
        return
    import gc

    import torch

    from zsl_desktop.engine.methods.base import method_names

    # The import creates ~300k objects, which set off full garbage collections; each walks every
    # object while holding the GIL (py-spy: ~200 ms GUI stalls), so the collector waits it out.
    collecting = gc.isenabled()
    gc.disable()
    try:
        p = torch.nn.Parameter(torch.zeros(1))
        torch.optim.RMSprop([p])
        torch.optim.Adam([p])
        method_names()
    finally:
        if collecting:
            gc.enable()
    _PREWARMED.append(True)


def warm_up(session) -> None:
    """One scoring pass, one explanation and one training step, so the first real ones do not stall the GUI."""
    import torch

    from zsl_desktop.engine.methods.base import Control, TrainData
    from zsl_desktop.engine.training import TrainConfig, build_method

    dataset = session.dataset
    with torch.inference_mode():
        if session.model is not None:
            session.scores(dataset.class_attributes, rows=[0])
            try:
                feats = session.features.rows(session.model.method.feature_kind, [0])[0]
                session.model.method.explain(feats)
            except ValueError:
                pass
    try:
        method = build_method(dataset, session.features, TrainConfig(device=session.device))
    except (ValueError, KeyError):
        return
    rows = dataset.splits["trainval"][:4]
    data = TrainData(features=session.features, train_index=rows, train_labels=dataset.labels[rows],
                     class_attributes=dataset.class_attributes, seen_classes=dataset.seen_classes,
                     unseen_classes=dataset.unseen_classes, attribute_names=dataset.attribute_names,
                     device=session.device, seed=0)
    steps = method.fit(data, Control(), epochs=1)
    try:
        next(steps)
    except StopIteration:
        pass
    finally:
        steps.close()


# -- coalescing training steps ------------------------------------------------------------------------
@dataclass
class StepCoalescer:
    """Collects every Step and hands them out at most ``rate`` times a second, as one TrainProgress."""

    rate: float = 15.0
    phase: str = ""
    _steps: list = field(default_factory=list)
    _last: float = 0.0
    _started: float = field(default_factory=time.perf_counter)
    _first_step: int = 0

    def reset(self, phase: str) -> None:
        self.phase = phase
        self._steps = []
        self._started = time.perf_counter()
        self._first_step = 0

    def add(self, step: Step, now: float | None = None) -> TrainProgress | None:
        if not self._steps and self._first_step == 0:
            self._first_step = step.step
            self._started = time.perf_counter()
        self._steps.append(step)
        now = time.perf_counter() if now is None else now
        if now - self._last >= 1.0 / self.rate:
            self._last = now
            return self.flush()
        return None

    def flush(self) -> TrainProgress | None:
        if not self._steps:
            return None
        steps, self._steps = self._steps, []
        last = steps[-1]
        names = sorted({k for s in steps for k in s.losses})
        losses = {k: np.array([s.losses.get(k, np.nan) for s in steps], np.float32) for k in names}
        elapsed = time.perf_counter() - self._started
        rate = (last.step - self._first_step + 1) / elapsed if elapsed > 0 else 0.0
        return TrainProgress(self.phase, last.step, last.total, last.epoch, rate,
                             np.array([s.step for s in steps], np.int64), losses)
