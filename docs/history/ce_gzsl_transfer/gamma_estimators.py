"""VALIDATION ONLY (session 12, ipce12): how the final model's gamma is read off the 74 calibration images.

Today gamma is an order statistic of the calibration images' flip points (``selection.gamma_at_rate``: mid-way
between the k-th and k+1-th, k = round(rate n)). Smoother estimates of the same quantile use every image:
Harrell-Davis (a Beta-weighted mean of all order statistics) and a Gaussian-kernel CDF inverted at the rate.

Each fold k of each run plays the final run: the epoch e and the rate come from the other folds' single models
(member 0, smoothing 3, as the trainer), fold k's members averaged at e (log-softmax mean) are the final models,
its held-out seen images the population the calibration images come from. DRAWS bootstrap draws of 74 of them
(the same draws for every estimator: paired); per draw gamma from each estimator, H read on the whole fold.
"lofo H": the mean over draws; "read-out sd": the sd over draws. Aim "best" (IPCE) or "expected" (CE-GZSL:
engine.readout's rate for n = 74). usage: gamma_estimators.py AIM MEMBERS RUN [RUN ...] with
RUN = F0[+F0b...],F1[+...],F2[+...] (as members_count_report.py; MEMBERS: how many to average)."""

import sys

import numpy as np
from scipy import special, stats

from zsl_desktop.engine import evaluation as ev
from zsl_desktop.engine.readout import rate_for_readout
from zsl_desktop.engine.selection import choose_operating_point, gamma_at_rate, h_by_rejection_rate

SMOOTH, N_CAL, DRAWS = 3, 74, 400


def harrell_davis(flips, rate):
    """The Harrell-Davis estimate of the ``rate`` quantile (rates 0 and 1: below / above every flip)."""
    x = np.sort(np.asarray(flips, np.float64))
    n = len(x)
    if rate <= 0 or rate >= 1:
        return gamma_at_rate(x, rate)
    a, b = rate * (n + 1), (1 - rate) * (n + 1)
    edges = special.betainc(a, b, np.arange(n + 1) / n)
    return float(np.dot(np.diff(edges), x))


def kernel_quantile(flips, rate):
    """The gamma where a Gaussian-kernel smoothed CDF of the flips reaches ``rate`` (Silverman bandwidth)."""
    x = np.asarray(flips, np.float64)
    if rate <= 0 or rate >= 1:
        return gamma_at_rate(x, rate)
    spread = min(x.std(ddof=1), stats.iqr(x) / 1.349) or x.std(ddof=1) or 1.0
    h = 0.9 * spread * len(x) ** -0.2
    lo, hi = x.min() - 5 * h, x.max() + 5 * h
    for _ in range(60):
        mid = (lo + hi) / 2
        if stats.norm.cdf((mid - x) / h).mean() < rate:
            lo = mid
        else:
            hi = mid
    return float((lo + hi) / 2)


ESTIMATORS = {"order (today)": gamma_at_rate, "harrell-davis": harrell_davis, "kernel": kernel_quantile}


class Fold:
    def __init__(self, paths, members):
        files = [np.load(p) for p in paths]
        self.all = np.concatenate([f["scores"] for f in files]).astype(np.float64)
        assert len(self.all) >= members, f"{paths}: {len(self.all)} members < {members}"
        self.count = members
        first = files[0]
        self.ns, self.ys, self.yu, self.sp, self.up = (
            int(first["n_seen"]),
            first["ys"],
            first["yu"],
            first["sp"],
            first["up"],
        )
        self.one_curves = np.stack([self.curve(s) for s in self.all[0]])

    def curve(self, s):
        return h_by_rejection_rate(s[: self.ns], self.ys, s[self.ns :], self.yu, self.sp, self.up)

    def flips(self, s):
        return s[:, self.sp].max(1) - s[:, self.up].max(1)

    def h_at(self, s, gamma):
        return ev.gzsl_accuracy(s[: self.ns], self.ys, s[self.ns :], self.yu, self.sp, self.up, gamma).h


def run(spec, aim, members, seed):
    folds = [Fold(part.split("+"), members) for part in spec.split(",")]
    out = []  # per fold: {estimator: [H per draw]}
    for k, fold in enumerate(folds):
        others = [f.one_curves for j, f in enumerate(folds) if j != k]
        point = choose_operating_point(others, SMOOTH)
        e, rate = point["epoch"] - 1, point["rate"]
        if aim == "expected":
            rate = rate_for_readout([c[e] for c in others], N_CAL)
        s = fold.all[: fold.count, e].mean(0)
        flips = fold.flips(s[: fold.ns])
        rng = np.random.default_rng(1000 * seed + k)
        draws = [rng.choice(fold.ns, N_CAL, replace=True) for _ in range(DRAWS)]
        res = {name: np.array([fold.h_at(s, est(flips[d], rate)) for d in draws]) for name, est in ESTIMATORS.items()}
        res["population (no noise)"] = np.array([fold.h_at(s, gamma_at_rate(flips, rate))])
        # Members' own gammas (each read on its own scores, averaged; applied to the average): on the same draw,
        # and each member on its own draw of 74 (members that keep different calibration images aside; session
        # 10's "member-g own draws"); the draws of members 1.. come from a second stream, so member 0's are paired.
        own = [fold.flips(m) for m in fold.all[: fold.count, e, : fold.ns]]
        extra = np.random.default_rng(7 + 1000 * seed + k)
        others_draws = [[extra.choice(fold.ns, N_CAL, replace=True) for _ in own[1:]] for _ in draws]
        for est_name, est in (("order", gamma_at_rate), ("harrell-davis", harrell_davis)):
            res[f"members' mean gamma, {est_name}"] = np.array(
                [fold.h_at(s, np.mean([est(f[d], rate) for f in own])) for d in draws]
            )
            res[f"members' own draws, {est_name}"] = np.array(
                [
                    fold.h_at(s, np.mean([est(f[i], rate) for f, i in zip(own, [d, *o])]))
                    for d, o in zip(draws, others_draws)
                ]
            )
        out.append(res)
        print(
            f"   fold {k}: epoch {e + 1}, rate {rate:.2f}; "
            + "; ".join(f"{n} {100 * v.mean():.1f}" for n, v in res.items())
        )
    return out


def main():
    aim, members, specs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    runs = []
    for i, spec in enumerate(specs):
        print("==", spec)
        runs.append(run(spec, aim, members, i))
    print(
        f"\naim {aim}, {members} members averaged, {DRAWS} draws of {N_CAL}: lofo H (per run), seed sd, fold sd, "
        "read-out sd; paired vs order (folds up / down)"
    )
    base = np.array([[f["order (today)"].mean() for f in r] for r in runs])
    for name in runs[0][0]:
        v = np.array([[f[name].mean() for f in r] for r in runs])  # [runs, folds]
        sd = np.mean([f[name].std(ddof=1) if len(f[name]) > 1 else 0 for r in runs for f in r])
        per_run = 100 * v.mean(1)
        d = 100 * (v - base)
        print(
            f"  {name:22s} lofo {per_run.mean():5.2f} ({' / '.join(f'{h:.1f}' for h in per_run)}), seed sd "
            f"{np.std(per_run, ddof=1):.2f}, fold sd {100 * v.std(ddof=1):.2f}, read-out sd {100 * sd:.2f}; "
            f"vs order {d.mean():+.2f} +- {d.std(ddof=1) / np.sqrt(d.size):.2f} ({(d > 0.05).sum()} up, {(d < -0.05).sum()} down)"
        )


if __name__ == "__main__":
    main()
