"""Where a finished SGMA run's test H comes from: the model (AUSUC, ZSL) or the operating point (gamma).

For each checkpoint: the run's gamma and its aimed share r of seen images sent to unseen classes (read on the 74
calibration images); the share that gamma actually sends of the TEST seen images; the gamma that would send r of
the test seen images and H there ("H with an exact read-out"); H at the best rate on test (an oracle, diagnosis
only). usage: PYTHONPATH=. python docs/history/sgma_seed_spread/diag.py DATASET CKPT...
"""

import sys
from pathlib import Path

import numpy as np
import torch

from zsl_desktop.engine import evaluation as ev
from zsl_desktop.engine.checkpoints import load_checkpoint
from zsl_desktop.engine.data import load_dataset
from zsl_desktop.engine.scoring import encode_rows
from zsl_desktop.engine.selection import REJECTION_RATES, gamma_at_rate, hold_out_per_class
from zsl_desktop.engine.session import Session
from zsl_desktop.engine.training import CALIBRATION_FRACTION, method_from_checkpoint

torch.set_num_threads(1)
ds = load_dataset(Path(sys.argv[1]))
session = Session(ds, device="cpu")
for _ in session.prepare_features() or []:
    pass
feats = session.features
seen, unseen = np.asarray(ds.seen_classes), np.asarray(ds.unseen_classes)
columns = np.arange(ds.class_attributes.shape[0])


def flips(scores):
    """best seen minus best unseen score per row: gamma above it sends the row to an unseen class."""
    return scores[:, seen].max(1) - scores[:, unseen].max(1)


for path in sys.argv[2:]:
    checkpoint = load_checkpoint(path)
    header = checkpoint.header
    method = method_from_checkpoint(checkpoint)
    rate, gamma = header["selection"]["seen_rejection"], header["gamma"]
    _, calibration = hold_out_per_class(ds.splits["trainval"], ds.labels, header["seed"] + 7, CALIBRATION_FRACTION)
    scores = {
        name: method.score(encode_rows(method, feats, idx, "cpu"), ds.class_attributes)
        for name, idx in (("cal", calibration), ("ts", ds.splits["test_seen"]), ("tu", ds.splits["test_unseen"]))
    }
    labels_ts, labels_tu = ds.labels[ds.splits["test_seen"]], ds.labels[ds.splits["test_unseen"]]

    def h_at(g, scores=scores, labels_ts=labels_ts, labels_tu=labels_tu):
        r = ev.gzsl_accuracy(scores["ts"], labels_ts, scores["tu"], labels_tu, seen, unseen, g)
        return r.u, r.s, r.h

    share_cal = float((flips(scores["cal"]) < gamma).mean())
    share_test = float((flips(scores["ts"]) < gamma).mean())
    g_exact = gamma_at_rate(np.sort(flips(scores["ts"])), rate)
    curve = [h_at(gamma_at_rate(np.sort(flips(scores["ts"])), r))[2] for r in REJECTION_RATES]
    best = int(np.argmax(curve))
    u, s, h = h_at(gamma)
    ue, se, he = h_at(g_exact)
    print(
        f"{Path(path).name} seed {header['seed']}: rate {rate:.2f} gamma {gamma:.3f} | share sent: calibration "
        f"{share_cal:.3f} test-seen {share_test:.3f} | run U {100 * u:.1f} S {100 * s:.1f} H {100 * h:.1f} | exact "
        f"read-out gamma {g_exact:.3f} U {100 * ue:.1f} S {100 * se:.1f} H {100 * he:.1f} | test's best rate "
        f"{REJECTION_RATES[best]:.2f} H {100 * curve[best]:.1f}",
        flush=True,
    )
