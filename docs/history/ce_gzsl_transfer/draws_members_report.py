"""VALIDATION ONLY (session 14, cegzsl14): ``classifier_draws`` K with CE-GZSL's three final models averaged.

Input: fold_draws.py's files PREFIX-s{S}-f{k}-m{j}.npz (seeds S, folds k = 0-2, members j = 0-2; each holds every
epoch's held-out log-softmax scores with K = 1 / 3 / 5 draws a softmax, paired on the same fold model). Fold k of
seed S plays the final run as the trainer plays it (CE-GZSL's default, ``calibration_rate=expected``): the epoch e
is chosen on the other two folds' member-0 curves (``choose_operating_point``, smoothing 3) and the rate r is
engine.readout's aim for 74 calibration images on their curves at e; the fold is then read with its three members
averaged at e, H at r expected over reading gamma off 74 images (``expected_h``, as member_transfers.py). Beside it
the best-gamma H and AUSUC at e. "choose K / read K'": the draws behind the curves that choose (the fold phase's
classifiers) and behind the averaged members that are read (the final models' classifiers). Paired against
today's recipe (choose 1 / read 1): mean difference, its standard error over the folds, folds up / down.
"choose last K": the fold curves of one draw except the last epoch's, of K = 5 (what a run gives whose every
model's last epoch alone averages K draws, ``kept_draws``); read with K = 5.
usage: draws_members_report.py PREFIX SEED [SEED ...]"""

import sys

import numpy as np

from zsl_desktop.engine.evaluation import seen_unseen_curve
from zsl_desktop.engine.readout import expected_h, rate_for_readout
from zsl_desktop.engine.selection import choose_operating_point, h_by_rejection_rate

SMOOTH, N_CAL, MEMBERS = 3, 74, 3


class Fold:
    """One fold's three members: ``scores[j][d]`` -> [epochs, rows, candidates] (d indexes the file's draws)."""

    def __init__(self, prefix, seed, k):
        files = [np.load(f"{prefix}-s{seed}-f{k}-m{j}.npz") for j in range(MEMBERS)]
        f = files[0]
        self.draws = [int(d) for d in f["draws"]]
        self.ns, self.ys, self.yu, self.sp, self.up = int(f["n_seen"]), f["ys"], f["yu"], f["sp"], f["up"]
        scores = np.stack([g["scores"].astype(np.float64) for g in files])  # [members, draws, epochs, rows, cands]
        self.one = [np.stack([self.curve(s) for s in scores[0, d]]) for d in range(len(self.draws))]
        self.avg_scores = scores.mean(0)  # [draws, epochs, rows, cands]
        self.avg = [np.stack([self.curve(s) for s in self.avg_scores[d]]) for d in range(len(self.draws))]
        last = self.one[-1][-1:]  # the last epoch's curve with the most draws
        self.one.append(np.concatenate([self.one[0][:-1], last]))  # "mixed": one draw, the last epoch K draws

    def curve(self, s):
        return h_by_rejection_rate(s[: self.ns], self.ys, s[self.ns :], self.yu, self.sp, self.up)

    def exact(self, d, e):
        s = self.avg_scores[d, e]
        c = seen_unseen_curve(s[: self.ns], self.ys, s[self.ns :], self.yu, self.sp, self.up)
        return c.best().h, c.ausuc


def read(folds, choose, read_d):
    """Per fold: (lofo H, best-gamma H at e, AUSUC at e, epoch, rate) as the trainer would read it."""
    out = []
    for k, fold in enumerate(folds):
        others = [f for j, f in enumerate(folds) if j != k]
        e = choose_operating_point([f.one[choose] for f in others], SMOOTH)["epoch"] - 1
        r = rate_for_readout([f.one[choose][e] for f in others], N_CAL)
        best, ausuc = fold.exact(read_d, e)
        out.append((expected_h(fold.avg[read_d][e], r, N_CAL), best, ausuc, e + 1, r))
    return np.array(out)


def main():
    prefix, seeds = sys.argv[1], [int(s) for s in sys.argv[2:]]
    runs = {s: [Fold(prefix, s, k) for k in range(3)] for s in seeds}
    draws = runs[seeds[0]][0].draws
    base = None
    print(f"seeds {seeds}; 3 members averaged; lofo H = expected H at the 'expected' rate, gamma off {N_CAL} images")
    pairs = [(c, rd) for c in range(len(draws)) for rd in range(len(draws))] + [(len(draws), len(draws) - 1)]
    for c, rd in pairs:
        chooser = f"K={draws[c]}" if c < len(draws) else f"last K={draws[-1]}"
        res = {s: read(runs[s], c, rd) for s in seeds}  # per seed [folds, 5]
        lofo = np.concatenate([res[s][:, 0] for s in seeds]) * 100
        per_seed = [100 * res[s][:, 0].mean() for s in seeds]
        best = np.mean([res[s][:, 1].mean() for s in seeds]) * 100
        ausuc = np.mean([res[s][:, 2].mean() for s in seeds]) * 100
        line = (
            f"choose {chooser} read K={draws[rd]}: lofo H {lofo.mean():.2f} (per seed "
            + " / ".join(f"{h:.1f}" for h in per_seed)
            + f") seed sd {np.std(per_seed, ddof=1):.2f} fold sd {lofo.std(ddof=1):.2f}"
            + f" | best-gamma H at e {best:.2f} AUSUC {ausuc:.2f}"
        )
        if base is None:
            base = lofo
        else:
            d = lofo - base
            se = d.std(ddof=1) / np.sqrt(len(d))
            line += f" | vs today {d.mean():+.2f} +- {se:.2f} ({(d > 0.05).sum()} up / {(d < -0.05).sum()} down)"
        print(line)
        print("    epoch/rate: " + " ".join(f"{int(res[s][k, 3])}/{res[s][k, 4]:.2f}" for s in seeds for k in range(3)))
        print("    folds: " + " ".join(f"{h:.1f}" for h in lofo))
        whole = []  # the whole run's choice (all three folds), as its final models would be trained
        for s in seeds:
            folds = runs[s]
            e = choose_operating_point([f.one[c] for f in folds], SMOOTH)["epoch"] - 1
            whole.append(f"seed {s}: {e + 1}/{rate_for_readout([f.one[c][e] for f in folds], N_CAL):.2f}")
        print("    whole run's epoch/rate: " + ", ".join(whole))


if __name__ == "__main__":
    main()
