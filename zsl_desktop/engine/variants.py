"""Choosing between a method's validation variants on the fold models (``Method.validation_variants``).

Why: some switches help one small dataset and hurt another (MSDN's and SGMA's ``centre_codes`` on the digit
stand-in of issue 15: up on split A, down on split B), so no fixed default serves both, while the fold models'
validation, which already chooses the epoch, can tell them apart per dataset. Each fold model is scored as
every variant after every epoch (``scoring_each``: the method re-reads the same trained weights, so the
choice costs evaluations, not training), each variant's curves are kept per fold like the trainer's own
(``end_fold``), and the variant whose fold-mean validation H is higher at its best point (the same smoothed
curves that choose the epoch; the first variant on a tie) trains the final model(s) (``choose``).

Everything lives in the trainer's ``progress`` dict (under ``VARIANTS``), so resume files keep it.
"""

from __future__ import annotations

from typing import Callable

from zsl_desktop.engine.selection import REJECTION_RATES, choose_operating_point

VARIANTS = "variants"  # progress key: name -> that variant's curves ("curve", "gammas", "shares" and fold_*)
CHOICE = "variant_choice"  # progress key: the choice, once made (what resume compares the settings with)
# (the evaluation's key, the current fold's list, the finished folds' list), named as the trainer's own
ROWS = (
    ("h_by_rate", "curve", "fold_curves"),
    ("gamma_by_rate", "gammas", "fold_gammas"),
    ("training_share_by_rate", "shares", "fold_shares"),
)


def fixed_hparams(progress: dict, hparams: dict, variants: dict[str, dict], requested: dict) -> dict:
    """``hparams`` with a single (fixed) variant applied, recorded as the choice; unchanged with none or several.

    ``requested``: every hyper-parameter as the user asked for it (defaults included), for resume."""
    if len(variants) != 1:
        return dict(hparams)
    ((name, only),) = variants.items()
    progress[CHOICE] = {"chosen": name, "hparams": dict(only), "requested": {k: requested.get(k) for k in only}}
    return {**hparams, **only}


def scoring_each(evaluate: Callable, names: list[str], progress: dict) -> Callable:
    """The per-epoch evaluation ``evaluate(method)``, once per variant (``method.scored_as(name)``).

    Each variant's rows (H, gamma and training share by rejection rate) go to ``progress[VARIANTS][name]``;
    the first variant's metrics are returned for the trainer's own curve and the progress display."""
    store = progress.setdefault(VARIANTS, {})

    def evaluate_each(method):
        first = None
        for name in names:
            with method.scored_as(name):
                metrics = evaluate(method)
            rows = store.setdefault(name, empty_store())
            for key, row, _ in ROWS:
                if metrics.get(key) is not None:
                    rows[row].append(list(metrics[key]))
            first = metrics if first is None else first
        return first

    return evaluate_each


def end_fold(progress: dict, epochs_recorded: int) -> None:
    """A fold is done: each variant's current curves become its next fold's, padded at the front with zero
    rows to ``epochs_recorded`` (the trainer's placeholders for epochs it did not validate)."""
    for rows in progress.get(VARIANTS, {}).values():
        for _, row, folds in ROWS:
            missing = max(0, epochs_recorded - len(rows[row])) if rows[row] or row != "shares" else 0
            rows[folds].append([[0.0] * len(REJECTION_RATES) for _ in range(missing)] + rows[row])
            rows[row] = []


def choose(progress: dict, variants: dict[str, dict], requested: dict, window: int, last_epochs: int = 0) -> dict:
    """The variant with the higher best fold-mean validation H (the first on a tie), and each variant's H.

    Puts the winner's fold curves where the trainer reads its own (``fold_curves``, ``fold_gammas``,
    ``fold_shares``), so the epoch and gamma are chosen on them, and records the choice under ``CHOICE``.
    ``requested``: every hyper-parameter as the user asked for it (defaults included), for resume.
    Returns ``{"chosen", "hparams", "fold_mean_h": {name: H}, "requested"}`` for the train report."""
    store = progress[VARIANTS]
    best = {}
    for name in variants:
        point = choose_operating_point(store[name]["fold_curves"], window, last_epochs=last_epochs)
        best[name] = point["h"]
    chosen = max(variants, key=lambda name: best[name])  # max keeps the first of equals
    rows = store[chosen]
    progress["fold_curves"], progress["fold_gammas"] = rows["fold_curves"], rows["fold_gammas"]
    progress["fold_shares"] = rows["fold_shares"]
    overrides = dict(variants[chosen])
    record = {
        "chosen": chosen,
        "hparams": overrides,
        "fold_mean_h": best,
        "requested": {k: requested.get(k) for k in overrides},
    }
    progress[CHOICE] = record
    return record


def describe(record: dict) -> str:
    """The choice in words, for the run's messages: "chosen on validation: centre_codes on (... off 61.3, on 73.3)"."""
    settings = ", ".join(f"{k} {v}" for k, v in record["hparams"].items())
    figures = ", ".join(f"{name} {100 * h:.1f}" for name, h in record["fold_mean_h"].items())
    return f"chosen on validation: {settings} (best fold-mean validation H: {figures})"


def requested_hparams(progress: dict | None) -> dict:
    """The variant's hyper-parameters that a finished choice replaced, as the user asked for them (resume)."""
    return dict(((progress or {}).get(CHOICE) or {}).get("requested") or {})


def empty_store() -> dict:
    """One variant's curves: the current fold's and every finished fold's (H, gammas, training shares)."""
    return {key: [] for _, row, folds in ROWS for key in (row, folds)}
