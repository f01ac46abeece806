"""VALIDATION ONLY: SGMA's fold models of a finished run, each retrained to the run's chosen epoch with seeds
s, s+1000, s+2000 and chained as the trainer chains final models (``adopt_members``: model j holds the earlier
ones and encodes their mean code); H-by-rate curves on each fold's held-out images for 1, 2 and 3 models.
usage: PYTHONPATH=. python docs/history/sgma_final_models/fold_ens.py CKPT SEED OUT.npz"""

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from zsl_desktop.engine.checkpoints import load_checkpoint
from zsl_desktop.engine.data import load_dataset
from zsl_desktop.engine.methods.base import Control
from zsl_desktop.engine.scoring import encode_rows
from zsl_desktop.engine.selection import REJECTION_RATES, h_by_rejection_rate, selection_folds
from zsl_desktop.engine.session import Session
from zsl_desktop.engine.training import TrainConfig, build_method, train_data

torch.set_num_threads(1)
src, seed, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
header = load_checkpoint(src).header
epoch = header["selection"]["best_epoch"]
ds = load_dataset(Path("/work/shared/zsl_data/CUB_200_2011"))
session = Session(ds, device="cpu")
for _ in session.prepare_features() or []:
    pass
feats = session.features
config = TrainConfig(method="sgma", seed=seed, hparams=dict(header["hparams"]))
curves = {}
for k, (train_idx, vs, vu, train_classes, val_classes) in enumerate(selection_folds(ds, config)):
    cand = np.union1d(train_classes, val_classes)
    pos = {int(c): i for i, c in enumerate(cand)}
    ys = np.array([pos[int(c)] for c in ds.labels[vs]])
    yu = np.array([pos[int(c)] for c in ds.labels[vu]])
    sp = np.array([pos[int(c)] for c in train_classes])
    up = np.array([pos[int(c)] for c in val_classes])
    last = None
    for j in range(3):
        m = build_method(ds, feats, config)
        if last is not None:
            m.adopt_members(last)
        data = train_data(ds, feats, train_idx, train_classes, "cpu", seed + 1000 * j)
        for _ in m.fit(replace(data), Control(), epoch):
            pass
        both = np.concatenate([vs, vu])
        scores = np.asarray(m.score(encode_rows(m, feats, both), ds.class_attributes[cand]), np.float64)
        curves[f"fold{k}_h{j + 1}"] = h_by_rejection_rate(scores[: len(vs)], ys, scores[len(vs) :], yu, sp, up)
        print(f"fold {k} models {j + 1}: best H {100 * curves[f'fold{k}_h{j + 1}'].max():.1f}", flush=True)
        last = m
for n in (1, 2, 3):
    mean = np.mean([curves[f"fold{k}_h{n}"] for k in range(3)], 0)
    curves[f"mean_h{n}"] = mean
    print(f"models {n}: fold-mean H {100 * mean.max():.1f} at rate {REJECTION_RATES[int(mean.argmax())]}")
np.savez(out, epoch=epoch, **curves)
print(out, "epoch", epoch)
