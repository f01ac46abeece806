"""The training panel's words for a run: its phase, its progress line, durations."""

from __future__ import annotations

import numpy as np


def phase_text(phase: str, fold: int = 0, folds: int = 1) -> str:
    """The user's words for a training phase ("select", "select1", … are the validation folds)."""
    if phase.startswith("select"):
        where = f", fold {fold + 1} of {folds}" if folds > 1 else ""
        return f"phase 1 of 2 · selecting on validation{where}"
    return {"final": "phase 2 of 2 · retraining", "test-selected": "selecting on the test split"}.get(phase, phase)


def fmt_seconds(s: float | None) -> str:
    """ "1:05" or "1:02:03"; "–" when unknown."""
    if s is None or not np.isfinite(s):
        return "–"
    s = int(round(s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def progress_text(event, fold: int, folds: int) -> str:
    """Two lines for a TrainProgress: the phase, then epoch, step, speed, time left and the last loss."""
    eta = (event.total - event.step) / event.rate if event.rate > 0 else None
    loss = event.losses.get("total")
    loss_text = f" · loss {float(loss[-1]):.3f}" if loss is not None and len(loss) else ""
    return (
        f"{phase_text(event.phase, fold, folds)}\nepoch {event.epoch} · step {event.step:,}/{event.total:,} · "
        f"{event.rate:.0f} steps/s · ETA {fmt_seconds(eta)}{loss_text}"
    )
