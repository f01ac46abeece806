"""One training run's phases (``Run.phase``): fit epoch by epoch, evaluate, keep the best, write the resume file.

Every phase of both selection modes goes through here, so resume and the out-of-memory fallback (half the
batch, then the CPU) behave the same in the fold, final and test-selected phases.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import replace

import torch

from zsl_desktop.engine.distributed import context as dist_context
from zsl_desktop.engine.events import Cancelled, EpochEnd, Message, is_out_of_memory
from zsl_desktop.engine.checkpoints import save_checkpoint
from zsl_desktop.engine.methods import default_epochs
from zsl_desktop.engine.methods.base import Method
from zsl_desktop.engine.resume import resume_path
from zsl_desktop.engine.selection import REJECTION_RATES

from .events import Finished, Validation
from .headers import make_header
from .inputs import train_data
from .models import build_method

log = logging.getLogger(__name__)


class Run:
    """One training run's phases, with per-epoch resume files."""

    def __init__(self, dataset, features, config, control, device, checkpoint_path):
        self.dataset, self.features, self.config = dataset, features, config
        self.control, self.device, self.checkpoint_path = control, device, checkpoint_path
        self.method: Method | None = None
        self.progress: dict | None = None  # validation curves so far (fold_curves, curve), kept in resume files
        self.fold = (0, 1)

    @property
    def trained(self) -> Method:
        """The model of the current (or last) phase."""
        if self.method is None:
            raise RuntimeError("no training phase has started")
        return self.method

    def phase(
        self,
        name,
        index,
        train_classes,
        epochs,
        evaluate,
        saved,
        carry=None,
        keep_best_state=False,
        seed=None,
        members=None,
        validate_from=1,
        final=False,
    ):
        """Train one phase; yields events, returns the best ``{"epoch", "metrics"[, "state"]}`` or None if cancelled.

        ``seed``: of this phase's model (default the run's); ``members``: a trained method whose model(s)
        this one averages with (``Method.adopt_members``; several final models). Epochs before
        ``validate_from`` are not evaluated; their curve rows are zeros (placeholders that keep the curves
        indexed by epoch; ``Method.last_epochs_window`` reads only the validated ones). ``final``: a final
        model's phase (``TrainData.final``).

        Out of memory inside ``fit`` is not the end: the phase goes back to the state after the last
        finished epoch and continues with half the batch, then on the CPU (``_shrink``), saying so.
        """
        seed = self.config.seed if seed is None else seed
        self.method = self._build(members)
        start, best = 0, carry
        if saved is not None and saved["phase"] == name:
            self.method.load_state_dict(saved["state"])
            start, best = saved["epoch"], saved["best"] or carry
            yield Message(f"resumed {name} phase after epoch {start}")
        last_epoch_state = _cpu_copy(self.method.state_dict()) if start else None
        while True:
            data = train_data(
                self.dataset,
                self.features,
                index,
                train_classes,
                self.device,
                seed,
                self.config.backbone,
                self.config.input_size,
                mirrored=self.config.flips in ("train", "both"),
                final=final,
            )
            try:
                for event in self.method.fit(data, self.control, epochs, start_epoch=start):
                    yield event
                    if not isinstance(event, EpochEnd):
                        continue
                    if evaluate is not None and event.epoch < validate_from and self.progress is not None:
                        self.progress["curve"].append([0.0] * len(REJECTION_RATES))
                        self.progress["gammas"].append([0.0] * len(REJECTION_RATES))
                        self.progress.setdefault("shares", []).append([0.0] * len(REJECTION_RATES))
                    elif evaluate is not None:
                        metrics = evaluate(self.method)
                        curve_row = metrics.pop("h_by_rate", None)
                        gamma_row = metrics.pop("gamma_by_rate", None)
                        share_row = metrics.pop("training_share_by_rate", None)
                        if curve_row is not None and self.progress is not None:
                            self.progress["curve"].append(curve_row)
                            self.progress["gammas"].append(gamma_row)
                            if share_row is not None:
                                self.progress["shares"].append(share_row)
                        if best is None or metrics["h"] > best["metrics"]["h"]:
                            best = {"epoch": event.epoch, "metrics": metrics}
                            if keep_best_state:
                                best["state"] = copy.deepcopy(self.method.state_dict())
                        yield Validation(
                            event.epoch, metrics, best["epoch"], "test" if keep_best_state else "validation", *self.fold
                        )
                    elif best is None:
                        best = {"epoch": event.epoch, "metrics": {}}
                    state = self.method.state_dict()  # once an epoch: the resume file and the OOM fallback
                    self._save_resume(name, event.epoch, best, state)
                    start, last_epoch_state = event.epoch, _cpu_copy(state)
                break
            except Cancelled:
                return None
            except Exception as exc:  # only out-of-memory is retried, the rest re-raised
                if not is_out_of_memory(exc):
                    raise
                text = self._shrink(exc, start)
                log.warning(text)
                yield Message(text)
                self.method = self._build(members)
                if last_epoch_state is not None:
                    self.method.load_state_dict(last_epoch_state)
        return best if best is not None else {"epoch": epochs, "metrics": {"gamma": 0.0, "h": 0.0}}

    def _build(self, members) -> Method:
        method = build_method(self.dataset, self.features, self.config).to(self.device)
        if members is not None:
            method.adopt_members(members)
        return method

    def _shrink(self, exc: BaseException, epoch: int) -> str:
        """Half the batch (methods with ``batch_size``), else the CPU; what was done, for the user."""
        batch = int(self.trained.hparams.get("batch_size", 1))
        where = f"out of memory on {self.device} in epoch {epoch + 1}"
        back = f"back to the end of epoch {epoch}" if epoch else "starting again"
        if str(self.device).startswith("cuda"):
            torch.cuda.empty_cache()
        if batch > 1:
            self.config = replace(self.config, hparams={**self.config.hparams, "batch_size": batch // 2})
            return f"{where}: {back} with batches of {batch // 2} (were {batch})"
        if self.device != "cpu":
            self.device = "cpu"
            return f"{where} even with batches of 1: {back} on the CPU (slower)"
        raise MemoryError(f"out of memory on the CPU even with batches of 1 ({exc})") from exc

    def cancelled(self):
        finished = Finished(self.method, {}, None, None, cancelled=True)
        yield finished
        return finished

    def _save_resume(self, phase, epoch, best, model_state):
        if self.checkpoint_path is None:
            return
        header = make_header(
            self.dataset,
            self.method,
            self.config,
            resume_phase=phase,
            resume_epoch=epoch,
            best={k: v for k, v in (best or {}).items() if k != "state"},
            requested_epochs=self.config.epochs or default_epochs(self.config.method),
            progress=self.progress,
        )
        state = {"model": model_state}
        if best and "state" in best:
            state["best"] = best["state"]
        if dist_context().is_main:
            save_checkpoint(resume_path(self.checkpoint_path), header, state)


def _cpu_copy(state: dict) -> dict:
    """A detached CPU copy of a state dict (tensors copied, numbers kept): the point to go back to."""
    return {
        k: v.detach().to("cpu", copy=True) if isinstance(v, torch.Tensor) else copy.deepcopy(v)
        for k, v in state.items()
    }


def evaluator(run: Run, metrics, **arguments):
    """The per-epoch evaluation of ``run.phase``: ``metrics(method, device=..., **arguments)`` on the run's
    device at the time (out of memory may move the run to the CPU mid-phase)."""
    return lambda method: metrics(method, device=run.device, **arguments)
