"""VALIDATION ONLY (session 9): fold K of a run (METHOD, SEED, default hyper-parameters), its fold model trained
three times (seeds s, s+1000, s+2000: the trainer's final-model seeds), every epoch's log-softmax scores of the
fold's held-out images saved per member, so that fold_members_report.py can choose the epoch and rate for one
model and for the average exactly as the trainer does (member 0 is the trainer's own fold model).
Session 11: optional FIRST COUNT train members FIRST .. FIRST + COUNT - 1 (seeds s + 1000 j; e.g. 3 2 for the 4th
and 5th of final_models 5), and hyper-parameters key=value after them (e.g. epochs=60); folds=N (folds11) sets the
trainer's number of folds instead (fold K of N: folds 0-2 of 5 hold the same classes as folds 0-2 of 3).
usage: fold_members.py METHOD SEED K OUT.npz [FIRST COUNT [key=value ...]]"""

import sys
from pathlib import Path

import numpy as np
import torch

from zsl_desktop.engine.data import load_dataset
from zsl_desktop.engine.events import EpochEnd
from zsl_desktop.engine.methods.base import Control
from zsl_desktop.engine.scoring import encode_rows
from zsl_desktop.engine.selection import selection_folds
from zsl_desktop.engine.session import Session
from zsl_desktop.engine.training import TrainConfig, build_method, train_data

torch.set_num_threads(1)
method, seed, k, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
first, count = (int(sys.argv[5]), int(sys.argv[6])) if len(sys.argv) > 6 else (0, 3)
hparams = {key: float(value) if "." in value else int(value) for key, value in (a.split("=") for a in sys.argv[7:])}
ds = load_dataset(Path("/work/shared/zsl_data/CUB_200_2011"))
session = Session(ds, device="cpu")
for _ in session.prepare_features() or []:
    pass
feats = session.features
folds = int(hparams.pop("folds", 3))
config = TrainConfig(method=method, seed=seed, hparams=hparams, folds=folds)
train_idx, vs, vu, train_classes, val_classes = selection_folds(ds, config)[k]
cand = np.union1d(train_classes, val_classes)
pos = {int(c): i for i, c in enumerate(cand)}
both = np.concatenate([vs, vu])


def log_softmax(s):
    s = s - s.max(1, keepdims=True)
    return s - np.log(np.exp(s).sum(1, keepdims=True))


scores = []  # [member][epoch] -> [rows, candidates]
for j in range(first, first + count):
    m = build_method(ds, feats, config)
    epochs = int(m.hparams["epochs"])
    per_epoch = []
    for event in m.fit(train_data(ds, feats, train_idx, train_classes, "cpu", seed + 1000 * j), Control(), epochs):
        if isinstance(event, EpochEnd):
            with torch.no_grad():
                s = np.asarray(m.score(encode_rows(m, feats, both), ds.class_attributes[cand]), np.float64)
            per_epoch.append(log_softmax(s).astype(np.float32))
    scores.append(np.stack(per_epoch))
    print(out, "member", j, "done", flush=True)
np.savez(
    out,
    scores=np.stack(scores),  # [members, epochs, rows, candidates]
    n_seen=len(vs),
    ys=np.array([pos[int(c)] for c in ds.labels[vs]]),
    yu=np.array([pos[int(c)] for c in ds.labels[vu]]),
    sp=np.array([pos[int(c)] for c in train_classes]),
    up=np.array([pos[int(c)] for c in val_classes]),
)
print("saved", out)
