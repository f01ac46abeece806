"""CPU time of the app's live job (bench.live_edits.LiveEdits, 10,000 codes) for the shipped real-bird CE-GZSL
as one model (K=1) and as 3 models (the same weights 3 times: the column work is K x, pruning alike),
alternated A/B/A/B. Busy machine: thread CPU time, p50 / p95 over 100 moves each.
usage: live_cost.py [KA KB] (default 1 3; session 11: 3 5)"""

import sys

import numpy as np
import torch

from zsl_desktop.bench.live_edits import LiveEdits
from zsl_desktop.bench.real_cub import real_cub
from zsl_desktop.engine.checkpoints import load_checkpoint
from zsl_desktop.engine.paths import shipped_models_dir
from zsl_desktop.engine.training import method_from_checkpoint

torch.set_num_threads(1)

ck = load_checkpoint(shipped_models_dir() / "ce-gzsl_cub.pt")
counts = tuple(int(a) for a in sys.argv[1:3]) or (1, 3)


def with_members(count):
    """The shipped model's weights ``count`` times (count - 1 members)."""
    state = dict(ck.state)
    for i in range(count - 1):
        state.update({f"member{i}.{k}": v for k, v in ck.state.items()})
    m = method_from_checkpoint(ck)
    m.load_state_dict(state)
    return m


models = {k: with_members(k) for k in counts}
cub = real_cub()
results: dict = {k: [] for k in counts}
whole: dict = {k: [] for k in counts}
for rnd in range(2):
    for k, m in models.items():
        e = LiveEdits(m, cub, 10_000, seed=rnd)
        for _ in range(5):
            e.timed(e.next())
        e.clear()
        for _ in range(50):
            e.timed(e.next())
        results[k] += e.cpu
        whole[k] += e.whole_cpu
for k in counts:
    p = np.percentile(np.array(results[k]) * 1000, [50, 95])
    w = np.percentile(np.array(whole[k]) * 1000, [50, 95])
    print(f"K={k}: page CPU p50 {p[0]:.2f} ms p95 {p[1]:.2f} ms; whole CPU p50 {w[0]:.2f} p95 {w[1]:.2f} ms")
