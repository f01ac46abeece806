"""The training loop shared by every method: selection on validation, checkpoints, resume.

``train(...)`` is a generator of events (the method's ``Step``/``EpochEnd``
plus the ``Phase``/``Validation``/``Finished`` events below); the CLI draws a
progress bar from it, the GUI worker forwards it as signals.

Model selection (METHODS.md decision 1):
- ``select="validation"`` (default): phase 1 trains once per fold, each fold
  holding out another group of seen classes as pseudo-unseen, evaluates every
  epoch and records validation H against the share of held-out seen images
  sent to unseen classes (``engine.selection``). The fold-mean curve, smoothed
  over epochs, gives the epoch and that share. Phase 2 retrains for that many
  epochs (same seed) and puts gamma at that share, the method's way
  (``Method.gamma_transfer``): on trainval minus a few calibration images per
  class, gamma rejecting that share of them; or on all of trainval, gamma the
  mean of the fold models' gammas there. A method may ask for several final
  models (``Method.final_models``, MSDN: 5), trained one after another with
  their own seeds and averaged (``_final_phases``). The test split is never
  looked at before the end.
- ``select="test"``: one phase on trainval, evaluated on the test split every
  epoch, best H kept. Only for reproducing published tables; every report
  says so.

Why over 400 lines: the two selection modes share the phase runner (``_Run``) and read best beside it;
resume files are in ``resume.py`` and the validation folds in ``selection.py``.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from zsl_desktop import __version__
from zsl_desktop.engine import evaluation as ev
from zsl_desktop.engine import paths
from zsl_desktop.engine.checkpoints import Checkpoint, CheckpointError, save_checkpoint
from zsl_desktop.engine.data.model import Dataset
from zsl_desktop.engine.data.word_vectors import attribute_vectors
from zsl_desktop.engine.distributed import context as dist_context
from zsl_desktop.engine.events import Cancelled, Control, EpochEnd, Message, is_out_of_memory
from zsl_desktop.engine.feature_source import FeatureSource
from zsl_desktop.engine.features import flips_need_mirrored
from zsl_desktop.engine.methods import default_epochs, get_method
from zsl_desktop.engine.methods.base import Method, ModelInfo, TrainData
from zsl_desktop.engine.readout import rate_for_readout
from zsl_desktop.engine.resume import load_resume, resume_path
from zsl_desktop.engine.scoring import encode_rows, evaluate_on, gamma_for_rejection_rate
from zsl_desktop.engine.selection import (
    REJECTION_RATES,
    choose_operating_point,
    fewest_trainval_images,
    gammas_by_rejection_rate,
    h_by_rejection_rate,
    hold_out_per_class,
    selection_folds,
    shares_sent_to_unseen,
)
from zsl_desktop.engine.variants import CHOICE, choose, describe, end_fold, fixed_hparams, scoring_each

log = logging.getLogger(__name__)

SELECTIONS = ("validation", "test")
CALIBRATION_FRACTION = 0.1  # of each seen class, kept out of the final run to place gamma ("calibration")
GAMMA_TRANSFERS = ("calibration", "folds", "training_share")  # Method.transfer_for
SELECTION_FOLDS = 3  # groups of pseudo-unseen classes, each trained and validated in turn
SMOOTH_EPOCHS = 3  # moving-average window over the fold-mean validation curve
FINAL_SEED_STEP = 1000  # final model j trains with seed + j * 1000, away from the seeds users pick


@dataclass(frozen=True)
class Phase:
    name: str  # "select" | "final" | "test-selected"
    description: str
    epochs: int


@dataclass(frozen=True)
class Validation:
    epoch: int
    metrics: dict  # zsl_t1, u, s, h, gamma, ausuc
    best_epoch: int  # within this fold (validation) or this run (test)
    split: str  # "validation" or "test"
    fold: int = 0  # which group of pseudo-unseen classes (validation selection)
    folds: int = 1


@dataclass(frozen=True)
class Finished:
    method: Method = field(repr=False)
    header: dict
    report: ev.EvaluationReport | None
    checkpoint: Path | None
    cancelled: bool = False


@dataclass
class TrainConfig:
    method: str = "msdn"
    epochs: int | None = None  # None: the method's default
    hparams: dict = field(default_factory=dict)
    seed: int = 0
    device: str | None = None
    select: str = "validation"
    backbone: str = "efficientnet_lite0"
    input_size: int = 224
    folds: int = SELECTION_FOLDS
    smooth_epochs: int = SMOOTH_EPOCHS
    # "train": mirrored images as extra training rows; "tta": each image scored with its mirror;
    # "both"; "none". Anything but "none" needs the mirrored store (features.mirrored).
    flips: str = "none"


def pick_device(requested: str | None = None) -> str:
    if requested:
        return requested
    ctx = dist_context()
    if ctx.active:
        return ctx.device
    return "cuda" if torch.cuda.is_available() else "cpu"


def build_method(dataset: Dataset, features: FeatureSource, config: TrainConfig) -> Method:
    cls = get_method(config.method)
    array = features.grid if cls.feature_kind == "grid" else features.pooled
    if array is None:
        raise ValueError(
            f"{cls.title or cls.name} needs {cls.feature_kind} features, which {dataset.name} does not have"
            + (
                " (feature-only datasets carry pooled vectors; attention methods need images)"
                if cls.feature_kind == "grid"
                else ""
            )
        )
    info = ModelInfo(
        attribute_names=dataset.attribute_names,
        num_classes=dataset.num_classes,
        feature_kind=cls.feature_kind,
        channels=int(array.shape[1]),
        grid_size=tuple(int(s) for s in array.shape[2:]) if cls.feature_kind == "grid" else None,
    )
    return cls(info, config.hparams)


def validation_metrics(
    method,
    dataset,
    features,
    val_seen_idx,
    val_unseen_idx,
    train_classes,
    val_classes,
    candidates,
    device,
    train_idx=None,
) -> dict:
    """One fold's figures at its best gamma (for the progress display), and H at every rejection rate.

    With ``train_idx`` (the fold model's own training rows), also the share of them that each rate's gamma
    sends to the held-out classes (``training_share_by_rate``, for the "training_share" transfer)."""
    candidates = np.asarray(candidates)
    columns = dataset.class_attributes[candidates]
    s_seen = method.score(encode_rows(method, features, val_seen_idx, device), columns)
    s_unseen = method.score(encode_rows(method, features, val_unseen_idx, device), columns)
    position = {int(c): i for i, c in enumerate(candidates)}
    pos = [
        np.array([position[int(c)] for c in ids], np.int64)
        for ids in (dataset.labels[val_seen_idx], dataset.labels[val_unseen_idx], train_classes, val_classes)
    ]
    curve = ev.seen_unseen_curve(s_seen, pos[0], s_unseen, pos[1], pos[2], pos[3])
    report = ev.evaluate(s_seen, pos[0], s_unseen, pos[1], pos[2], pos[3], curve.best().gamma, "validation")
    metrics = report.as_dict()
    metrics["h_by_rate"] = h_by_rejection_rate(s_seen, pos[0], s_unseen, pos[1], pos[2], pos[3]).tolist()
    metrics["gamma_by_rate"] = gammas_by_rejection_rate(s_seen, pos[2], pos[3]).tolist()
    if train_idx is not None:
        s_train = method.score(encode_rows(method, features, train_idx, device), columns)
        gammas = np.asarray(metrics["gamma_by_rate"])
        metrics["training_share_by_rate"] = shares_sent_to_unseen(s_train, pos[2], pos[3], gammas).tolist()
    return metrics


def make_header(dataset: Dataset, method: Method, config: TrainConfig, **extra) -> dict:
    return {
        "method": method.name,
        "hparams": method.hparams,
        "app_version": __version__,
        "dataset": dataset.name,
        "dataset_format": dataset.format,
        "dataset_fingerprint": dataset.fingerprint,
        "attribute_names": list(dataset.attribute_names),
        "class_names": list(dataset.classes),
        "seen_classes": dataset.seen_classes.tolist(),
        "unseen_classes": dataset.unseen_classes.tolist(),
        "backbone": config.backbone,
        "input_size": config.input_size,
        "flips": config.flips,
        "feature_kind": method.feature_kind,
        "channels": method.info.channels,
        "grid_size": list(method.info.grid_size or []),
        "seed": config.seed,
        "select": config.select,
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        # float sums depend on the thread count: a rerun needs the same one to pick the same epoch
        "threads": torch.get_num_threads(),
        **extra,
    }


def method_from_checkpoint(checkpoint: Checkpoint) -> Method:
    """The method a checkpoint holds; a header or weights that do not fit raise CheckpointError naming the file."""
    h = checkpoint.header
    try:
        cls = get_method(h["method"])
        info = ModelInfo(
            attribute_names=tuple(h["attribute_names"]),
            num_classes=len(h["class_names"]),
            feature_kind=h["feature_kind"],
            channels=int(h["channels"]),
            grid_size=tuple(h["grid_size"]) or None,
        )
        method = cls(info, h.get("hparams", {}))
        method.load_state_dict(checkpoint.state)
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as exc:
        detail = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        if isinstance(exc, KeyError) and isinstance(detail, str) and detail in _HEADER_FIELDS:
            detail = f"the header has no {detail!r}"
        raise CheckpointError(f"{checkpoint.path or 'checkpoint'}: cannot be used: {detail}") from None
    return method


_HEADER_FIELDS = ("method", "attribute_names", "class_names", "feature_kind", "channels", "grid_size")


def inference_state(method: Method) -> dict:
    """The weights without optimiser state: what a finished checkpoint needs (a third of the size)."""
    return {k: v for k, v in method.state_dict().items() if not k.startswith("optim.")}


def default_checkpoint_path(dataset: Dataset, method: str, folder: Path | None = None) -> Path:
    """``<dataset>-<fingerprint>-<method>.pt`` in the user's checkpoint folder.

    The fingerprint keeps two datasets whose folders share a name from overwriting each other's model.
    """
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in dataset.name)[:80] or "dataset"
    folder = Path(folder) if folder is not None else paths.data_dir() / "checkpoints"
    return folder / f"{safe}-{dataset.fingerprint[:8]}-{method}.pt"


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
    run = _Run(dataset, features, config, control, pick_device(config.device), checkpoint_path)
    select = _select_on_validation if config.select == "validation" else _select_on_test
    chosen = yield from select(run, epochs, saved)
    if chosen is None:
        return (yield from run.cancelled())
    finished = _finish(run, chosen)
    yield finished
    return finished


@dataclass(frozen=True)
class _Chosen:
    """What a selection mode hands to the end of the run: the model, its epoch and its gamma."""

    method: Method
    epoch: int
    gamma: float
    gamma_source: str  # "validation" or "test"
    selection: dict  # how they were chosen, for the checkpoint's header


def _select_on_validation(run: _Run, epochs: int, saved: dict | None):
    """Phase 1, one model per fold of pseudo-unseen seen classes, chooses the epoch and the share of seen
    images sent to unseen classes; phase 2 retrains the final model(s) and places gamma at that share the
    method's way (``Method.transfer_for``). Yields events; returns a ``_Chosen``, or None if cancelled."""
    dataset, features, config = run.dataset, run.features, run.config
    seen, unseen = dataset.seen_classes, dataset.unseen_classes
    folds = selection_folds(dataset, config)
    for _, val_seen_idx, val_unseen_idx, train_classes, _ in folds:
        if len(val_seen_idx) == 0 or len(val_unseen_idx) == 0 or len(train_classes) == 0:
            raise ValueError(
                f"{dataset.name}: too few training images to choose the epoch on validation data (each seen "
                f"class needs at least 3 trainval images and there must be 2 seen classes or more; "
                f"{fewest_trainval_images(dataset)}, {len(seen)} classes are seen); add images, "
                f"or use --select test (reproduction only)"
            )
    method_class = get_method(config.method)
    transfer = method_class.transfer_for(config.hparams, seen_classes=len(seen))
    if transfer not in GAMMA_TRANSFERS:
        raise ValueError(f"{config.method}: gamma_transfer must be one of {GAMMA_TRANSFERS}, not {transfer!r}")
    progress = (saved or {}).get("progress") or {"fold_curves": [], "curve": [], "fold_gammas": [], "gammas": []}
    progress.setdefault("fold_shares", [[] for _ in progress["fold_curves"]])
    progress.setdefault("shares", [])
    run.progress = progress
    requested = {**method_class.default_hparams, **config.hparams}  # the user's, for resume (engine.variants)
    variants = method_class.validation_variants(config.hparams, seen_classes=len(seen))
    run.config = config = replace(config, hparams=fixed_hparams(progress, config.hparams, variants, requested))
    last_epochs = max(0, int(method_class.last_epochs_window(config.hparams)))
    validate_from = max(1, epochs - last_epochs + 1) if last_epochs else 1  # earlier epochs: placeholders
    for k, (train_idx, val_seen_idx, val_unseen_idx, train_classes, val_classes) in enumerate(folds):
        if k < len(progress["fold_curves"]):
            continue  # finished before an interruption
        on_validation = _evaluator(
            run,
            validation_metrics,
            dataset=dataset,
            features=features,
            val_seen_idx=val_seen_idx,
            val_unseen_idx=val_unseen_idx,
            train_classes=train_classes,
            val_classes=val_classes,
            candidates=np.union1d(train_classes, val_classes),
            train_idx=train_idx if transfer == "training_share" else None,
        )
        if len(variants) > 1:  # each epoch scored as every variant (engine.variants)
            on_validation = scoring_each(on_validation, list(variants), progress)
        yield Phase(
            "select",
            f"fold {k + 1} of {len(folds)}: choosing the epoch and gamma on {len(val_classes)} held-out seen classes",
            epochs,
        )
        run.fold = (k, len(folds))
        best = yield from run.phase(
            f"select{k}" if k else "select",
            train_idx,
            train_classes,
            epochs,
            on_validation,
            saved,
            validate_from=validate_from,
        )
        if best is None:
            return None
        saved = None
        progress["fold_curves"].append(progress["curve"])
        progress["fold_gammas"].append(progress["gammas"])
        progress["fold_shares"].append(progress["shares"])
        end_fold(progress, len(progress["curve"]))
        progress["curve"], progress["gammas"], progress["shares"] = [], [], []
    if len(variants) > 1:  # the final model(s) train as the variant with the better fold-mean validation H
        choice = choose(progress, variants, requested, config.smooth_epochs, last_epochs)
        # run.config, not config: the out-of-memory fallback may have halved the batch since
        run.config = config = replace(run.config, hparams={**run.config.hparams, **choice["hparams"]})
        yield Message(describe(choice))
    point = choose_operating_point(
        progress["fold_curves"],
        config.smooth_epochs,
        fold_gammas=progress["fold_gammas"],
        tolerance=method_class.epoch_tolerance,
        last_epochs=last_epochs,
        fold_shares=progress["fold_shares"] if transfer == "training_share" else None,
    )
    best_epoch, rate = point["epoch"], point["rate"]
    # What carries over from the fold models to the final one is the operating point, the
    # share of held-out seen images sent to unseen classes. Either the final run keeps a few
    # seen images aside to find its own gamma at that share ("calibration"), or it trains on
    # every trainval image and takes the fold models' mean gamma there ("folds"), or it trains
    # on every trainval image and puts gamma where it sends as large a share of its own
    # training images to unseen classes as the fold models sent of theirs ("training_share").
    final_train, calibration_idx = dataset.splits["trainval"], np.zeros(0, np.int64)
    if transfer == "calibration":
        final_train, calibration_idx = hold_out_per_class(
            final_train,
            dataset.labels,
            config.seed + 7,
            fraction=method_class.calibration_fraction(config.hparams) or CALIBRATION_FRACTION,
        )
    if transfer == "calibration" and method_class.aims_for_readout(config.hparams):
        rate = rate_for_readout([row["h"] for row in _fold_rows(progress, best_epoch)], len(calibration_idx))
    count = build_method(dataset, features, config).final_models()
    done = yield from _final_phases(run, final_train, seen, best_epoch, count, saved)
    if done is None:
        return None
    method = run.trained
    gamma = point["gamma"] if transfer == "folds" else 0.0
    if transfer == "calibration" and len(calibration_idx):  # none (2 or fewer per class): no shift
        gamma = gamma_for_rejection_rate(method, dataset, features, calibration_idx, seen, unseen, rate, run.device)
    if transfer == "training_share":
        gamma = gamma_for_rejection_rate(
            method, dataset, features, final_train, seen, unseen, point["share"], run.device
        )
    selection = {
        "best_epoch": best_epoch,
        "seen_rejection": rate,
        "fold_mean_rate": point["rate"],  # the rate of the best fold-mean H (engine.readout may aim elsewhere)
        "validation_h": point["h"],
        "fold_h": point["fold_h"],
        "fold_gamma": point["fold_gamma"],
        "gamma_transfer": transfer,
        "fold_training_share": point.get("fold_share"),
        # each fold's curves at the chosen epoch, so that a transfer can be checked on validation afterwards
        "fold_rows": _fold_rows(progress, best_epoch),
        "folds": [f[4].tolist() for f in folds],
        "smooth_epochs": config.smooth_epochs,
        "epoch_tolerance": method_class.epoch_tolerance,
        "last_epochs": last_epochs,
        "calibration_images": int(len(calibration_idx)),
        "final_seeds": [config.seed + j * FINAL_SEED_STEP for j in range(count)],
    }
    if CHOICE in progress:  # the variant chosen (or fixed) on validation, and each variant's fold-mean H
        selection["validation_variant"] = progress[CHOICE]
    return _Chosen(method, best_epoch, gamma, "validation", selection)


def _select_on_test(run: _Run, epochs: int, saved: dict | None):
    """Reproduction mode: one phase on trainval, evaluated on the TEST split every epoch, the best H kept.
    Yields events; returns a ``_Chosen``, or None if cancelled."""
    dataset = run.dataset
    on_test = _evaluator(run, _test_metrics, dataset=dataset, features=run.features)
    yield Phase("test-selected", "selecting the epoch on the TEST split (reproduction mode)", epochs)
    best = yield from run.phase(
        "test-selected", dataset.splits["trainval"], dataset.seen_classes, epochs, on_test, saved, keep_best_state=True
    )
    if best is None:
        return None
    method = run.trained
    method.load_state_dict(best["state"])
    selection = {"best_epoch": best["epoch"], "test": best["metrics"]}
    return _Chosen(method, best["epoch"], best["metrics"]["gamma"], "test", selection)


def _evaluator(run: _Run, metrics, **arguments):
    """The per-epoch evaluation of ``run.phase``: ``metrics(method, device=..., **arguments)`` on the run's
    device at the time (out of memory may move the run to the CPU mid-phase)."""
    return lambda method: metrics(method, device=run.device, **arguments)


def _test_metrics(method, dataset, features, device) -> dict:
    """The test split's figures at the best gamma (reproduction mode only)."""
    splits = dataset.splits
    return evaluate_on(
        method,
        dataset,
        features,
        splits["test_seen"],
        splits["test_unseen"],
        dataset.seen_classes,
        dataset.unseen_classes,
        None,
        None,
        device,
        "test",
    ).as_dict()


def _finish(run: _Run, chosen: _Chosen) -> Finished:
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


def _fold_rows(progress: dict, epoch: int) -> list[dict]:
    """Per fold, H, gamma and (when recorded) the training share at every rejection rate, at ``epoch``."""
    rows = []
    for k, curve in enumerate(progress["fold_curves"]):
        row = {"h": curve[epoch - 1], "gamma": progress["fold_gammas"][k][epoch - 1]}
        shares = progress["fold_shares"][k] if k < len(progress["fold_shares"]) else []
        if len(shares) >= epoch:  # recorded only for the "training_share" transfer
            row["training_share"] = shares[epoch - 1]
        rows.append({key: [round(float(v), 5) for v in values] for key, values in row.items()})
    return rows


def _final_phases(run, index, seen, epochs, count, saved):
    """Train the ``count`` final models (seeds ``seed + j * FINAL_SEED_STEP``), each next one holding the
    earlier ones as members (``Method.adopt_members``), so the last is the average and every resume file
    holds all finished models. Yields events; returns the last phase's result, or None if cancelled."""
    first = 0  # a run interrupted in final model j continues there; models 0..j-1 are in its state
    if saved is not None and saved["phase"].startswith("final"):
        first = min(int(saved["phase"][len("final") :] or 0), count - 1)
    for j in range(first, count):
        seed = run.config.seed + j * FINAL_SEED_STEP
        which = f" (model {j + 1} of {count}, seed {seed})" if count > 1 else ""
        yield Phase("final", f"retraining on trainval for {epochs} epochs{which}", epochs)
        done = yield from run.phase(
            "final" if j == 0 else f"final{j}",
            index,
            seen,
            epochs,
            None,
            saved,
            carry={"epoch": epochs, "metrics": {}},
            seed=seed,
            members=run.trained if j > first else None,
        )
        if done is None:
            return None
        saved = None
    return done


class _Run:
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
    ):
        """Train one phase; yields events, returns the best ``{"epoch", "metrics"[, "state"]}`` or None if cancelled.

        ``seed``: of this phase's model (default the run's); ``members``: a trained method whose model(s)
        this one averages with (``Method.adopt_members``; several final models). Epochs before
        ``validate_from`` are not evaluated; their curve rows are zeros (placeholders that keep the curves
        indexed by epoch; ``Method.last_epochs_window`` reads only the validated ones).

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


def with_flips(features: FeatureSource, config: TrainConfig) -> FeatureSource:
    """The feature source for ``config.flips``: its test-time averaging set, the mirrored rows checked."""
    if not flips_need_mirrored(config.flips):
        return replace(features, tta=False)
    if features.mirrored is None:
        raise ValueError(
            f"--flips {config.flips} needs the features of the mirrored images; extract them "
            f"(zsl-desktop extract --flips {config.flips} ...) or train with --flips none"
        )
    if get_method(config.method).reencodes_images:  # SGMA
        raise ValueError(
            f"{config.method} re-encodes crops of the original images, so mirrored features do not "
            f"apply to it; train it with --flips none"
        )
    return replace(features, tta=config.flips in ("tta", "both"))


def train_data(
    dataset,
    features,
    index,
    train_classes,
    device,
    seed,
    backbone="efficientnet_lite0",
    input_size=224,
    mirrored: bool = False,
) -> TrainData:
    """What ``fit`` gets for the rows ``index``, learning ``train_classes``; ``mirrored``: the mirrored
    copies of the rows are training rows too. Under torchrun every rank gets every row and computes its
    part of each batch (``TrainData.shards``)."""
    vectors, _ = attribute_vectors(dataset.attribute_names)
    index = np.asarray(index)
    labels = dataset.labels[index]
    if mirrored:
        index, labels = np.concatenate([index, features.mirrored_rows(index)]), np.concatenate([labels, labels])
    return TrainData(
        features=features,
        train_index=index,
        train_labels=labels,
        class_attributes=dataset.class_attributes,
        seen_classes=np.asarray(train_classes),
        unseen_classes=np.setdiff1d(np.arange(dataset.num_classes), train_classes),
        attribute_names=dataset.attribute_names,
        attribute_vectors=vectors,
        device=device,
        seed=seed,
        image_paths=(
            tuple(str(dataset.image_path(i)) for i in range(dataset.num_samples)) if dataset.has_images else None
        ),
        backbone=backbone,
        input_size=input_size,
        cache_dir=paths.feature_store_dir() / "cache",
        dataset_fingerprint=dataset.fingerprint,
        shards=dist_context().shards,
    )
