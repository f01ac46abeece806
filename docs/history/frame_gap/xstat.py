import json
import glob
import sys
import numpy as np

pat = sys.argv[1] if len(sys.argv) > 1 else "x"
for side in ("before", "after"):
    rows = []
    for fn in sorted(glob.glob(f"/tmp/frame16/{pat}_{side}_*.json")):
        r = json.load(open(fn))
        g = np.array([x[1:] for x in r["gaps"]])
        lj = sum(v for k, v in r["thread_ticks"].items() if "LongJob" in k) / 100
        steps, secs = r.get("steps", (0, 1))
        rows.append(
            (
                r["payload"]["p95"],
                r["payload"]["max"],
                g[:, 1].sum(),
                g[:, 1].max(),
                np.percentile(g[:, 1], 99),
                (g[:, 1] > 8).sum(),
                lj / max(steps, 1) * 1000,
                steps / secs,
                g[:, 2].sum(),
                r["load"][0],
            )
        )
    a = np.array(rows)
    if not len(a):
        continue
    names = [
        "p95",
        "max",
        "gui cpu ms",
        "max gap cpu",
        "p99 gap cpu",
        "gaps cpu>8",
        "trainer cpu ms/step",
        "steps/s",
        "gui runq ms",
        "load",
    ]
    print(side, len(a))
    for j, n in enumerate(names):
        print(f"   {n:20s} {np.round(a[:, j], 1).tolist()}  mean {a[:, j].mean():.1f}")
