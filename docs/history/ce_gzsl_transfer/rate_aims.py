"""VALIDATION ONLY (session 12, ipce12): which rate the final model aims at, from the other folds' curves.

As members_count_report.py: each fold k is read at the epoch the other folds' single models (member 0, smoothing
3) choose, its first MEMBERS members averaged there, gamma read off 74 images (expected H over the read-out,
engine.readout.expected_h). Only the rate differs between the rows:
- best (IPCE today): the rate of the best smoothed fold-mean H (choose_operating_point);
- expected (CE-GZSL today): engine.readout.rate_for_readout at that epoch (n = 74);
- median / mean of per-fold rates: each other fold's own best rate at that epoch, pooled;
- rate-smoothed W: the best rate of the fold-mean curve at that epoch after a moving average of W rate points;
- ceiling: fold k's own best rate (of the averaged model) at that epoch: no transfer can do better.
usage: rate_aims.py MEMBERS RUN [RUN ...] with RUN = F0[+F0b...],F1[+...],... (any number of folds)."""

import sys

import numpy as np

from zsl_desktop.engine.readout import expected_h, rate_for_readout
from zsl_desktop.engine.selection import REJECTION_RATES, choose_operating_point

from gamma_estimators import Fold  # noqa: E402  (beside this script)

SMOOTH, N_CAL = 3, 74


def smoothed_rate(curves, width):
    mean = np.mean(curves, 0)
    padded = np.pad(mean, width // 2, mode="edge")
    return float(REJECTION_RATES[int(np.argmax(np.convolve(padded, np.ones(width) / width, "valid")))])


def aims(others_at_e, point_rate):
    per_fold = [float(REJECTION_RATES[int(np.argmax(c))]) for c in others_at_e]
    return {
        "best (IPCE today)": point_rate,
        "expected (CE-GZSL today)": rate_for_readout(others_at_e, N_CAL),
        "median of fold rates": float(np.median(per_fold)),
        "mean of fold rates": float(np.mean(per_fold)),
        "rate-smoothed 5": smoothed_rate(others_at_e, 5),
        "rate-smoothed 11": smoothed_rate(others_at_e, 11),
    }


def run(spec, members):
    folds = [Fold(part.split("+"), members) for part in spec.split(",")]
    out = []
    for k, fold in enumerate(folds):
        others = [f.one_curves for j, f in enumerate(folds) if j != k]
        point = choose_operating_point(others, SMOOTH)
        e = point["epoch"] - 1
        curve = fold.curve(fold.all[: fold.count, e].mean(0))
        rates = aims([c[e] for c in others], point["rate"])
        res = {name: (expected_h(curve, r, N_CAL), r) for name, r in rates.items()}
        res["ceiling (own best rate)"] = (float(curve.max()), float(REJECTION_RATES[int(np.argmax(curve))]))
        out.append(res)
        print(f"   fold {k}: epoch {e + 1}; " + "; ".join(f"{n} {r:.2f}:{100 * h:.1f}" for n, (h, r) in res.items()))
    return out


def main():
    members, specs = int(sys.argv[1]), sys.argv[2:]
    runs = [run(spec, members) for spec in specs]
    print(f"\n{members} members averaged: lofo H (per run), seed sd, fold sd, rates' sd; paired vs best (up / down)")
    base = np.array([[f["best (IPCE today)"][0] for f in r] for r in runs])
    for name in runs[0][0]:
        v = np.array([[f[name][0] for f in r] for r in runs])
        rates = np.array([[f[name][1] for f in r] for r in runs])
        per_run = 100 * v.mean(1)
        d = 100 * (v - base)
        print(
            f"  {name:26s} lofo {per_run.mean():5.2f} ({' / '.join(f'{h:.1f}' for h in per_run)}), seed sd "
            f"{np.std(per_run, ddof=1):.2f}, fold sd {100 * v.std(ddof=1):.2f}, rate sd {rates.std(ddof=1):.3f}; "
            f"vs best {d.mean():+.2f} +- {d.std(ddof=1) / np.sqrt(d.size):.2f} ({(d > 0.05).sum()} up, {(d < -0.05).sum()} down)"
        )


if __name__ == "__main__":
    main()
