"""The opening's first stage, before torch: read the dataset and say where the model's kept predictions are.

Why (issue #19): at 100,000 images most of a start-up is importing torch and loading the model. Read
here with numpy alone, the dataset goes to the window at once (``DatasetLoaded``), with the store folder
and the checkpoint's digest, from which the window finds a snapshot of the model's scores
(``session/snapshot``) and shows it if it is proven current. Only then (``spec.before_torch``, an Event the
window sets once it has painted them or found none) does this job import the opening, and torch with it;
the two would otherwise share the GIL and the kept predictions would come later. With them on screen the user
may scroll at once: the rest of the opening then pauses while they do (``quiet.paced_imports``).
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

from zsl_desktop.engine.data import load_builtin, load_dataset
from zsl_desktop.engine.data.builtin_birds import is_generated
from zsl_desktop.engine.paths import builtin_dataset_dir
from zsl_desktop.engine.quiet import paced_imports
from zsl_desktop.engine.session.results import DatasetLoaded, Progress
from zsl_desktop.engine.session.snapshot import checkpoint_sha256
from zsl_desktop.engine.session.spec import DatasetSpec, model_candidates
from zsl_desktop.engine.store_names import plain_store_folder

BEFORE_TORCH_WAIT_S = 5.0  # the longest wait for the window's word (a window that never answers)


def open_in_two_stages(spec: DatasetSpec, control, emit_event):
    """``opening.open_session``, after a torch-free ``DatasetLoaded`` when a model's kept scores may exist."""
    spec, loaded = yield from load_before_torch(spec)
    if loaded is not None:
        yield loaded
        wait_for(spec.before_torch, control)
    if control.cancelled:
        return
    # With kept predictions on screen, torch's import (~2 s of CPU, holding the GIL in bursts) and the rest of
    # the opening pause while the user scrolls (engine/quiet.py); a first launch shows nothing yet: at once.
    with paced_imports(lambda: control.cancelled) if loaded is not None else nullcontext():
        from zsl_desktop.engine.session.opening import open_session  # torch: on this job's thread

        yield from open_session(spec, control, emit_event)


def load_before_torch(spec: DatasetSpec):
    """(spec with its dataset read, DatasetLoaded or None); yields the "load" Progress of a dataset path.

    None (and the spec as it was) for what has no kept predictions: a first launch (nothing drawn yet),
    an injected model (no checkpoint file), a model whose file or store cannot be found without torch.
    """
    if spec.model is not None:
        return spec, None
    dataset = spec.dataset
    if dataset is None and spec.source == "builtin":
        if not is_generated(builtin_dataset_dir(spec.small)):
            return spec, None
        dataset = load_builtin(small=spec.small)
    elif dataset is None and spec.path is not None:
        yield Progress("load", 0, 1, f"reading {spec.path}")
        dataset = load_dataset(Path(spec.path), spec.format)
    if dataset is None:
        return spec, None
    spec = replace(spec, dataset=dataset)
    candidates = model_candidates(spec, dataset)
    folder = plain_store_folder(dataset, spec.backbone, spec.input_size)
    digest = checkpoint_sha256(candidates[0]) if candidates and folder is not None else None
    if digest is None:
        return spec, None
    return spec, DatasetLoaded(dataset, spec.generation, folder, digest)


def wait_for(gate, control, limit: float = BEFORE_TORCH_WAIT_S) -> None:
    """Wait until ``gate`` (a threading.Event, or None: no wait) is set, cancelled, or ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while gate is not None and not gate.wait(0.02):
        if control.cancelled or time.monotonic() > deadline:
            return
