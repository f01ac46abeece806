"""Phase 2's final model(s): one after another with their own seeds, each holding the earlier ones as members.

A method asks for several (``Method.final_models``, MSDN: 5); a run interrupted in model j resumes there.
"""

from __future__ import annotations

from .config import FINAL_SEED_STEP
from .events import Phase


def final_phases(run, index, seen, epochs, count, saved):
    """Train the ``count`` final models (seeds ``seed + j * FINAL_SEED_STEP``), each next one holding the
    earlier ones as members (``Method.adopt_members``), so the last is the average and every resume file
    holds all finished models. ``index``: the rows every model trains on, or a list of each model's rows
    (``calibration_splits``). Yields events; returns the last phase's result, or None if cancelled."""
    first = 0  # a run interrupted in final model j continues there; models 0..j-1 are in its state
    if saved is not None and saved["phase"].startswith("final"):
        first = min(int(saved["phase"][len("final") :] or 0), count - 1)
    for j in range(first, count):
        seed = run.config.seed + j * FINAL_SEED_STEP
        which = f" (model {j + 1} of {count}, seed {seed})" if count > 1 else ""
        yield Phase("final", f"retraining on trainval for {epochs} epochs{which}", epochs)
        done = yield from run.phase(
            "final" if j == 0 else f"final{j}",
            index[j] if isinstance(index, list) else index,
            seen,
            epochs,
            None,
            saved,
            carry={"epoch": epochs, "metrics": {}},
            seed=seed,
            members=run.trained if j > first else None,
            final=True,
        )
        if done is None:
            return None
        saved = None
    return done
