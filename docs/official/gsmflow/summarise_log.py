"""Best, last and mean H of a log of the released GSMFlow ``train_CUB.py`` (its per-evaluation lines).

usage: python summarise_log.py LOG [LOG ...]

Reads every ``U->T a%  S->T b%  H c%`` line (one per evaluation; each already keeps the best of its
classifier's 30 epochs on the test set, as the released code does). "best" is what the script itself
reports (the best evaluation on test); "last" and "mean" are the less test-selected readings.
"""

import re
import statistics
import sys

LINE = re.compile(r"U->T ([\d.]+)%\s+S->T ([\d.]+)%\s+H ([\d.]+)%")


def summarise(text: str) -> str:
    rows = [tuple(float(v) for v in m) for m in LINE.findall(text)]
    if not rows:
        return "no evaluations yet"
    hs = [h for _, _, h in rows]
    b = max(range(len(rows)), key=hs.__getitem__)
    sd = statistics.stdev(hs) if len(hs) > 1 else 0.0
    return (
        f"{len(rows)} evaluations; best H {hs[b]:.2f} (U {rows[b][0]:.2f} S {rows[b][1]:.2f}, evaluation {b + 1}); "
        f"last H {hs[-1]:.2f} (U {rows[-1][0]:.2f} S {rows[-1][1]:.2f}); mean H {statistics.mean(hs):.2f} sd {sd:.2f}"
    )


if __name__ == "__main__":
    for path in sys.argv[1:]:
        with open(path) as f:
            print(f"{path}: {summarise(f.read())}")
