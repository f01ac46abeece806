"""VALIDATION ONLY (session 15, ipce15): IPCE's ``final_draws`` K with its five final models averaged.

draws_members_report.py (session 14, CE-GZSL: three members, rate "expected") for IPCE's default recipe: five
members (``final_models`` 5; members 1-4 may be fold_draws_at.py's one-epoch files) and ``calibration_rate`` "best" (the rate is the one of the best fold-mean H, not
engine.readout's aim). Input: fold_draws.py's files PREFIX-s{S}-f{k}-m{j}.npz (seeds S, folds k = 0-2, members
j = 0-4; every epoch's held-out log-softmax scores with K = 1 / 3 / 5 draws a softmax, paired on the same fold
model). Fold k of seed S plays the final run as the trainer plays it: epoch e and rate r chosen on the other two
folds' member-0 one-draw curves (``choose_operating_point``, smoothing 3: the fold models keep one draw), the
fold read with its five members averaged at e, each member's softmax of K draws ("read K"; K = 1 is today,
K = 5 is ``final_draws`` 5), H at r expected over reading gamma off 74 images (``expected_h``). Beside it the
best-gamma H and AUSUC at e. Paired against read 1: mean difference, its standard error over the folds, folds up
/ down; and how far one reading of a fold moves between read 1 and read K at the same point (sd over folds).
usage: ipce_draws_report.py PREFIX SEED [SEED ...]  |  ipce_draws_report.py --epochs PREFIX SEED (fold 0-2's epochs)"""

import sys

import numpy as np

from zsl_desktop.engine.evaluation import seen_unseen_curve
from zsl_desktop.engine.readout import expected_h
from zsl_desktop.engine.selection import choose_operating_point, h_by_rejection_rate

SMOOTH, N_CAL, MEMBERS = 3, 74, 5


class Fold:
    """One fold's five members: member 0's one-draw curves (they choose) and the members' averaged scores at e."""

    def __init__(self, prefix, seed, k, members=MEMBERS):
        files = [np.load(f"{prefix}-s{seed}-f{k}-m{j}.npz") for j in range(members)]
        f = files[0]
        self.draws = [int(d) for d in f["draws"]]
        self.ns, self.ys, self.yu, self.sp, self.up = int(f["n_seen"]), f["ys"], f["yu"], f["sp"], f["up"]
        self.files = files  # a member's file holds every epoch (fold_draws.py) or one (fold_draws_at.py)
        self.chooser = np.stack([self.curve(s) for s in f["scores"][0].astype(np.float64)])  # member 0, one draw

    def average(self, d, e):
        """The members' mean log-softmax scores at epoch index e with K = draws[d] (what ``score`` averages)."""
        return np.mean([self.at(g, d, e) for g in self.files], 0)

    @staticmethod
    def at(g, d, e):
        if "epochs" not in g:
            return g["scores"][d, e].astype(np.float64)
        where = np.nonzero(g["epochs"] == e + 1)[0]
        assert len(where) == 1, f"a member was not scored at epoch {e + 1}"
        return g["scores"][d, int(where[0])].astype(np.float64)

    def curve(self, s):
        return h_by_rejection_rate(s[: self.ns], self.ys, s[self.ns :], self.yu, self.sp, self.up)

    def exact(self, s):
        c = seen_unseen_curve(s[: self.ns], self.ys, s[self.ns :], self.yu, self.sp, self.up)
        return c.best().h, c.ausuc


def lofo_points(folds):
    """Per fold: the (epoch index, rate) the other two folds' member-0 curves choose."""
    points = []
    for k in range(len(folds)):
        point = choose_operating_point([f.chooser for j, f in enumerate(folds) if j != k], SMOOTH)
        points.append((point["epoch"] - 1, float(point["rate"])))
    return points


def read(folds, read_d):
    """Per fold: (lofo H, best-gamma H at e, AUSUC at e, epoch, rate) as the trainer would read it (rate "best")."""
    out = []
    for fold, (e, r) in zip(folds, lofo_points(folds)):
        s = fold.average(read_d, e)
        best, ausuc = fold.exact(s)
        out.append((expected_h(fold.curve(s), r, N_CAL), best, ausuc, e + 1, r))
    return np.array(out)


def main():
    if sys.argv[1] == "--epochs":  # the epochs at which members 1-4 are read (fold_draws_at.py): member 0 only
        folds = [Fold(sys.argv[2], int(sys.argv[3]), k, members=1) for k in range(3)]
        print(" ".join(str(e + 1) for e, _ in lofo_points(folds)))
        return
    prefix, seeds = sys.argv[1], [int(s) for s in sys.argv[2:]]
    runs = {s: [Fold(prefix, s, k) for k in range(3)] for s in seeds}
    draws = runs[seeds[0]][0].draws
    base = None
    print(
        f"IPCE, seeds {seeds}; {MEMBERS} members averaged; lofo H = expected H at the best fold-mean rate, gamma off {N_CAL} images"
    )
    for d in range(len(draws)):
        res = {s: read(runs[s], d) for s in seeds}  # per seed [folds, 5]
        lofo = np.concatenate([res[s][:, 0] for s in seeds]) * 100
        per_seed = [100 * res[s][:, 0].mean() for s in seeds]
        best = np.mean([res[s][:, 1].mean() for s in seeds]) * 100
        ausuc = np.mean([res[s][:, 2].mean() for s in seeds]) * 100
        line = (
            f"read K={draws[d]}: lofo H {lofo.mean():.2f} (per seed "
            + " / ".join(f"{h:.1f}" for h in per_seed)
            + f") seed sd {np.std(per_seed, ddof=1):.2f} fold sd {lofo.std(ddof=1):.2f}"
            + f" | best-gamma H at e {best:.2f} AUSUC {ausuc:.2f}"
        )
        if base is None:
            base = lofo
        else:
            diff = lofo - base
            se = diff.std(ddof=1) / np.sqrt(len(diff))
            line += (
                f" | vs read 1 {diff.mean():+.2f} +- {se:.2f} ({(diff > 0.05).sum()} up / {(diff < -0.05).sum()} down)"
            )
            line += f"; read 1 vs read {draws[d]} at the same point differ by sd {diff.std(ddof=1):.2f}"
        print(line)
        print("    epoch/rate: " + " ".join(f"{int(res[s][k, 3])}/{res[s][k, 4]:.2f}" for s in seeds for k in range(3)))
        print("    folds: " + " ".join(f"{h:.1f}" for h in lofo))
    whole = []  # the whole run's choice (all three folds), as its final models would be trained
    for s in seeds:
        point = choose_operating_point([f.chooser for f in runs[s]], SMOOTH)
        whole.append(f"seed {s}: {point['epoch']}/{point['rate']:.2f}")
    print("whole run's epoch/rate: " + ", ".join(whole))


if __name__ == "__main__":
    main()
