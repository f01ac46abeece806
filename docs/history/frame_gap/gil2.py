"""Does FeatureSource.rows hold the GIL? A thread reads chunks; the main thread measures sleep(1 ms) latency."""

import sys
import threading
import time
import numpy as np
import torch

torch.set_num_threads(1)
sys.setswitchinterval(0.001)
sys.path.insert(0, sys.argv[1])
from zsl_desktop.engine.feature_source import FeatureSource

path = "/tmp/frame16/grid.f16"
n = 1200
try:
    arr = np.memmap(path, np.float16, "r", shape=(n, 1280, 7, 7))
except (FileNotFoundError, ValueError):
    w = np.memmap(path, np.float16, "w+", shape=(n, 1280, 7, 7))
    w[:] = np.random.rand(n, 1280, 7, 7)
    w.flush()
    del w
    arr = np.memmap(path, np.float16, "r", shape=(n, 1280, 7, 7))
src = FeatureSource(grid=arr)
chunk = int(sys.argv[2]) if len(sys.argv) > 2 else 256
stop = False
times = []


def work():
    rng = np.random.default_rng(0)
    while not stop:
        idx = rng.permutation(n)[:chunk]
        t = time.perf_counter()
        src.rows("grid", idx)
        times.append((time.perf_counter() - t) * 1000)


th = threading.Thread(target=work)
th.start()
lat = []
t_end = time.perf_counter() + 4
while time.perf_counter() < t_end:
    t = time.perf_counter()
    time.sleep(0.001)
    lat.append((time.perf_counter() - t) * 1000)
stop = True
th.join()
lat.sort()
print(
    "rows(%d) ms p50 %.1f; main sleep(1ms) wall: p50 %.2f p99 %.2f max %.2f; >10ms: %d"
    % (chunk, np.median(times), lat[len(lat) // 2], lat[int(len(lat) * 0.99)], lat[-1], sum(l > 10 for l in lat))
)
