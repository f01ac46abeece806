import time
import numpy as np
import torch
from zsl_desktop.engine.checkpoints import load_checkpoint
from zsl_desktop.engine.paths import shipped_models_dir
from zsl_desktop.engine.training import method_from_checkpoint

torch.set_num_threads(1)
m = method_from_checkpoint(load_checkpoint(shipped_models_dir() / "ipce_builtin.pt"))
codes = np.random.default_rng(0).standard_normal((10000, 5120), dtype=np.float32)
dim_h = 512
np_halves = torch.from_numpy(np.ascontiguousarray(np.concatenate([p[:, dim_h:] for p in m._split(codes)], 1)))
t_halves = m._image_halves(codes)
assert torch.equal(np_halves, t_halves)
sbs = m._side_by_side()
row = (np.asarray(m._head["class_rows"]).mean(0) * 1.1).astype(np.float32)[None]
terms = sbs.class_terms(row)
lin_n, lin_t = sbs.linear_part(np_halves), sbs.linear_part(t_halves)
res = {"numpy": [], "torch": []}
for rep in range(30):
    for name, h, l in (("numpy", np_halves, lin_n), ("torch", t_halves, lin_t)):
        t = time.thread_time()
        sbs.columns(h, l, terms)
        res[name].append(1000 * (time.thread_time() - t))
for k, v in res.items():
    print(
        k,
        "median %.2f ms, p25 %.2f, p75 %.2f" % (np.median(v), np.percentile(v, 25), np.percentile(v, 75)),
        "strides",
        (np_halves if k == "numpy" else t_halves).stride(),
        (np_halves if k == "numpy" else t_halves).data_ptr() % 4096,
    )
