"""VALIDATION ONLY (session 10, draws10): ``classifier_draws`` K = 1 / 3 / 5 on the same fold models.

Input: run prefixes P (fold_draws.py's files P-f{0,1,2}-m{j}.npz; member 0 is the trainer's fold model, members 1
and 2, where present for every fold, make the averaged "final_models" reading too). For each K, fold k is read as
the trainer would read it with the option set: epoch e and rate r chosen on the other two folds' member-0 curves of
the same K (``choose_operating_point``, 3-epoch smoothing), H at r expected over reading gamma off 74 images
(``expected_h``, as lofo.py / member_transfers.py). Also per fold at e: the best-gamma H and AUSUC (exact curve),
and the mean of both over the last 5 epochs (no epoch choice). Paired against K = 1 on the same fold models.
usage: fold_draws_report.py PREFIX [PREFIX ...]"""

import sys
from pathlib import Path

import numpy as np

from zsl_desktop.engine.evaluation import seen_unseen_curve
from zsl_desktop.engine.readout import expected_h
from zsl_desktop.engine.selection import choose_operating_point, h_by_rejection_rate

SMOOTH, N_CAL, LAST = 3, 74, 5


class Fold:
    """One fold's saved scores: ``models[name][K index]`` -> [epochs, rows, candidates] log-softmax scores."""

    def __init__(self, prefix, k):
        f = np.load(f"{prefix}-f{k}-m0.npz")
        self.draws = list(f["draws"])
        self.ns, self.ys, self.yu, self.sp, self.up = int(f["n_seen"]), f["ys"], f["yu"], f["sp"], f["up"]
        members = [f["scores"].astype(np.float64)]
        for j in (1, 2):
            path = Path(f"{prefix}-f{k}-m{j}.npz")
            if path.exists():
                members.append(np.load(path)["scores"].astype(np.float64))
        self.models = {"one model": members[0]}
        if len(members) == 3:
            self.models["3 models averaged"] = np.mean(members, 0)

    def curves(self, name, d):
        return np.stack([self.rate_curve(s) for s in self.models[name][d]])

    def rate_curve(self, s):
        return h_by_rejection_rate(s[: self.ns], self.ys, s[self.ns :], self.yu, self.sp, self.up)

    def exact(self, s):
        c = seen_unseen_curve(s[: self.ns], self.ys, s[self.ns :], self.yu, self.sp, self.up)
        return c.best().h, c.ausuc


def main():
    prefixes = sys.argv[1:]
    runs = [[Fold(p, k) for k in range(3)] for p in prefixes]
    draws = runs[0][0].draws
    names = [n for n in runs[0][0].models if all(n in f.models for r in runs for f in r)]
    for name in names:
        rows = {}  # K -> [(run, lofo H, best H at e, AUSUC at e, last-5 best H, last-5 AUSUC)]
        for i, folds in enumerate(runs):
            single = {d: [f.curves("one model", d) for f in folds] for d in range(len(draws))}
            read = single if name == "one model" else {d: [f.curves(name, d) for f in folds] for d in single}
            for k, fold in enumerate(folds):
                for d, K in enumerate(draws):
                    point = choose_operating_point([c for j, c in enumerate(single[d]) if j != k], SMOOTH)
                    e, rate = point["epoch"] - 1, point["rate"]
                    scores = fold.models[name][d]
                    best_h, ausuc = fold.exact(scores[e])
                    last = np.array([fold.exact(s) for s in scores[-LAST:]])
                    lofo = expected_h(read[d][k][e], rate, N_CAL)
                    rows.setdefault(K, []).append((i, lofo, best_h, ausuc, *last.mean(0)))
                    print(
                        f"{prefixes[i]} fold {k} {name} K={K}: epoch {e + 1} rate {rate:.2f} lofo H {100 * lofo:.1f} "
                        f"best H {100 * best_h:.1f} AUSUC {100 * ausuc:.1f} last-5 {100 * last[:, 0].mean():.1f} / "
                        f"{100 * last[:, 1].mean():.1f}"
                    )
        print(
            f"\n== {name}: mean over {len(runs)} run(s) x 3 folds; per-run means (sd over runs); vs K = 1 paired "
            "(mean, folds up / down)"
        )
        base = np.array(rows[draws[0]])
        for K, v in rows.items():
            v = np.array(v)
            line = f"K={K}:"
            for col, label in (
                (1, "lofo H"),
                (2, "best H at e"),
                (3, "AUSUC at e"),
                (4, "last-5 best H"),
                (5, "last-5 AUSUC"),
            ):
                per_run = [100 * v[v[:, 0] == j, col].mean() for j in range(len(runs))]
                diff = 100 * (v[:, col] - base[:, col])
                sd = np.std(per_run, ddof=1) if len(runs) > 1 else 0.0
                line += (
                    f"\n   {label:14s} {100 * v[:, col].mean():5.1f}  runs {' / '.join(f'{h:.1f}' for h in per_run)}"
                    f" (sd {sd:.1f}, fold sd {100 * v[:, col].std(ddof=1):.1f})"
                )
                if K != draws[0]:
                    line += f"  vs K=1 {diff.mean():+.1f} ({(diff > 0.05).sum()} up / {(diff < -0.05).sum()} down)"
            print(line)


if __name__ == "__main__":
    main()
