"""VALIDATION ONLY: fold k of a finished run, its fold model retrained to the chosen epoch with seeds s, s+1000,
s+2000; H-by-rate curves on the fold's held-out images for member 0 alone and for the 3 averaged (log-softmax).
usage: fold_ens.py CKPT METHOD SEED K OUT.npz"""

import sys
from pathlib import Path

import numpy as np
import torch

from zsl_desktop.engine.checkpoints import load_checkpoint
from zsl_desktop.engine.data import load_dataset
from zsl_desktop.engine.methods.base import Control
from zsl_desktop.engine.scoring import encode_rows
from zsl_desktop.engine.selection import h_by_rejection_rate, selection_folds
from zsl_desktop.engine.session import Session
from zsl_desktop.engine.training import TrainConfig, build_method, train_data

torch.set_num_threads(1)
src, method, seed, k, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
header = load_checkpoint(src).header
epoch = header["selection"]["best_epoch"]
ds = load_dataset(Path("/work/shared/zsl_data/CUB_200_2011"))
session = Session(ds, device="cpu")
for _ in session.prepare_features() or []:
    pass
feats = session.features
config = TrainConfig(method=method, seed=seed, hparams=dict(header["hparams"]))
train_idx, vs, vu, train_classes, val_classes = selection_folds(ds, config)[k]
cand = np.union1d(train_classes, val_classes)
pos = {int(c): i for i, c in enumerate(cand)}
ys = np.array([pos[int(c)] for c in ds.labels[vs]])
yu = np.array([pos[int(c)] for c in ds.labels[vu]])
sp = np.array([pos[int(c)] for c in train_classes])
up = np.array([pos[int(c)] for c in val_classes])


def log_softmax(s):
    s = s - s.max(1, keepdims=True)
    return s - np.log(np.exp(s).sum(1, keepdims=True))


members = []
for j in range(3):
    m = build_method(ds, feats, config)
    for _ in m.fit(train_data(ds, feats, train_idx, train_classes, "cpu", seed + 1000 * j), Control(), epoch):
        pass
    with torch.no_grad():
        both = np.concatenate([vs, vu])
        scores = np.asarray(m.score(encode_rows(m, feats, both), ds.class_attributes[cand]), np.float64)
    members.append(log_softmax(scores))
curves = {}
for n in (1, 2, 3):
    avg = np.mean(members[:n], 0)
    curves[f"h{n}"] = h_by_rejection_rate(avg[: len(vs)], ys, avg[len(vs) :], yu, sp, up)
np.savez(out, **curves)
print(out, {n: round(100 * float(c.max()), 1) for n, c in curves.items()})
