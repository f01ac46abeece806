"""The training loop shared by every method: selection on validation, checkpoints, resume.

``train(...)`` is a generator of events (the method's ``Step``/``EpochEnd``
plus the ``Phase``/``Validation``/``Finished`` events of ``events``); the CLI draws a
progress bar from it, the GUI worker forwards it as signals.

Model selection (METHODS.md decision 1):
- ``select="validation"`` (default, ``validation_selection``): phase 1 trains once per fold, each fold
  holding out another group of seen classes as pseudo-unseen, evaluates every
  epoch and records validation H against the share of held-out seen images
  sent to unseen classes (``engine.selection``). The fold-mean curve, smoothed
  over epochs, gives the epoch and that share. Phase 2 retrains for that many
  epochs (same seed) and puts gamma at that share, the method's way
  (``Method.gamma_transfer``): on trainval minus a few calibration images per
  class, gamma rejecting that share of them; or on all of trainval, gamma the
  mean of the fold models' gammas there. A method may ask for several final
  models (``Method.final_models``, MSDN: 5), trained one after another with
  their own seeds and averaged (``final_models``). The test split is never
  looked at before the end.
- ``select="test"`` (``reproduction``): one phase on trainval, evaluated on the test split every
  epoch, best H kept. Only for reproducing published tables; every report
  says so.

Where the parts are: ``config`` (TrainConfig, the constants), ``events``, ``phases`` (the phase runner shared by
both modes: resume files, the out-of-memory fallback), ``validation_selection`` / ``reproduction`` (the two modes),
``final_models``, ``finish`` (test report and checkpoint), ``models`` (a method from a config or a checkpoint),
``headers`` (a checkpoint's header, its default path), ``inputs`` (what ``fit`` gets). The resume files
themselves are in ``engine.resume``, the validation folds in ``engine.selection``.
"""

from __future__ import annotations

from pathlib import Path

from zsl_desktop.engine.data.model import Dataset
from zsl_desktop.engine.events import Control
from zsl_desktop.engine.feature_source import FeatureSource
from zsl_desktop.engine.methods import default_epochs
from zsl_desktop.engine.resume import load_resume, resume_path

from .config import (
    CALIBRATION_FRACTION,
    FINAL_SEED_STEP,
    GAMMA_TRANSFERS,
    SELECTION_FOLDS,
    SELECTIONS,
    SMOOTH_EPOCHS,
    TrainConfig,
)
from .events import Finished, Phase, Validation
from .finish import finish
from .headers import default_checkpoint_path, make_header
from .inputs import pick_device, train_data, with_flips
from .models import build_method, inference_state, method_from_checkpoint
from .reproduction import select_on_test
from .validation_selection import select_on_validation, validation_metrics
from .phases import Run

__all__ = [
    "CALIBRATION_FRACTION",
    "FINAL_SEED_STEP",
    "GAMMA_TRANSFERS",
    "SELECTIONS",
    "SELECTION_FOLDS",
    "SMOOTH_EPOCHS",
    "Finished",
    "Phase",
    "TrainConfig",
    "Validation",
    "build_method",
    "default_checkpoint_path",
    "inference_state",
    "make_header",
    "method_from_checkpoint",
    "pick_device",
    "resume_path",
    "train",
    "train_data",
    "validation_metrics",
    "with_flips",
]


def train(
    dataset: Dataset,
    features: FeatureSource,
    config: TrainConfig,
    control: Control | None = None,
    checkpoint_path: Path | None = None,
    resume: bool = False,
):
    """Generator of training events; its return value (and last event) is a ``Finished``.

    With a ``checkpoint_path``, the state after every epoch goes to a resume file
    beside it; ``resume=True`` continues an interrupted run from there. With a gate
    (``control.defer_to``), the run waits for live jobs mid-batch too (``Control.paused_mid_batch``).
    """
    control = control or Control()
    run = _train_events(dataset, features, config, control, checkpoint_path, resume)
    return (yield from control.paused_mid_batch(run))


def _train_events(dataset, features, config, control, checkpoint_path, resume):
    """``train``'s events, without the mid-batch pauses."""
    if config.select not in SELECTIONS:
        raise ValueError(f"select must be one of {SELECTIONS}")
    epochs = default_epochs(config.method) if config.epochs is None else int(config.epochs)
    if epochs < 1:  # 0 must not mean "the default", nor -1 an untrained model
        raise ValueError(f"epochs must be at least 1, not {config.epochs}")
    features = with_flips(features, config)
    saved = load_resume(checkpoint_path, dataset, config) if resume and checkpoint_path else None
    run = Run(dataset, features, config, control, pick_device(config.device), checkpoint_path)
    select = select_on_validation if config.select == "validation" else select_on_test
    chosen = yield from select(run, epochs, saved)
    if chosen is None:
        return (yield from run.cancelled())
    finished = finish(run, chosen)
    yield finished
    return finished
