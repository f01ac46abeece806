"""Model selection on validation data (METHODS.md decision 1), the default.

Phase 1 trains one model per fold of pseudo-unseen seen classes and records validation H against the share of
held-out seen images sent to unseen classes; the smoothed fold-mean curve gives the epoch and that share
(``engine.selection``). Phase 2 trains the final model(s) (``final_models``) and places gamma at that share
the method's way (``Method.transfer_for``, ``GAMMA_TRANSFERS``). The test split is never looked at here.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from zsl_desktop.engine import evaluation as ev
from zsl_desktop.engine.events import Message
from zsl_desktop.engine.methods import get_method
from zsl_desktop.engine.readout import rate_for_readout
from zsl_desktop.engine.scoring import encode_rows, gamma_for_rejection_rate
from zsl_desktop.engine.selection import (
    choose_operating_point,
    fewest_trainval_images,
    gammas_by_rejection_rate,
    h_by_rejection_rate,
    hold_out_per_class,
    selection_folds,
    shares_sent_to_unseen,
)
from zsl_desktop.engine.variants import CHOICE, choose, describe, end_fold, fixed_hparams, scoring_each

from .config import CALIBRATION_FRACTION, FINAL_SEED_STEP, GAMMA_TRANSFERS
from .events import Phase
from .calibration_splits import model_calibration_splits
from .final_models import final_phases
from .finish import Chosen
from .models import build_method
from .phases import Run, evaluator


def select_on_validation(run: Run, epochs: int, saved: dict | None):
    """Phase 1, one model per fold of pseudo-unseen seen classes, chooses the epoch and the share of seen
    images sent to unseen classes; phase 2 retrains the final model(s) and places gamma at that share the
    method's way (``Method.transfer_for``). Yields events; returns a ``Chosen``, or None if cancelled."""
    dataset, features, config = run.dataset, run.features, run.config
    seen = dataset.seen_classes
    folds = selection_folds(dataset, config)
    _refuse_folds_too_small(dataset, folds)
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
        on_validation = evaluator(
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
    count = build_method(dataset, features, config).final_models()
    final_train, calibration_idx, splits = _final_rows(dataset, config, method_class, transfer, count)
    if transfer == "calibration" and method_class.aims_for_readout(config.hparams):
        rate = rate_for_readout([row["h"] for row in fold_rows(progress, best_epoch)], len(calibration_idx))
    rows = [train for train, _ in splits] if splits else final_train
    done = yield from final_phases(run, rows, seen, best_epoch, count, saved)
    if done is None:
        return None
    method = run.trained
    gamma = _final_gamma(run, method, transfer, point, rate, final_train, calibration_idx, splits)
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
        "fold_rows": fold_rows(progress, best_epoch),
        "folds": [f[4].tolist() for f in folds],
        "smooth_epochs": config.smooth_epochs,
        "epoch_tolerance": method_class.epoch_tolerance,
        "last_epochs": last_epochs,
        "calibration_images": int(len(calibration_idx)),  # each model's, with calibration_splits "each"
        "calibration_splits": "each" if splits else "shared",
        "final_seeds": [config.seed + j * FINAL_SEED_STEP for j in range(count)],
    }
    if CHOICE in progress:  # the variant chosen (or fixed) on validation, and each variant's fold-mean H
        selection["validation_variant"] = progress[CHOICE]
    return Chosen(method, best_epoch, gamma, "validation", selection)


def _refuse_folds_too_small(dataset, folds) -> None:
    """Every fold needs held-out seen and unseen images and classes to train on: say what to do instead."""
    for _, val_seen_idx, val_unseen_idx, train_classes, _ in folds:
        if len(val_seen_idx) == 0 or len(val_unseen_idx) == 0 or len(train_classes) == 0:
            raise ValueError(
                f"{dataset.name}: too few training images to choose the epoch on validation data (each seen "
                f"class needs at least 3 trainval images and there must be 2 seen classes or more; "
                f"{fewest_trainval_images(dataset)}, {len(dataset.seen_classes)} classes are seen); add images, "
                f"or use --select test (reproduction only)"
            )


def _final_rows(dataset, config, method_class, transfer: str, count: int):
    """(final training rows, calibration rows, each final model's split or None): with the "calibration"
    transfer a slice of each seen class is kept aside to place gamma, one shared slice or one a model."""
    final_train, calibration_idx = dataset.splits["trainval"], np.zeros(0, np.int64)
    each_model = transfer == "calibration" and count > 1 and method_class.calibrates_each_model(config.hparams)
    splits = None  # each final model's (training rows, calibration rows) when each has its own
    if transfer == "calibration":
        fraction = method_class.calibration_fraction(config.hparams) or CALIBRATION_FRACTION
        if each_model:
            splits = model_calibration_splits(final_train, dataset.labels, config.seed + 7, fraction, count)
            final_train, calibration_idx = splits[0]
        else:
            final_train, calibration_idx = hold_out_per_class(final_train, dataset.labels, config.seed + 7, fraction)
    return final_train, calibration_idx, splits


def _final_gamma(run: Run, method, transfer: str, point: dict, rate: float, final_train, calibration_idx, splits):
    """The final model's gamma the transfer's way (see the comment in ``select_on_validation``)."""
    dataset, features = run.dataset, run.features
    seen, unseen = dataset.seen_classes, dataset.unseen_classes
    gamma = point["gamma"] if transfer == "folds" else 0.0
    if transfer == "calibration" and len(calibration_idx):  # none (2 or fewer per class): no shift
        if splits:  # each model's own gamma on its own images, scored by itself alone; the run's is their mean
            gammas = [
                gamma_for_rejection_rate(single, dataset, features, held, seen, unseen, rate, run.device)
                for single, (_, held) in zip(method.single_models(), splits)
            ]
            gamma = float(np.mean(gammas))
        else:
            gamma = gamma_for_rejection_rate(method, dataset, features, calibration_idx, seen, unseen, rate, run.device)
    if transfer == "training_share":
        gamma = gamma_for_rejection_rate(
            method, dataset, features, final_train, seen, unseen, point["share"], run.device
        )
    return gamma


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


def fold_rows(progress: dict, epoch: int) -> list[dict]:
    """Per fold, H, gamma and (when recorded) the training share at every rejection rate, at ``epoch``."""
    rows = []
    for k, curve in enumerate(progress["fold_curves"]):
        row = {"h": curve[epoch - 1], "gamma": progress["fold_gammas"][k][epoch - 1]}
        shares = progress["fold_shares"][k] if k < len(progress["fold_shares"]) else []
        if len(shares) >= epoch:  # recorded only for the "training_share" transfer
            row["training_share"] = shares[epoch - 1]
        rows.append({key: [round(float(v), 5) for v in values] for key, values in row.items()})
    return rows
