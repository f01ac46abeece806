"""Leave-one-fold-out check of epoch rules on the fold curves a ``zsl-desktop train`` log prints (validation only).

Why: on small data the chosen epoch can look like the cause of a bad test figure (IPCE on the digit stand-in of
issue 15 kept 4 epochs of 40). Whether another rule would choose better can be asked of the validation folds
alone: for each fold, choose the epoch on the mean curve of the other folds and read the held-out fold's H and
ZSL there. A rule that does not win here has no evidence behind it, whatever it does on test.
The figures are the ones the log prints per epoch (each fold's H at its own best gamma, and its ZSL), a close
stand-in for the rejection-rate curves the trainer averages (engine.selection). Developer tool, not shipped.
usage: python docs/small_data/epoch_rules_lofo.py TRAIN.log [TRAIN.log ...]
"""

import re
import sys

import numpy as np


def smooth(values, window):
    """Moving average with the ends padded by their own values (engine.selection.smooth_epochs, one curve)."""
    if window <= 1:
        return values
    pad = window // 2
    padded = np.concatenate([np.repeat(values[:1], pad), values, np.repeat(values[-1:], pad)])
    return np.convolve(padded, np.ones(window) / window, "valid")[: len(values)]


RULES = {
    "argmax, window 3 (the default)": lambda curve: int(np.argmax(smooth(curve, 3))),
    "argmax, window 5": lambda curve: int(np.argmax(smooth(curve, 5))),
    "argmax, window 9": lambda curve: int(np.argmax(smooth(curve, 9))),
    "last epoch": lambda curve: len(curve) - 1,
    "middle epoch": lambda curve: len(curve) // 2 - 1,
}


def fold_curves(text):
    """[folds, epochs] arrays of validation H and ZSL from a train log, cut to the shortest fold; None if < 2 folds."""
    folds = text.split("phase final")[0].split("phase select: fold")[1:]
    h, z = [], []
    for fold in folds:
        rows = re.findall(r"epoch \d+: validation H\s+([\d.]+) \(U [\d.]+ S [\d.]+\) ZSL\s+([\d.]+)", fold)
        h.append([float(r[0]) for r in rows])
        z.append([float(r[1]) for r in rows])
    if len(folds) < 2 or min(map(len, h)) < 2:
        return None
    n = min(map(len, h))
    return np.array([c[:n] for c in h]), np.array([c[:n] for c in z])


def held_out(h, z, rule):
    """Mean over folds of the held-out fold's (H, ZSL) at the epoch the rule picks on the other folds."""
    picks = [rule(np.delete(h, k, 0).mean(0)) for k in range(len(h))]
    return float(np.mean([h[k, e] for k, e in enumerate(picks)])), float(
        np.mean([z[k, e] for k, e in enumerate(picks)])
    )


def main(paths):
    totals = {name: [] for name in RULES}
    for path in paths:
        curves = fold_curves(open(path).read())
        if curves is None:
            print(f"{path}: fewer than 2 folds with curves, skipped")
            continue
        cells = []
        for name, rule in RULES.items():
            figures = held_out(*curves, rule)
            totals[name].append(figures)
            cells.append(f"{name}: H {figures[0]:.1f} ZSL {figures[1]:.1f}")
        print(f"{path.split('/')[-1]} | " + " | ".join(cells))
    for name, figures in totals.items():
        if figures:
            mean = np.mean(figures, 0)
            print(f"mean over {len(figures)} logs, {name}: held-out fold H {mean[0]:.1f} ZSL {mean[1]:.1f}")


if __name__ == "__main__":
    main(sys.argv[1:])
