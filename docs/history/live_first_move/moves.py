"""First move and later moves (thread CPU ms) of a new live session at N images, one method."""

import sys
import time
import numpy as np
from zsl_desktop.engine import threads
from zsl_desktop.engine.data import load_builtin
from zsl_desktop.bench.live_edits import LiveEdits, live_subject

name, n, moves = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
threads.configure(threads.worker_threads())
from zsl_desktop.engine.session import Session

spent = {}


def timed_method(name):
    original = getattr(Session, name)

    def wrapper(self, *a, **k):
        t = time.thread_time()
        r = original(self, *a, **k)
        spent[name] = spent.get(name, 0) + time.thread_time() - t
        return r

    setattr(Session, name, wrapper)


timed_method("prepare_live")
timed_method("all_scores")
dataset = load_builtin()
method, origin, scored_on = live_subject(name, dataset, True)
edits = LiveEdits(method, scored_on, n)
print("set-up CPU s:", {k: round(v, 3) for k, v in spent.items()})
first = edits.timed(edits.next())
fc, fw = edits.whole_cpu[-1], edits.whole[-1]
edits.clear()
for i in range(moves):
    edits.timed(edits.next())
import resource

print(
    f"{name} n={n}: first move wall {1000 * fw:.0f} ms cpu {1000 * fc:.0f} ms | page cpu p50/p95 {np.percentile(edits.cpu, 50) * 1000:.1f}/{np.percentile(edits.cpu, 95) * 1000:.1f} | whole cpu p50/p95 {np.percentile(edits.whole_cpu, 50) * 1000:.1f}/{np.percentile(edits.whole_cpu, 95) * 1000:.1f} ms | maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
)
