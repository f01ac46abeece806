"""VALIDATION ONLY (session 11, ipce11): how many final models to average (final_models K), leave-one-fold-out.

Input, per run (seed): its three folds, each as one or more fold_members.py files whose members are concatenated
in order (e.g. members 0-2 from session 9/10's files, 3-4 from ``fold_members.py ... 3 2``). As the trainer does,
the epoch e and rate r come from the other two folds' single models (member 0; smoothing 3, no tolerance); fold k's
first K members averaged at e play the final models, gamma read off 74 of its held-out seen images: "lofo H" is the
expected H over that read-out (engine.readout.expected_h, as member_transfers.py's "beta"). Beside it the best-gamma
H and AUSUC of the average at e (no transfer), and for K < members every K-subset of the members (how much the
choice of member seeds moves an average of K: the member-draw noise of a run).
usage: members_count_report.py RUN [RUN ...] with RUN = F0[+F0b...],F1[+...],F2[+...]"""

import itertools
import sys

import numpy as np

from zsl_desktop.engine.evaluation import seen_unseen_curve
from zsl_desktop.engine.readout import expected_h
from zsl_desktop.engine.selection import choose_operating_point, h_by_rejection_rate

SMOOTH, N_CAL = 3, 74


class Fold:
    def __init__(self, paths):
        files = [np.load(p) for p in paths]
        first = files[0]
        for f in files[1:]:
            for key in ("n_seen", "ys", "yu", "sp", "up"):
                assert np.array_equal(f[key], first[key]), f"{paths}: {key} differs"
        self.members = np.concatenate([f["scores"] for f in files]).astype(np.float64)  # [members, epochs, rows, c]
        self.ns, self.ys, self.yu, self.sp, self.up = (
            int(first["n_seen"]),
            first["ys"],
            first["yu"],
            first["sp"],
            first["up"],
        )
        self.one_curves = np.stack([self.curve(s) for s in self.members[0]])

    def curve(self, s):
        return h_by_rejection_rate(s[: self.ns], self.ys, s[self.ns :], self.yu, self.sp, self.up)

    def read(self, members, e, rate):
        """(lofo H expected over the read-out, best-gamma H, AUSUC) of ``members`` averaged at epoch index e."""
        s = self.members[list(members), e].mean(0)
        curve = self.curve(s)
        auc = seen_unseen_curve(s[: self.ns], self.ys, s[self.ns :], self.yu, self.sp, self.up).ausuc
        return expected_h(curve, rate, N_CAL), float(curve.max()), auc


def run(spec, counts):
    folds = [Fold(part.split("+")) for part in spec.split(",")]
    total = min(len(f.members) for f in folds)
    out = {}  # K -> [per fold (lofo, best, auc)]; "K subsets" -> [per fold (mean lofo, sd lofo)]
    for k, fold in enumerate(folds):
        point = choose_operating_point([f.one_curves for j, f in enumerate(folds) if j != k], SMOOTH)
        e, rate = point["epoch"] - 1, point["rate"]
        for count in counts:
            if count > total:
                continue
            out.setdefault(count, []).append(fold.read(range(count), e, rate))
            if 1 < count < total:
                subsets = [fold.read(c, e, rate)[0] for c in itertools.combinations(range(total), count)]
                out.setdefault(f"{count} subsets", []).append((np.mean(subsets), np.std(subsets, ddof=1)))
        print(
            f"   fold {k}: epoch {e + 1}, rate {rate:.2f}; "
            + "; ".join(f"K={c} lofo {100 * out[c][-1][0]:.1f}" for c in counts if c <= total)
        )
    return out


def main():
    counts = (1, 3, 5)
    runs = []
    for spec in sys.argv[1:]:
        print("==", spec)
        runs.append(run(spec, counts))
    print(
        "\nper K: fold-mean lofo H (per run), seed sd of the run means, fold sd; best-gamma H; AUSUC; "
        "paired lofo vs K=3 (folds up / down)"
    )
    base = np.array([[f[0] for f in r[3]] for r in runs])
    for count in counts:
        if any(count not in r for r in runs):
            continue
        v = np.array([r[count] for r in runs])  # [runs, folds, 3]
        per_run = 100 * v[:, :, 0].mean(1)
        diff = 100 * (v[:, :, 0] - base)
        print(
            f"  K={count}: lofo {per_run.mean():5.1f} ({' / '.join(f'{h:.1f}' for h in per_run)}), seed sd "
            f"{np.std(per_run, ddof=1) if len(runs) > 1 else 0:.1f}, fold sd {100 * v[:, :, 0].std(ddof=1):.1f}; "
            f"best-gamma H {100 * v[:, :, 1].mean():.1f}; AUSUC {100 * v[:, :, 2].mean():.1f}; "
            f"vs K=3 {diff.mean():+.2f} ({(diff > 0.05).sum()} up, {(diff < -0.05).sum()} down)"
        )
        key = f"{count} subsets"
        if all(key in r for r in runs):
            s = np.array([r[key] for r in runs])  # [runs, folds, 2]
            print(
                f"        every {count}-subset of the members: mean lofo {100 * s[:, :, 0].mean():.1f}, "
                f"sd over subsets (mean over folds) {100 * s[:, :, 1].mean():.1f}"
            )


if __name__ == "__main__":
    main()
