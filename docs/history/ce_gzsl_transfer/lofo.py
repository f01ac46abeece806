"""VALIDATION ONLY: how well each gamma transfer would do, leaving one fold out.

For each checkpoint (its selection["fold_rows"]: each fold model's H and gamma at the 101 seen-rejection
rates, at the chosen epoch) and each fold k: the rate r chosen by the other folds (argmax of their mean H);
- "calibration, n images": gamma read off n held-out seen images lands at the population share
  r' ~ Beta(m, n - m + 1), m = round(r n) (the m-th order statistic of n uniform ranks); H_k(r') averaged
  over 20,000 draws (and its sd: the noise of the transfer); n = inf: H_k(r);
- "folds": gamma = the other folds' mean gamma at r, read on fold k's own gamma-vs-rate curve -> its rate -> H;
- "oracle": fold k's best H over rates.
No test data is read. Usage: python lofo.py ck1.pt ck2.pt ..."""

import sys

import numpy as np

from zsl_desktop.engine.checkpoints import load_checkpoint

RATES = np.round(np.linspace(0, 1, 101), 2)
rng = np.random.default_rng(0)
results: dict = {}
for path in sys.argv[1:]:
    sel = load_checkpoint(path).header["selection"]
    rows = sel["fold_rows"]
    H = np.array([r["h"] for r in rows])
    G = np.array([r["gamma"] for r in rows])
    per = {}
    for k in range(len(rows)):
        others = [j for j in range(len(rows)) if j != k]
        i = int(np.argmax(H[others].mean(0)))
        r = RATES[i]
        for n in (37, 74, 126, 10**9):
            m = max(1, int(round(r * n)))
            draws = rng.beta(m, n - m + 1, 20000) if n < 10**9 else np.array([r])
            h = np.interp(draws, RATES, H[k])
            per.setdefault(f"cal n={n if n < 10**9 else 'inf'}", []).append((h.mean(), h.std()))
        g = G[others, i].mean()
        order = np.argsort(G[k], kind="stable")
        rate_k = np.interp(g, G[k][order], RATES[order])
        per.setdefault("folds", []).append((np.interp(rate_k, RATES, H[k]), abs(rate_k - r)))
        per.setdefault("oracle", []).append((H[k].max(), 0.0))
    print(
        f"{path}: epoch {sel['best_epoch']} rate {sel['seen_rejection']} fold gammas at it "
        f"{np.round(sel.get('fold_gamma') or [], 3).tolist()}"
    )
    for name, v in per.items():
        v = np.array(v)
        print(
            f"   {name:10s} fold H {np.round(100 * v[:, 0], 1).tolist()} mean {100 * v[:, 0].mean():.2f}  "
            f"(second column: draw sd / |rate - r|: {np.round(100 * v[:, 1], 1).tolist()})"
        )
        results.setdefault(name, []).append(v)
print("over all checkpoints and folds (validation H, %):")
for name, vs in results.items():
    v = np.concatenate(vs)
    print(f"   {name:10s} {100 * v[:, 0].mean():.2f}  mean second column {100 * v[:, 1].mean():.2f}")
