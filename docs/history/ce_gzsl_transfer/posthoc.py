"""The same final models with gamma aimed by engine.readout (calibration_rate=expected) instead of at the best
fold-mean rate: the folds, the epoch and the final model do not change, only the rate read off the calibration
images. The rate comes from validation curves only; TEST figures printed afterwards for both.
usage: posthoc.py DATASET FRACTION ck.pt ...  (DATASET: a path or builtin)"""

import sys
from pathlib import Path

import numpy as np
import torch

from zsl_desktop.engine import evaluation as ev
from zsl_desktop.engine.checkpoints import load_checkpoint
from zsl_desktop.engine.data import load_dataset
from zsl_desktop.engine.readout import rate_for_readout
from zsl_desktop.engine.selection import gamma_at_rate, hold_out_per_class
from zsl_desktop.engine.session import Session
from zsl_desktop.engine.training import method_from_checkpoint

torch.set_num_threads(1)
where, fraction = sys.argv[1], float(sys.argv[2])
ds = load_dataset(where if where == "builtin" else Path(where))
session = Session(ds, device="cpu")
for _ in session.prepare_features() or []:
    pass
x = torch.as_tensor(np.asarray(session.features.pooled, np.float32))
seen, unseen = np.asarray(ds.seen_classes), np.asarray(ds.unseen_classes)
ts, tu = ds.splits["test_seen"], ds.splits["test_unseen"]
for path in sys.argv[3:]:
    ck = load_checkpoint(path)
    h, sel = ck.header, ck.header["selection"]
    m = method_from_checkpoint(ck)
    with torch.no_grad():
        scores = np.asarray(m.score(m.encode(x), ds.class_attributes), np.float64)
    flips = scores[:, seen].max(1) - scores[:, unseen].max(1)
    _, cal = hold_out_per_class(ds.splits["trainval"], ds.labels, int(h["seed"]) + 7, fraction=fraction)
    assert len(cal) == sel["calibration_images"]
    best = sel.get("fold_mean_rate", sel["seen_rejection"])
    aimed = rate_for_readout([row["h"] for row in sel["fold_rows"]], len(cal))
    for name, rate in (("best", best), ("expected", aimed)):
        gamma = gamma_at_rate(flips[cal], rate)
        r = ev.evaluate(scores[ts], ds.labels[ts], scores[tu], ds.labels[tu], seen, unseen, gamma).as_dict()
        print(
            f"{Path(path).name} seed {h['seed']} {name:8s} rate {rate:.2f} gamma {gamma:+.3f} (checkpoint "
            f"{h['gamma']:+.3f}): TEST " + " ".join(f"{q} {100 * r[q]:.1f}" for q in ("zsl_t1", "u", "s", "h", "ausuc"))
        )
