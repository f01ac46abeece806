import json
import sys
import collections
import numpy as np

for fn in sys.argv[1:]:
    r = json.load(open(fn))
    p = r["payload"]
    gaps = r["gaps"]
    t0 = gaps[0][0] if gaps else 0
    print(
        f"== {fn}: p95 {p['p95']:.1f} max {p['max']:.1f} ticks {p['ticks']} load {r['load'][0]:.2f} after {p['probe_after_s']:.2f}"
    )
    big = sorted(gaps, key=lambda g: -g[1])[:6]
    gcs = r["gc"]
    for start, gap, cpu, rq in big:
        end = start + gap / 1000
        ingc = [g for g in gcs if g[0] < end and g[0] + g[1] / 1000 > start]
        print(
            f"  gap {gap:6.1f} ms at {start - t0:5.2f}s  gui cpu {cpu:5.1f} runq {rq:5.1f} ms  gc: {[(g[1], g[2], g[4]) for g in ingc]}"
        )
        calls = [c for c in r.get("calls", []) if start <= c[1] <= end]
        print("      calls:", [(c[0], c[2], c[3]) for c in calls][:8])
        for late, stack in r["samples"].get(str(start), [])[-1:]:
            lines = [l for l in stack.splitlines() if l.strip().startswith("File")]
            print(
                "     ",
                late,
                " | ".join(l.split("site-packages/")[-1].split("zsl_desktop/")[-1][:90] for l in lines[-9:]),
            )
    import collections

    agg = collections.defaultdict(list)
    for c in r.get("calls", []):
        agg[c[0]].append(c[3])
    print(
        "  per call cpu:",
        {k: (len(v), round(float(np.median(v)), 1), round(max(v), 1), round(sum(v))) for k, v in agg.items()},
    )
    main_gc = [g for g in gcs if g[4] and g[0] >= t0]
    print(
        "  gui gcs during probe:",
        len(main_gc),
        "max ms",
        max([g[1] for g in main_gc] or [0]),
        "sum",
        round(sum(g[1] for g in main_gc), 1),
    )
    tt = sorted(r["thread_ticks"].items(), key=lambda kv: -kv[1])[:6]
    import numpy as np

    g = np.array([x[1:] for x in gaps])
    print(
        "  totals: gui cpu %.0f ms, runq %.0f ms over %d ticks; gaps>25: %d"
        % (g[:, 1].sum(), g[:, 2].sum(), len(g), (g[:, 0] > 25).sum())
    )
    print("  thread ticks (1/100 s) over", round(r["wall"], 1), "s:", tt)
