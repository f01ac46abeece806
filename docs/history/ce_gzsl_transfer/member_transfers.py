"""VALIDATION ONLY (session 10, ipce10): gamma transfers to averaged final models, leave-one-fold-out.

Input: fold_members.py's three fold files of one run (each fold model trained with seeds s, s+1000, s+2000,
every epoch's log-softmax scores of the fold's held-out images). The trainer chooses the epoch e and the rate r on
the single fold models (member 0) and then reads gamma for the final models, averaged, off n = 74 calibration
images. Here fold k plays the final run: its three members averaged at the epoch the other two folds' single
models choose, its 102 held-out seen images the population the calibration images are drawn from.

Transfers (each fold read at the point the other two choose):
- best      : r = the best fold-mean H's rate (today's default); gamma read on the averaged model at r;
- expected  : r = engine.readout's aim for n images (``calibration_rate=expected``); read as "best";
- member-g  : gamma_j read at r on each member's own scores, averaged, applied to the averaged model;
- member-g own draws: as member-g, each member's gamma read off its own 74 images (a sketch of members that keep
  different calibration images aside; here all members trained on the same rows, so only the read-out noise is
  modelled);
- pooled    : gamma at which the members send r of the calibration images on average (pooled flip points);
- expected+member-g / expected+pooled: the two above at the "expected" rate;
- avg-folds : reference, not buildable cheaply: epoch and rate chosen on the other folds' averaged models.
"H beta": the rate transfers scored as lofo.py does (the share reached ~ Beta(m, n - m + 1), expectation over
the draw, exact for a read-out on images independent of the fold's). "H boot": every transfer with the same 400
bootstrap draws of 74 of the fold's held-out seen images as the calibration set (H over all its images, so the
drawn ones count twice at most: same for every transfer). "pop": gamma read on all 102 (no read-out noise).
usage: member_transfers.py F0.npz F1.npz F2.npz [...more runs, three files each]"""

import sys

import numpy as np

from zsl_desktop.engine.evaluation import gzsl_accuracy
from zsl_desktop.engine.readout import expected_h, rate_for_readout, readout_weights
from zsl_desktop.engine.selection import REJECTION_RATES, choose_operating_point, gamma_at_rate, h_by_rejection_rate

SMOOTH, N_CAL, BOOT = 3, 74, 400


def flips(scores, seen, unseen):
    return scores[:, seen].max(1) - scores[:, unseen].max(1)


class Fold:
    def __init__(self, path):
        f = np.load(path)
        self.members = f["scores"].astype(np.float64)  # [members, epochs, rows, candidates]
        self.ns, self.ys, self.yu, self.sp, self.up = int(f["n_seen"]), f["ys"], f["yu"], f["sp"], f["up"]
        self.avg = self.members.mean(0)
        self.one_curves = np.stack([self.curve(s) for s in self.members[0]])
        self.avg_curves = np.stack([self.curve(s) for s in self.avg])

    def curve(self, s):
        return h_by_rejection_rate(s[: self.ns], self.ys, s[self.ns :], self.yu, self.sp, self.up)

    def h(self, s, gamma):
        return gzsl_accuracy(s[: self.ns], self.ys, s[self.ns :], self.yu, self.sp, self.up, gamma).h


def beta_sd(curve, rate):
    q, w = readout_weights(rate, N_CAL)
    v = np.interp(q, REJECTION_RATES, curve)
    mean = float(np.dot(w, v))
    return float(np.sqrt(np.dot(w, (v - mean) ** 2)))


def run(paths, rng):
    folds = [Fold(p) for p in paths]
    rows = []
    for k, fold in enumerate(folds):
        others = [f for j, f in enumerate(folds) if j != k]
        point = choose_operating_point([f.one_curves for f in others], SMOOTH)
        e, r_best = point["epoch"] - 1, point["rate"]
        r_exp = rate_for_readout([f.one_curves[e] for f in others], N_CAL)
        ref = choose_operating_point([f.avg_curves for f in others], SMOOTH)
        avg = fold.avg[e]
        seen_rows = np.arange(fold.ns)
        draws = [rng.choice(seen_rows, N_CAL, replace=True) for _ in range(BOOT)] + [seen_rows]  # last: pop
        out = {}
        for name, rate in (("best", r_best), ("expected", r_exp)):
            curve = fold.avg_curves[e]
            out[name + " beta"] = (expected_h(curve, rate, N_CAL), beta_sd(curve, rate))
            for how in ("", "+member-g", "+pooled", "+member-g own draws"):
                hs = []
                for idx in draws:
                    if how == "":
                        g = gamma_at_rate(flips(avg[idx], fold.sp, fold.up), rate)
                    elif how == "+member-g":
                        g = np.mean([gamma_at_rate(flips(m[e][idx], fold.sp, fold.up), rate) for m in fold.members])
                    elif how == "+member-g own draws" and len(idx) == N_CAL:  # 3 x 74 images, one set each
                        own = [idx] + [rng.choice(seen_rows, N_CAL, replace=True) for _ in fold.members[1:]]
                        g = np.mean(
                            [gamma_at_rate(flips(m[e][i], fold.sp, fold.up), rate) for m, i in zip(fold.members, own)]
                        )
                    elif how == "+member-g own draws":
                        g = np.mean([gamma_at_rate(flips(m[e][idx], fold.sp, fold.up), rate) for m in fold.members])
                    else:
                        pooled = np.concatenate([flips(m[e][idx], fold.sp, fold.up) for m in fold.members])
                        g = gamma_at_rate(pooled, rate)
                    hs.append(fold.h(avg, g))
                hs = np.array(hs)
                out[name + how + " boot"] = (hs[:-1].mean(), hs[:-1].std())
                out[name + how + " pop"] = (hs[-1], 0.0)
        out["one model, best beta"] = (
            expected_h(fold.one_curves[e], r_best, N_CAL),
            beta_sd(fold.one_curves[e], r_best),
        )
        out["avg-folds beta"] = (
            expected_h(fold.avg_curves[ref["epoch"] - 1], ref["rate"], N_CAL),
            beta_sd(fold.avg_curves[ref["epoch"] - 1], ref["rate"]),
        )
        out["oracle (avg, best rate at e)"] = (fold.avg_curves[e].max(), 0.0)
        info = (
            f"fold {k}: epoch {e + 1}, rate best {r_best:.2f} expected {r_exp:.2f}; "
            f"avg model's best rate at e {REJECTION_RATES[int(np.argmax(fold.avg_curves[e]))]:.2f}; "
            f"avg-folds point ({ref['epoch']}, {ref['rate']:.2f})"
        )
        rows.append((info, out))
    return rows


def main():
    rng = np.random.default_rng(0)
    paths = sys.argv[1:]
    table: dict = {}
    for i in range(0, len(paths), 3):
        print("==", paths[i])
        for info, out in run(paths[i : i + 3], rng):
            print("  ", info)
            for name, v in out.items():
                table.setdefault(name, []).append((i // 3, v[0], v[1]))
    runs = len(paths) // 3
    print(
        f"\nleave-one-fold-out fold H, %: mean over {runs} run(s) x 3 folds; per-run means; sd over all folds; "
        "mean read-out sd"
    )
    for name, v in table.items():
        v = np.array(v)
        per_run = [100 * v[v[:, 0] == j, 1].mean() for j in range(runs)]
        base = np.array(table["best " + (name.rsplit(" ", 1)[-1] if name.endswith(("beta", "boot", "pop")) else "pop")])
        diff = 100 * (v[:, 1] - base[:, 1])
        print(
            f"  {name:32s} {100 * v[:, 1].mean():5.1f}  runs {' / '.join(f'{h:.1f}' for h in per_run)}  "
            f"sd of runs {np.std(per_run, ddof=1) if runs > 1 else 0:3.1f}  fold sd {100 * v[:, 1].std(ddof=1):4.1f}  "
            f"draw sd {100 * v[:, 2].mean():4.1f}  vs best: {diff.mean():+4.1f} ({(diff > 0.05).sum()} up, "
            f"{(diff < -0.05).sum()} down)"
        )


if __name__ == "__main__":
    main()
