"""VALIDATION ONLY: choosing the rate for the noise of its read-out. "calibration" reads gamma off n held-out
seen images, so the share actually reached is r' ~ Beta(m, n - m + 1), m = round(r n). The default takes the
rate r of the best fold-mean H; "noise-aware" takes the r whose expected fold-mean H over that draw is best.
Each fold is scored (expected H over the draw) at the rate the other folds chose. Usage: lofo_noise.py N ck.pt ..."""

import sys

import numpy as np

from zsl_desktop.engine.checkpoints import load_checkpoint

RATES = np.round(np.linspace(0, 1, 101), 2)
n = int(sys.argv[1])
rng = np.random.default_rng(0)


def draws(r):
    m = max(1, int(round(r * n)))
    return np.sort(rng.beta(m, n - m + 1, 4000))


BETA = {float(r): draws(r) for r in RATES}


def expected(curve, r):
    return float(np.interp(BETA[float(r)], RATES, curve).mean())


out = {"default": [], "noise-aware": []}
for path in sys.argv[2:]:
    sel = load_checkpoint(path).header["selection"]
    H = np.array([row["h"] for row in sel["fold_rows"]])
    line = []
    for k in range(len(H)):
        other = H[[j for j in range(len(H)) if j != k]].mean(0)
        r_default = RATES[int(np.argmax(other))]
        r_aware = RATES[int(np.argmax([expected(other, r) for r in RATES]))]
        out["default"].append(expected(H[k], r_default))
        out["noise-aware"].append(expected(H[k], r_aware))
        line.append(f"fold {k}: r {r_default:.2f} -> {r_aware:.2f}")
    whole = H.mean(0)
    print(
        path,
        "; ".join(line),
        f"| all folds: r {RATES[int(np.argmax(whole))]:.2f} -> "
        f"{RATES[int(np.argmax([expected(whole, r) for r in RATES]))]:.2f}",
    )
for name, v in out.items():
    print(
        f"n={n} {name:12s} expected fold H {100 * np.mean(v):.2f}  per fold {np.round(100 * np.array(v), 1).tolist()}"
    )
