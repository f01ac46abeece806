"""The end of a run, whichever mode chose the model: the test report at the chosen gamma, and the checkpoint."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from zsl_desktop.engine.checkpoints import save_checkpoint
from zsl_desktop.engine.distributed import context as dist_context
from zsl_desktop.engine.methods.base import Method
from zsl_desktop.engine.resume import resume_path
from zsl_desktop.engine.scoring import evaluate_on

from .events import Finished
from .headers import make_header
from .models import inference_state
from .phases import Run

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Chosen:
    """What a selection mode hands to the end of the run: the model, its epoch and its gamma."""

    method: Method
    epoch: int
    gamma: float
    gamma_source: str  # "validation" or "test"
    selection: dict  # how they were chosen, for the checkpoint's header


def finish(run: Run, chosen: Chosen) -> Finished:
    """The test-split report at the chosen gamma, and the checkpoint (rank 0 alone writes under torchrun)."""
    dataset, method = run.dataset, chosen.method
    report = evaluate_on(
        method,
        dataset,
        run.features,
        dataset.splits["test_seen"],
        dataset.splits["test_unseen"],
        dataset.seen_classes,
        dataset.unseen_classes,
        chosen.gamma,
        None,
        run.device,
        chosen.gamma_source,
    )
    header = make_header(
        dataset,
        method,
        run.config,
        epochs=chosen.epoch,
        gamma=chosen.gamma,
        gamma_source=chosen.gamma_source,
        selection=chosen.selection,
        metrics=report.as_dict(),
    )
    path = None
    if run.checkpoint_path is not None:
        if dist_context().is_main:
            path = save_checkpoint(run.checkpoint_path, header, inference_state(method))
            resume_path(run.checkpoint_path).unlink(missing_ok=True)
        else:
            path = Path(run.checkpoint_path)
        dist_context().barrier()
    log.info(
        "trained %s on %s (%s epochs, gamma from %s): %s; checkpoint %s",
        method.name,
        dataset.name,
        chosen.epoch,
        chosen.gamma_source,
        report.as_dict(),
        path,
    )
    return Finished(method, header, report, path, cancelled=run.control.cancelled)
