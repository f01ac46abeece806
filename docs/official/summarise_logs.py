"""Summarise logs of the official MSDN and CE-GZSL runs (recipe: docs/official/README.md).

Why: the official scripts print only running bests; the recipe adds one line per
evaluation (MSDN) or timestamps every line (CE-GZSL), and this turns those logs
into the figures of the README table, in percent.

    python docs/official/summarise_logs.py msdn LOG [LOG ...]
    python docs/official/summarise_logs.py cegzsl LOG [LOG ...]
"""
from __future__ import annotations

import re
import statistics
import sys

MSDN_EVAL = re.compile(r"EVAL iter=(\d+) epoch=([\d.]+) U=([\d.]+) S=([\d.]+) H=([\d.]+) ZSL=([\d.]+) "
                       r"t=([\d.]+) eval_s=([\d.]+)")
CE_EPOCH = re.compile(r"^([\d.]+) \[(\d+)/(\d+)\] Loss_D")
CE_EVAL = re.compile(r"^([\d.]+) unseen=([\d.]+), seen=([\d.]+), h=([\d.]+)")


def msdn(path: str) -> dict:
    """Best H over the evaluations (with its U, S), best ZSL, the last evaluation, timing."""
    rows = [tuple(float(v) for v in m.groups()) for m in map(MSDN_EVAL.search, open(path)) if m]
    if not rows:
        raise SystemExit(f"{path}: no EVAL lines")
    best = max(rows, key=lambda r: r[4])
    last = rows[-1]
    eval_total = sum(r[7] for r in rows)
    epochs = last[1]
    train_s = (last[6] - eval_total) / epochs if epochs else float("nan")
    return {"evals": len(rows), "epoch_last": epochs, "U_best": best[2], "S_best": best[3], "H_best": best[4],
            "epoch_best": best[1], "ZSL_at_best": best[5], "ZSL_best": max(r[5] for r in rows), "U_last": last[2], "S_last": last[3],
            "H_last": last[4], "ZSL_last": last[5], "train_s_per_epoch": train_s, "eval_s": eval_total / len(rows)}


def cegzsl(path: str) -> dict:
    """Per-epoch H (each already the best of the 25 classifier epochs on test), running best, timing."""
    epochs, evals = [], []
    for line in open(path):
        if m := CE_EPOCH.match(line):
            epochs.append((float(m.group(1)), int(m.group(2))))
        elif m := CE_EVAL.match(line):
            evals.append((float(m.group(1)), float(m.group(2)), float(m.group(3)), float(m.group(4))))
    n = min(len(epochs), len(evals))
    if n == 0:
        raise SystemExit(f"{path}: no finished epoch")
    curve, best = [], (0.0, 0.0, 0.0, -1)
    for i in range(n):
        _, u, s, h = evals[i]
        if h > best[2]:
            best = (u, s, h, i + 1)
        curve.append((i + 1, u, s, h, best[2]))
    starts = [evals[i - 1][0] for i in range(1, n)]
    train = [epochs[i][0] - starts[i - 1] for i in range(1, n)]
    evaluation = [evals[i][0] - epochs[i][0] for i in range(n)]
    return {"epochs": n, "curve": curve, "U_best": best[0], "S_best": best[1], "H_best": best[2],
            "epoch_best": best[3], "U_last": evals[n - 1][1], "S_last": evals[n - 1][2], "H_last": evals[n - 1][3],
            "train_s_per_epoch": statistics.median(train) if train else float("nan"),
            "eval_s": statistics.median(evaluation)}


def main() -> None:
    kind, paths = sys.argv[1], sys.argv[2:]
    if kind == "msdn":
        bests = []
        for path in paths:
            r = msdn(path)
            bests.append(r["H_best"])
            print(f"{path}: {r['evals']} evaluations; best H {100 * r['H_best']:.1f} (U {100 * r['U_best']:.1f}, "
                  f"S {100 * r['S_best']:.1f}, ZSL {100 * r['ZSL_at_best']:.1f}, epoch {r['epoch_best']:.2f}); best ZSL {100 * r['ZSL_best']:.1f}; "
                  f"last (epoch {r['epoch_last']:.2f}): ZSL {100 * r['ZSL_last']:.1f} U {100 * r['U_last']:.1f} "
                  f"S {100 * r['S_last']:.1f} H {100 * r['H_last']:.1f}; train {r['train_s_per_epoch']:.1f} s/epoch, "
                  f"{r['eval_s']:.1f} s per evaluation")
        if len(bests) > 1:
            print(f"best H over seeds: mean {100 * statistics.mean(bests):.1f} +- "
                  f"{100 * statistics.stdev(bests):.1f} (sd, n={len(bests)})")
    elif kind == "cegzsl":
        for path in paths:
            r = cegzsl(path)
            print(f"{path}: {r['epochs']} epochs; best H {100 * r['H_best']:.1f} (U {100 * r['U_best']:.1f}, "
                  f"S {100 * r['S_best']:.1f}, epoch {r['epoch_best']}); last: U {100 * r['U_last']:.1f} "
                  f"S {100 * r['S_last']:.1f} H {100 * r['H_last']:.1f}; train {r['train_s_per_epoch']:.1f} "
                  f"s/epoch, {r['eval_s']:.1f} s per evaluation (medians)")
            print("  epoch: H (best so far) " + ", ".join(f"{e}: {100 * h:.1f} ({100 * b:.1f})"
                                                       for e, _, _, h, b in r["curve"]))
    else:
        raise SystemExit("first argument: msdn or cegzsl")


if __name__ == "__main__":
    main()
