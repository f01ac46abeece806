import sys
import threading
import time
import torch
import torch.nn.functional as F

torch.set_num_threads(1)
sys.setswitchinterval(0.001)
b, c = 256, 1280
grid = torch.randn(b, c, 7, 7)
flat = grid.reshape(b, c, -1).transpose(1, 2).reshape(-1, c).contiguous()
ops = {
    "reshape-copy": lambda: grid.reshape(b, c, -1).transpose(1, 2).reshape(-1, c),
    "normalize": lambda: F.normalize(flat, dim=1),
    "float-half": lambda: grid.half().float(),
    "to-float32-from-half": None,
}
half = grid.half()
ops["to-float32-from-half"] = lambda: half.to("cpu", torch.float32)
for name, op in ops.items():
    stop = False
    n = [0]

    def work():
        while not stop:
            op()
            n[0] += 1

    th = threading.Thread(target=work)
    th.start()
    lat = []
    t_end = time.perf_counter() + 2
    while time.perf_counter() < t_end:
        t = time.perf_counter()
        time.sleep(0.001)
        lat.append((time.perf_counter() - t) * 1000)
    stop = True
    th.join()
    lat.sort()
    print(
        f"{name:22s} op {2000 / max(1, n[0]):6.1f} ms; main sleep(1ms): p50 {lat[len(lat) // 2]:.2f} p99 {lat[int(len(lat) * 0.99)]:.2f} max {lat[-1]:.2f}"
    )
