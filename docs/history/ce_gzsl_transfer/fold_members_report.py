"""VALIDATION ONLY (session 9): from fold_members.py's three fold files of one run, the epoch and rate chosen as the
trainer chooses them (engine.selection.choose_operating_point, smoothing 3, no tolerance) for one model (member 0,
the trainer's own fold model) and for the three averaged (log-softmax mean, every epoch), and
- best fold-mean H: the smoothed fold-mean H at the chosen point (what the trainer reports as validation_h);
- leave-one-fold-out H: each fold read at the epoch and rate the other two folds choose, the mean over folds;
- "3 models at 1's point": the average read where one model's curves choose (as the trainer builds it: the fold
  models are single, the final models averaged), best fold-mean and leave-one-fold-out.
usage: fold_members_report.py F0.npz F1.npz F2.npz"""

import sys

import numpy as np

from zsl_desktop.engine.selection import choose_operating_point, h_by_rejection_rate, smooth_epochs

SMOOTH = 3


def curves(path, n):
    f = np.load(path)
    scores, ns = f["scores"][:n].astype(np.float64).mean(0), int(f["n_seen"])  # [epochs, rows, candidates]
    return np.stack(
        [h_by_rejection_rate(s[:ns], f["ys"], s[ns:], f["yu"], f["sp"], f["up"]) for s in scores]
    )  # [epochs, rates]


def report(folds, choosing):
    """The point ``choosing`` (per-fold curves) picks, read on ``folds``; and leave-one-fold-out."""
    point = choose_operating_point(choosing, SMOOTH)
    mean = np.mean([smooth(c)[point["epoch"] - 1, rate_index(point)] for c in folds])
    lofo = []
    for k in range(len(folds)):
        other = choose_operating_point([c for j, c in enumerate(choosing) if j != k], SMOOTH)
        lofo.append(folds[k][other["epoch"] - 1, rate_index(other)])
    return point, mean, lofo


def smooth(c):
    return smooth_epochs(c, SMOOTH)


def rate_index(point):
    return int(round(point["rate"] * 100))


one = [curves(p, 1) for p in sys.argv[1:4]]
three = [curves(p, 3) for p in sys.argv[1:4]]
for label, folds, choosing in (
    ("1 model", one, one),
    ("3 models", three, three),
    ("3 models at 1's point", three, one),
):
    point, mean, lofo = report(folds, choosing)
    print(
        f"{label}: best fold-mean H {100 * mean:.1f} (epoch {point['epoch']}, rate {point['rate']:.2f}); "
        f"leave-one-fold-out {100 * np.mean(lofo):.1f} ({' / '.join(f'{100 * h:.1f}' for h in lofo)})"
    )
