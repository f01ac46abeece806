"""TEST-side analysis (labelled; nothing is chosen on it): a run's final model averaged with extra final models
(extra_final.py; same rows, other seeds): mean log-softmax scores, gamma at the run's rate on its own calibration
images (held out from every member). usage: ens.py FRACTION CKPT EXTRA.npy ..."""

import sys
from pathlib import Path

import numpy as np
import torch

from zsl_desktop.engine import evaluation as ev
from zsl_desktop.engine.checkpoints import load_checkpoint
from zsl_desktop.engine.data import load_dataset
from zsl_desktop.engine.selection import gamma_at_rate, hold_out_per_class
from zsl_desktop.engine.session import Session
from zsl_desktop.engine.training import method_from_checkpoint

torch.set_num_threads(1)
fraction, path, extras = float(sys.argv[1]), sys.argv[2], sys.argv[3:]
ds = load_dataset(Path("/work/shared/zsl_data/CUB_200_2011"))
session = Session(ds, device="cpu")
for _ in session.prepare_features() or []:
    pass
ck = load_checkpoint(path)
m = method_from_checkpoint(ck)
x = torch.as_tensor(np.asarray(session.features.pooled, np.float32))
with torch.no_grad():
    first = np.asarray(m.score(m.encode(x), ds.class_attributes), np.float64)


def log_softmax(s):
    s = s - s.max(1, keepdims=True)
    return s - np.log(np.exp(s).sum(1, keepdims=True))


members = [first] + [np.load(e) for e in extras]
seen, unseen = np.asarray(ds.seen_classes), np.asarray(ds.unseen_classes)
ts, tu = ds.splits["test_seen"], ds.splits["test_unseen"]
_, cal = hold_out_per_class(ds.splits["trainval"], ds.labels, int(ck.header["seed"]) + 7, fraction=fraction)
rate = ck.header["selection"]["seen_rejection"]
for k in range(1, len(members) + 1):
    scores = np.mean([log_softmax(s) for s in members[:k]], 0)
    flips = scores[:, seen].max(1) - scores[:, unseen].max(1)
    gamma = gamma_at_rate(flips[cal], rate)
    r = ev.evaluate(scores[ts], ds.labels[ts], scores[tu], ds.labels[tu], seen, unseen, gamma, "validation").as_dict()
    print(
        f"{Path(path).name} {k} model(s): TEST "
        + " ".join(f"{q} {100 * r[q]:.1f}" for q in ("zsl_t1", "u", "s", "h", "ausuc"))
    )
