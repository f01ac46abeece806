"""VALIDATION ONLY (session 11, folds11): does choosing the epoch and rate from 4 folds instead of 2 help, leave-one-fold-out?

Input, per run (seed): the five folds of the 5-fold split (``fold_members.py ipce S K out 0 1 folds=5``; folds 0-2 of
5 hold the same classes as the 3 folds of today's default, so session 9/10's files serve for them), member 0 of each
(the trainer's own single fold model). For each fold k, the epoch e and rate r are chosen as the trainer chooses them
(``choose_operating_point``, smoothing 3, no tolerance; IPCE's "best" rate) from
- "4 others": the other four folds (what a 5-fold run does for a fold it did not see);
- "2 others": each pair of the other four (what a 3-fold run does), the fold's H averaged over the 6 pairs.
Fold k is read at (e, r) with gamma read off 74 of its held-out seen images (``expected_h``, as
members_count_report.py's "lofo H"). Beside the fold means, every 3-subset of the five folds as one 3-fold run (its
folds each chosen by the other two: the figure a 3-fold run of that seed would see) and the 5-fold run (each fold by
the other four), so the spread over seeds can be compared run for run. Also the (epoch, rate) each whole run
chooses: folds 0-2 (today's 3-fold run) against all five.
A fold given as several files (F3+F3b, members concatenated in order, as members_count_report.py) is also read with
all its members averaged (the final run's five models), the choice still made on member 0 as the trainer does:
``--read average`` (default ``single``: member 0).
usage: folds_count_report.py [--read single|average] RUN [RUN ...] with RUN = F0[+F0b],F1[+...],...,F4[+...]"""

import itertools
import sys

import numpy as np

from zsl_desktop.engine.readout import expected_h
from zsl_desktop.engine.selection import choose_operating_point, h_by_rejection_rate

SMOOTH, N_CAL = 3, 74


READ = "single"


def fold_curves(paths):
    """([epochs, rates] validation H of member 0, the same of all members averaged) of one fold's files."""
    files = [np.load(p) for p in paths.split("+")]
    f = files[0]
    for other in files[1:]:
        for key in ("n_seen", "ys", "yu", "sp", "up"):
            assert np.array_equal(other[key], f[key]), f"{paths}: {key} differs"
    members = np.concatenate([g["scores"] for g in files]).astype(np.float64)  # [members, epochs, rows, c]
    ns, ys, yu, sp, up = int(f["n_seen"]), f["ys"], f["yu"], f["sp"], f["up"]

    def curves(scores):
        return np.stack([h_by_rejection_rate(s[:ns], ys, s[ns:], yu, sp, up) for s in scores])

    one = curves(members[0])
    return one, (curves(members.mean(0)) if len(members) > 1 else one)


def lofo(curves, k, chooser):
    """Fold k's expected H (its READ curves) at the epoch and rate the folds ``chooser`` choose (member 0)."""
    point = choose_operating_point([curves[j][0] for j in chooser], SMOOTH)
    read = curves[k][1 if READ == "average" else 0]
    return expected_h(read[point["epoch"] - 1], point["rate"], N_CAL), point["epoch"], point["rate"]


def run(spec):
    curves = [fold_curves(p) for p in spec.split(",")]
    n = len(curves)
    four, two = [], []  # per fold: H chosen by the 4 others; mean H over the pairs of others
    regret4, regret2 = [], []  # the fold's own best H (any epoch, rate, same read-out) minus the chosen one's
    for k in range(n):
        others = [j for j in range(n) if j != k]
        h4, e4, r4 = lofo(curves, k, others)
        pairs = [lofo(curves, k, pair) for pair in itertools.combinations(others, 2)]
        four.append(h4)
        two.append(np.mean([p[0] for p in pairs]))
        read = curves[k][1 if READ == "average" else 0]
        best = max(expected_h(c, r, N_CAL) for c in read for r in np.round(np.linspace(0, 1, 101), 2))
        regret4.append(best - h4)
        regret2.extend(best - p[0] for p in pairs)
        print(
            f"   fold {k}: 4 others -> epoch {e4}, rate {r4:.2f}, H {100 * h4:.1f}; 2 others (6 pairs) -> H "
            f"{100 * two[-1]:.1f} (pairs {' '.join(f'{100 * p[0]:.1f}' for p in pairs)}; epochs "
            f"{[p[1] for p in pairs]})"
        )
    triples = {}
    for subset in itertools.combinations(range(n), 3):
        triples[subset] = np.mean([lofo(curves, k, [j for j in subset if j != k])[0] for k in subset])
    whole3 = choose_operating_point([curves[j][0] for j in (0, 1, 2)], SMOOTH)
    whole5 = choose_operating_point([c[0] for c in curves], SMOOTH)
    print(
        f"   whole run: 3 folds (0-2) epoch {whole3['epoch']} rate {whole3['rate']:.2f}; 5 folds epoch "
        f"{whole5['epoch']} rate {whole5['rate']:.2f}"
    )
    return np.array(four), np.array(two), triples, (whole3, whole5), np.array(regret4), np.array(regret2)


def main():
    global READ
    specs = sys.argv[1:]
    if specs[:1] == ["--read"]:
        READ, specs = specs[1], specs[2:]
    print("fold H read on", "all members averaged" if READ == "average" else "member 0")
    runs = []
    for spec in specs:
        print("==", spec)
        runs.append(run(spec))
    four = 100 * np.array([r[0] for r in runs])  # [seeds, folds]
    two = 100 * np.array([r[1] for r in runs])
    seeds = len(runs)

    def sd(v):
        return float(np.std(v, ddof=1)) if len(v) > 1 else 0.0

    print("\nleave-one-fold-out H (validation, %), fold mean per seed, its sd over seeds, fold sd:")
    for name, v in (("chosen by 2 other folds (3-fold run)", two), ("chosen by 4 other folds (5-fold run)", four)):
        per = v.mean(1)
        print(
            f"  {name}: {per.mean():.2f} ({' / '.join(f'{h:.1f}' for h in per)}), seed sd {sd(per):.2f}, "
            f"fold sd {v.std(ddof=1):.2f}"
        )
    diff = four - two
    print(
        f"  4 - 2 paired per fold: {diff.mean():+.2f} +- {diff.std(ddof=1) / np.sqrt(diff.size):.2f} (standard error), "
        f"{(diff > 0.05).sum()} up, {(diff < -0.05).sum()} down of {diff.size}"
    )
    for name, i in (("2 others (every pair)", 5), ("4 others", 4)):
        v = 100 * np.concatenate([r[i] for r in runs])
        print(
            f"  regret (fold's own best expected H - chosen), {name}: mean {v.mean():.2f}, sd {v.std(ddof=1):.2f}, "
            f"90th percentile {np.percentile(v, 90):.2f}, worst {v.max():.2f}, n {v.size}"
        )
    tri = 100 * np.array([[r[2][s] for s in sorted(r[2])] for r in runs])  # [seeds, 10 subsets]
    print(
        f"  every 3-subset as a 3-fold run: mean {tri.mean():.2f}; seed sd per subset, mean over subsets "
        f"{np.mean([sd(tri[:, j]) for j in range(tri.shape[1])]) if seeds > 1 else 0:.2f}; sd over runs "
        f"(seeds x subsets) {tri.std(ddof=1):.2f}; today's folds 0-2: {' / '.join(f'{h:.1f}' for h in tri[:, 0])}"
    )
    print(f"  the 5-fold run: {' / '.join(f'{h:.1f}' for h in four.mean(1))}, seed sd {sd(four.mean(1)):.2f}")


if __name__ == "__main__":
    main()
