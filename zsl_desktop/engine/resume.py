"""Resume files: the state after every epoch, beside the checkpoint a run will write, and the rule that only a
run with the same settings continues one.

Why apart from ``engine.training``: the CLI checks a resume file before any work starts
(``check_resume_file``), and the rules of what may be continued are their own job.
"""

from __future__ import annotations

import json
from pathlib import Path

from zsl_desktop.engine.checkpoints import CheckpointError, check_compatible, load_checkpoint
from zsl_desktop.engine.methods import default_epochs, get_method
from zsl_desktop.engine.variants import requested_hparams


def resume_path(checkpoint_path: Path) -> Path:
    """Where a run keeps its per-epoch state, beside its final checkpoint."""
    checkpoint_path = Path(checkpoint_path)
    return checkpoint_path.with_name(checkpoint_path.stem + ".resume.pt")


RESUME_SETTINGS = ("method", "select", "seed", "folds", "backbone", "input_size", "flips", "requested_epochs")


def resume_differences(header: dict, config) -> list[str]:
    """The settings a resume file was made with that differ from ``config`` (a ``TrainConfig``), in words ("seed 0 -> 1")."""
    ours = {
        "method": config.method,
        "select": config.select,
        "seed": config.seed,
        "folds": config.folds,
        "backbone": config.backbone,
        "input_size": config.input_size,
        "flips": config.flips,
        "requested_epochs": config.epochs or default_epochs(config.method),
    }
    out = [
        f"{'epochs' if k == 'requested_epochs' else k.replace('_', ' ')} {header.get(k)!r} -> {ours[k]!r}"
        for k in RESUME_SETTINGS
        if k in header and header.get(k) != ours[k]
    ]
    # a validation variant (engine.variants) replaced some of the user's values: compare those as asked
    theirs = {**(header.get("hparams") or {}), **requested_hparams(header.get("progress"))}
    method = get_method(config.method)
    defaults = json.loads(json.dumps(method.default_hparams))
    mine = json.loads(json.dumps({**defaults, **config.hparams}))  # as stored
    before = json.loads(json.dumps(method.hparams_before))
    for k in sorted(set(theirs) | set(mine)):
        if k == "batch_size":  # halved by the out-of-memory fallback: not a setting the user changed
            continue
        if k not in theirs and k in before:  # newer than the file, whose default has changed since: the file
            theirs = {**theirs, k: before[k]}  # ran with the value before, and is compared as that
        if k not in theirs and mine.get(k) == defaults.get(k):  # a hyper-parameter newer than the file, at its
            continue  # default: a new one keeps the old behaviour by default, so the file's run is this one
        if theirs.get(k) != mine.get(k):
            out.append(f"{k} {theirs.get(k)!r} -> {mine.get(k)!r}")
    return out


def check_resume_file(checkpoint_path, dataset, config) -> bool:
    """True when a resume file beside ``checkpoint_path`` will be continued; refuses one of other settings."""
    return load_resume(checkpoint_path, dataset, config) is not None


def load_resume(checkpoint_path, dataset, config) -> dict | None:
    """The interrupted run beside ``checkpoint_path`` (phase, epoch, best, state, progress), or None to start anew."""
    path = resume_path(checkpoint_path)
    if not path.exists():
        return None
    ck = load_checkpoint(path)
    check_compatible(ck, dataset)
    h = ck.header
    differ = resume_differences(h, config)
    if differ:
        raise ValueError(
            f"{path}: an interrupted run with other settings ({'; '.join(differ)}); rerun it with "
            f"its settings to continue it, or delete the file (or choose another --out) to start anew"
        )
    if (
        not isinstance(h.get("resume_phase"), str)
        or not isinstance(h.get("resume_epoch"), int)
        or "model" not in ck.state
    ):
        raise CheckpointError(f"{path}: not a resume file (no phase, epoch or model state in it)")
    if config.select == "validation" and h.get("progress") is None:
        return None  # written before validation folds existed: its curves are not there, start again
    if config.select == "validation" and "fold_gammas" not in (h.get("progress") or {}):
        return None  # written before the folds kept their gammas: its curves are not complete, start again
    best = h.get("best") or None
    if best is not None and "best" in ck.state:
        best = {**best, "state": ck.state["best"]}
    return {
        "phase": h["resume_phase"],
        "epoch": int(h["resume_epoch"]),
        "best": best,
        "state": ck.state["model"],
        "progress": h.get("progress"),
    }
