"""VALIDATION ONLY (session 10, draws10): ``classifier_draws`` K on the same fold models.

Fold K of a run (METHOD, SEED, default hyper-parameters): the trainer's own fold model (MEMBER 0, seed s; member j:
seed s + 1000 j, as the trainer's j-th final model), and at
every epoch its classifier rebuilt with K = 1, 3 and 5 draws from the same head generator (K = 1 is the trainer's
own classifier, checked bit for bit; K = 3's draws are the first three of K = 5's), each head's log-softmax scores
of the fold's held-out images saved. Session 14: one K = 5 fit an epoch, whose first one and first three softmaxes
averaged are K = 1 and K = 3 (``averaged_softmax`` trains them one after another with the generator continued, so
these are the same numbers as separate K = 1 / 3 fits: 5 softmax fits an epoch instead of 9). fold_draws_report.py reads them as the trainer would (epoch and rate chosen
on the other folds, gamma read off 74 images).
usage: fold_draws.py METHOD SEED K OUT.npz [MEMBER (default 0) [EPOCHS (a smoke test; default: the method's)]]"""

import sys
from pathlib import Path

import numpy as np
import torch

from zsl_desktop.engine.data import load_dataset
from zsl_desktop.engine.events import EpochEnd
from zsl_desktop.engine.methods import generative
from zsl_desktop.engine.methods.base import Control
from zsl_desktop.engine.methods.ce_gzsl import classifier
from zsl_desktop.engine.methods.ce_gzsl.seeding import HEAD
from zsl_desktop.engine.methods.generative import generator_for
from zsl_desktop.engine.scoring import encode_rows
from zsl_desktop.engine.selection import selection_folds
from zsl_desktop.engine.session import Session
from zsl_desktop.engine.training import TrainConfig, build_method, train_data

DRAWS = (1, 3, 5)
torch.set_num_threads(1)
fits = []  # each softmax of the last averaged_softmax call: (weight, bias)


def mean_of(k):
    """The first k softmaxes of the last fit, averaged as ``averaged_softmax`` averages them."""
    if k == 1:
        return fits[0]
    return torch.stack([w for w, _ in fits[:k]]).mean(0), torch.stack([b for _, b in fits[:k]]).mean(0)


def recording_softmax(draws, num_classes, hp, generator, check=None):
    """``averaged_softmax``, keeping each softmax (one fit a draw, the generator continued, as it does)."""
    fits[:] = [generative.averaged_softmax([draw], num_classes, hp, generator, check) for draw in draws]
    return mean_of(len(fits))


classifier.averaged_softmax = recording_softmax
method, seed, k, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ds = load_dataset(Path("/work/shared/zsl_data/CUB_200_2011"))
session = Session(ds, device="cpu")
for _ in session.prepare_features() or []:
    pass
feats = session.features
config = TrainConfig(method=method, seed=seed)
train_idx, vs, vu, train_classes, val_classes = selection_folds(ds, config)[k]
cand = np.union1d(train_classes, val_classes)
pos = {int(c): i for i, c in enumerate(cand)}
both = np.concatenate([vs, vu])


def log_softmax(s):
    s = s - s.max(1, keepdims=True)
    return s - np.log(np.exp(s).sum(1, keepdims=True))


m = build_method(ds, feats, config)
member = int(sys.argv[5]) if len(sys.argv) > 5 else 0
seed += 1000 * member  # the model's own seed: its data.seed and head generator
data = train_data(ds, feats, train_idx, train_classes, "cpu", seed)
raw = np.asarray(data.class_attributes, dtype=np.float32)
unseen = torch.as_tensor(np.asarray(data.unseen_classes, dtype=np.int64))
y = torch.as_tensor(np.asarray(data.train_labels, dtype=np.int64))
x_raw = data.features.rows("pooled", np.asarray(data.train_index), "cpu")
scores = {d: [] for d in DRAWS}  # [draws][epoch] -> [rows, candidates]
epochs = int(sys.argv[6]) if len(sys.argv) > 6 else int(m.hparams["epochs"])
for event in m.fit(data, Control(), epochs):
    if not isinstance(event, EpochEnd):
        continue
    own = m._head
    codes = encode_rows(m, feats, both)  # the embedding does not depend on the head
    m.hparams["classifier_draws"] = max(DRAWS)
    m._fit_classifier(
        m._scaler(x_raw), y, raw, m._attributes(raw), unseen, generator_for(seed, event.epoch - 1, HEAD), None
    )
    five = m._head
    for d in DRAWS:
        w, b = mean_of(d)
        m._head, m._known_cache, m._column_cache = {**five, "weight": w, "bias": b}, None, None
        if d == 1:
            assert torch.equal(m._head["weight"], own["weight"]), "K = 1 is not the trainer's classifier"
        with torch.no_grad():
            s = np.asarray(m.score(codes, ds.class_attributes[cand]), np.float64)
        scores[d].append(log_softmax(s).astype(np.float32))
    m.hparams["classifier_draws"] = 1
    m._head, m._known_cache, m._column_cache = own, None, None
    print(out, "epoch", event.epoch, flush=True)
np.savez(
    out,
    scores=np.stack([np.stack(scores[d]) for d in DRAWS]),  # [draws, epochs, rows, candidates]
    draws=np.array(DRAWS),
    n_seen=len(vs),
    ys=np.array([pos[int(c)] for c in ds.labels[vs]]),
    yu=np.array([pos[int(c)] for c in ds.labels[vu]]),
    sp=np.array([pos[int(c)] for c in train_classes]),
    up=np.array([pos[int(c)] for c in val_classes]),
)
print("saved", out)
