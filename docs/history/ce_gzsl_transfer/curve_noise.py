"""VALIDATION ONLY (session 12, ipcetrain12): how flat and how noisy is each fold's late validation curve?

Per fold (member 0 of each file), over epochs FROM..last: the mean of the best-gamma H (the curve's level) and its
epoch-to-epoch noise (sd of the successive differences / sqrt 2: a white-noise sd that a slow trend hardly moves),
for a baseline and a variant given as the same RUN lists as selection_screen.py (folds paired in order).
usage: curve_noise.py BASE_RUNS.txt VARIANT_RUNS.txt [FROM]   (each file: selection_screen.py's RUN arguments)"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from selection_screen import fold_curves  # noqa: E402


def level_and_noise(curve, start):
    top = 100 * np.asarray(curve)[start:].max(1)
    return top.mean(), np.diff(top).std(ddof=1) / np.sqrt(2)


def main():
    base, variant = (Path(p).read_text().split() for p in sys.argv[1:3])
    start = int(sys.argv[3]) - 1 if len(sys.argv) > 3 else 25
    rows = []
    for run_b, run_v in zip(base, variant):
        for b, v in zip(run_b.split(","), run_v.split(",")):
            rows.append((*level_and_noise(fold_curves(b)["m0"], start), *level_and_noise(fold_curves(v)["m0"], start)))
            print(
                f"  {Path(v).name}: level {rows[-1][0]:.1f} -> {rows[-1][2]:.1f}, noise {rows[-1][1]:.2f} -> {rows[-1][3]:.2f}"
            )
    r = np.array(rows)
    print(
        f"mean over {len(r)} folds, epochs {start + 1}-: level {r[:, 0].mean():.2f} -> {r[:, 2].mean():.2f}, noise "
        f"{r[:, 1].mean():.2f} -> {r[:, 3].mean():.2f} (lower in {(r[:, 3] < r[:, 1]).sum()} of {len(r)} folds)"
    )


if __name__ == "__main__":
    main()
