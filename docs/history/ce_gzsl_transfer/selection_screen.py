"""VALIDATION ONLY (session 12, ipcetrain12): which way of choosing the epoch and rate narrows IPCE's seed spread?

Input, per run (seed): its folds as in folds_count_report.py (``F0[+F0b],F1[+...],...``; 3 folds, or the 5-fold
split whose folds 0-2 are the 3-fold split's), each fold's members concatenated in order (member 0 is the trainer's
own fold model). Every chooser below picks (epoch, rate) from some folds' curves; the fold left out is read there
with its READ curve (default: all its members averaged, what the final run builds; ``--read single``: member 0),
gamma read off 74 of its held-out seen images (``expected_h``, as members_count_report.py's "lofo H").

Choosers (smoothing 3 unless named): ``m0`` today's (member 0's curves); ``avgK`` the first K members averaged per
fold before the curves are taken (the final model is an average: K fold members cost K x the selection phase);
``smW`` smoothing W; ``tolT`` engine.selection's tolerance (earliest epoch within T standard errors); ``lastK``
engine.selection's last_epochs (last epoch, rate of the last K epochs' mean curve); ``platD`` the median epoch of
the plateau of epochs whose best smoothed fold-mean H is within D points of the best, at its best rate.

Two protocols: "3-fold" (folds 0-2, each fold chosen by the other two: today's runs, 9 folds) and, with five folds
given, "pairs" (each of the five folds chosen by every pair of the other four, the fold's H averaged over the 6
pairs: 15 folds, 90 choices, as folds_count_report.py's "2 others"). Per chooser: fold-mean lofo H, per seed, seed sd,
fold sd, regret (the fold's own best expected H over every epoch and rate minus the chosen one's), paired vs ``m0``
(standard error, folds up / down).
``--base FILE`` (RUN arguments in a file): "vs m0" pairs each fold with today's chooser on those runs instead (a
training-side variant against today's fold models, same seeds and folds).
usage: selection_screen.py [--read single|average] [--choosers a,b,...] [--base FILE] RUN [RUN ...]"""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

import numpy as np

from zsl_desktop.engine.readout import expected_h
from zsl_desktop.engine.selection import REJECTION_RATES, choose_operating_point, h_by_rejection_rate, smooth_epochs

SMOOTH, N_CAL = 3, 74
DEFAULT_CHOOSERS = "m0,avg2,avg3,avg5,sm5,sm7,sm9,tol0.5,tol1,last5,last10,plat0.5,plat1,plat2,avg3+sm7,avg5+plat1"


def fold_curves(paths: str) -> dict:
    """{"m0": member 0's [epochs, rates] H, "avgK": the first K members averaged, for K = 2, 3, 5 present}.

    Cached in $SCREEN_CACHE when set (the curves take a while to compute)."""
    if not os.environ.get("SCREEN_CACHE"):
        return compute_curves(paths)
    cache = Path(os.environ["SCREEN_CACHE"]) / (paths.replace("/", "_").replace("+", "__") + ".curves.npz")
    if cache.exists():
        stored = np.load(cache)
        return {**{k: stored[k] for k in stored.files if k != "members"}, "members": int(stored["members"])}
    out = compute_curves(paths)
    np.savez(cache, **out)
    return out


def compute_curves(paths: str) -> dict:
    files = [np.load(p) for p in paths.split("+")]
    f = files[0]
    for other in files[1:]:
        for key in ("n_seen", "ys", "yu", "sp", "up"):
            assert np.array_equal(other[key], f[key]), f"{paths}: {key} differs"
    members = np.concatenate([g["scores"] for g in files]).astype(np.float64)  # [members, epochs, rows, c]
    ns, ys, yu, sp, up = int(f["n_seen"]), f["ys"], f["yu"], f["sp"], f["up"]

    def curves(scores):
        return np.stack([h_by_rejection_rate(s[:ns], ys, s[ns:], yu, sp, up) for s in scores])

    out = {"m0": curves(members[0]), "members": len(members)}
    for k in (2, 3, 5):
        if k <= len(members):
            out[f"avg{k}"] = curves(members[:k].mean(0))
    return out


def plateau_point(curves, window, within):
    """Median epoch of those whose best smoothed fold-mean H is within ``within`` (H, 0-1) of the best; its best rate."""
    length = min(len(c) for c in curves)
    mean = smooth_epochs(np.stack([np.asarray(c)[:length] for c in curves]).mean(0), window)
    top = mean.max(1)
    near = np.nonzero(top >= top.max() - within)[0]
    epoch = int(near[len(near) // 2])
    return {"epoch": epoch + 1, "rate": float(REJECTION_RATES[int(np.argmax(mean[epoch]))])}


def choose(name: str, folds: list[dict]) -> dict:
    """(epoch, rate) that chooser ``name`` takes from these folds' curves."""
    source, window, extra = "m0", SMOOTH, {}
    plateau = None
    for part in name.split("+"):
        if part.startswith("avg"):
            source = part
        elif part.startswith("sm"):
            window = int(part[2:])
        elif part.startswith("tol"):
            extra["tolerance"] = float(part[3:])
        elif part.startswith("last"):
            extra["last_epochs"] = int(part[4:])
        elif part.startswith("plat"):
            plateau = float(part[4:]) / 100
    curves = [f[source] for f in folds]
    if plateau is not None:
        return plateau_point(curves, window, plateau)
    return choose_operating_point(curves, window, **extra)


def read(fold: dict, point: dict, how: str) -> float:
    curve = fold["m0" if how == "single" else f"avg{min(fold['members'], 5)}"]
    return expected_h(curve[point["epoch"] - 1], point["rate"], N_CAL)


def best_possible(fold: dict, how: str) -> float:
    curve = fold["m0" if how == "single" else f"avg{min(fold['members'], 5)}"]
    return max(expected_h(c, r, N_CAL) for c in curve for r in REJECTION_RATES[::2])


def summarise(label, values, regrets, base):
    """values [seeds, folds] in %, regrets a flat list in %, base the m0 values."""
    per = values.mean(1)
    sd = float(np.std(per, ddof=1)) if len(per) > 1 else 0.0
    diff = values - base
    reg = np.asarray(regrets)
    print(
        f"  {label:12s} {per.mean():6.2f} ({' / '.join(f'{h:.1f}' for h in per)}) seed sd {sd:.2f} fold sd "
        f"{values.std(ddof=1):.2f}  regret {reg.mean():.2f}/{reg.std(ddof=1):.2f}/p90 {np.percentile(reg, 90):.2f}/"
        f"max {reg.max():.2f}  vs m0 {diff.mean():+.2f} +- {diff.std(ddof=1) / np.sqrt(diff.size):.2f} "
        f"({(diff > 0.05).sum()} up, {(diff < -0.05).sum()} down)"
    )


def lofo_values(runs, name, n, how):
    """([seeds, folds] lofo H in %, regrets in %, chosen points) of chooser ``name`` under protocol ``n`` folds."""
    values, regrets, points = [], [], []
    for folds in runs:
        row = []
        for k in range(n):
            others = [j for j in range(n) if j != k]
            choosers = [tuple(others)] if n == 3 else list(itertools.combinations(others, 2))
            best = best_possible(folds[k], how)
            hs = []
            for c in choosers:
                point = choose(name, [folds[j] for j in c])
                hs.append(read(folds[k], point, how))
                regrets.append(100 * (best - hs[-1]))
                points.append((point["epoch"], point["rate"]))
            row.append(100 * float(np.mean(hs)))
        values.append(row)
    return np.array(values), regrets, points


def main():
    args = sys.argv[1:]
    how, names, base_runs = "average", DEFAULT_CHOOSERS.split(","), None
    while args and args[0].startswith("--"):
        if args[0] == "--read":
            how = args[1]
        elif args[0] == "--base":
            base_runs = [[fold_curves(p) for p in spec.split(",")] for spec in Path(args[1]).read_text().split()]
        elif args[0] == "--choosers":
            names = args[1].split(",")
        args = args[2:]
    runs = [[fold_curves(p) for p in spec.split(",")] for spec in args]
    names = [n for n in names if all(("avg" not in n) or all(n.split("+")[0] in f for f in r) for r in runs)]
    print(f"fold read on {'member 0' if how == 'single' else 'its members averaged'}; gamma off {N_CAL} images")
    protocols = [("3-fold", 3)] + ([("pairs", 5)] if all(len(r) >= 5 for r in runs) else [])
    for protocol, n in protocols:
        print(f"\n{protocol}: fold-mean lofo H (%), per seed, seed sd, fold sd, regret mean/sd/p90/max, paired vs m0")
        results = {name: lofo_values(runs, name, n, how) for name in names}
        reference = lofo_values(base_runs, "m0", n, how)[0] if base_runs else results["m0"][0]
        for name in names:
            values, regrets, points = results[name]
            summarise(name, values, regrets, reference)
        if n == 3:
            print("  chosen (epoch/rate) per seed and fold; then the whole run's choice from folds 0-2:")
            for name in names:
                pts = results[name][2]
                whole = [choose(name, folds[:3]) for folds in runs]
                print(
                    f"    {name:12s} "
                    + " ".join(f"{e}/{r:.2f}" for e, r in pts)
                    + "  | run: "
                    + " ".join(f"{w['epoch']}/{w['rate']:.2f}" for w in whole)
                )


if __name__ == "__main__":
    main()
