import json
import sys
import numpy as np

for fn in sys.argv[1:]:
    rows = {"before": [], "after": []}
    for line in open(fn):
        side, i, load, js = line.split(" ", 3)
        try:
            d = json.loads(js)
        except Exception:
            continue
        rows[side].append((d["p95"], d["max"], float(load.split("=")[1])))
    print(fn)
    for side, r in rows.items():
        a = np.array(r)
        if not len(a):
            continue
        print(
            f"  {side:6s} n={len(a)} p95 {np.round(a[:, 0], 1).tolist()} mean {a[:, 0].mean():.1f} | max {np.round(a[:, 1], 1).tolist()} median {np.median(a[:, 1]):.1f} mean {a[:, 1].mean():.1f} | runs max<=35: {(a[:, 1] <= 35).sum()} <=50: {(a[:, 1] <= 50).sum()} | load {a[:, 2].min():.1f}-{a[:, 2].max():.1f}"
        )
