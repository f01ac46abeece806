"""SGMA's operating point on validation only: the aim of the calibration read-out, and how many images it reads.

For each finished run (its checkpoint header keeps each fold's H at every rejection rate at the chosen epoch,
``fold_rows``), leave one fold out: the aimed rate comes from the other two folds' mean curve ("best": its best
rate; "expected": engine.readout's rate for n calibration images), and the held-out fold scores it as the H it
expects when gamma is read off n images (the share reached is Beta(m, n - m + 1), m = round(rate n);
engine.readout). Per run: the mean over its three held-out folds, and the read-out's own sd (the spread of H
over the draw of the calibration images, a run's luck). No test data.
usage: PYTHONPATH=. python docs/history/sgma_seed_spread/screen.py CKPT...
"""

import sys

import numpy as np

from zsl_desktop.engine.checkpoints import load_checkpoint
from zsl_desktop.engine.readout import rate_for_readout, readout_weights
from zsl_desktop.engine.selection import REJECTION_RATES

RATES = np.asarray(REJECTION_RATES, np.float64)


def readout_moments(curve, rate: float, n: int) -> tuple[float, float]:
    """Mean and sd of H on ``curve`` when gamma aimed at ``rate`` is read off ``n`` images."""
    q, w = readout_weights(rate, n)
    h = np.interp(q, RATES, np.asarray(curve, np.float64))
    mean = float(np.dot(w, h))
    return mean, float(np.sqrt(max(np.dot(w, h * h) - mean * mean, 0.0)))


def aim(curves, rule: str, n: int) -> float:
    mean = np.asarray(curves, np.float64).mean(0)
    return float(RATES[int(np.argmax(mean))]) if rule == "best" else rate_for_readout(curves, n)


CONFIGS = [("best", 74), ("expected", 74), ("best", 148), ("expected", 148)]
results = {c: [] for c in CONFIGS}
for path in sys.argv[1:]:
    header = load_checkpoint(path).header
    folds = [np.asarray(row["h"], np.float64) for row in header["selection"]["fold_rows"]]
    line = [f"seed {header['seed']}"]
    for rule, n in CONFIGS:
        held = []
        for f in range(len(folds)):
            others = [c for k, c in enumerate(folds) if k != f]
            held.append((readout_moments(folds[f], aim(others, rule, n), n), aim(others, rule, n)))
        mean = np.mean([m for (m, _), _ in held])
        luck = np.sqrt(np.mean([s * s for (_, s), _ in held]))
        whole = aim(folds, rule, n)
        results[(rule, n)].append((mean, luck, whole))
        line.append(f"{rule}/{n}: LOFO H {100 * mean:.2f} (read-out sd {100 * luck:.2f}) run's rate {whole:.2f}")
    print(" | ".join(line))
print()
for (rule, n), rows in results.items():
    means = np.array([r[0] for r in rows]) * 100
    luck = np.array([r[1] for r in rows]) * 100
    total = np.sqrt(means.var(ddof=1) + np.mean(luck**2)) if len(means) > 1 else float("nan")
    print(
        f"{rule:8s} n={n:3d}: LOFO validation H {means.mean():.2f} +- {means.std(ddof=1) if len(means) > 1 else 0:.2f} "
        f"over seeds; read-out sd within a run {np.sqrt(np.mean(luck**2)):.2f}; expected run-to-run sd {total:.2f}; "
        f"rates {[round(r[2], 2) for r in rows]}"
    )
