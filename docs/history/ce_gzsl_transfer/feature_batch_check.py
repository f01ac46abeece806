"""Session 11: do the dev CUB pooled features depend on the extraction batch? 32 random images re-extracted
(extract_images) at batch 1 / 4 / 16, against each other and against the store's float16 rows."""

import time
from pathlib import Path
import numpy as np
import torch
from zsl_desktop.engine.data import load_dataset
from zsl_desktop.engine.session import Session
from zsl_desktop.engine.extraction import extract_images

torch.set_num_threads(1)
ds = load_dataset(Path("/work/shared/zsl_data/CUB_200_2011"))
s = Session(ds, device="cpu")
for _ in s.prepare_features() or []:
    pass
stored = np.asarray(s.features.pooled, np.float32)
rows = np.random.default_rng(0).choice(len(stored), 32, replace=False)
paths = [ds.image_path(int(i)) for i in rows]
out = {}
for b in (1, 4, 16):
    t = time.time()
    _, p, err = extract_images(paths, device="cpu", batch_size=b)
    out[b] = p
    print(f"batch {b}: {time.time() - t:.0f}s errors {len(err)}")


def rel(a, c):
    return np.abs(a - c).max(1) / np.abs(c).max(1)


ref = stored[rows]
for b in out:
    d = out[b] - ref
    print(
        f"batch {b} vs store: max abs {np.abs(d).max():.4g}, max rel-to-row-max {rel(out[b], ref).max():.3g}, mean abs {np.abs(d).mean():.3g}, |ref| mean {np.abs(ref).mean():.3g}, cos min {min(np.dot(x, y) / np.linalg.norm(x) / np.linalg.norm(y) for x, y in zip(out[b], ref)):.6f}"
    )
for a, c in ((1, 4), (1, 16), (4, 16)):
    d = out[a] - out[c]
    print(f"batch {a} vs {c}: max abs {np.abs(d).max():.4g}, mean abs {np.abs(d).mean():.3g}")
print("float16 step at |ref| max:", np.spacing(np.float16(np.abs(ref).max())))
