"""VALIDATION ONLY (session 15, ipce15): fold_draws.py for one epoch only, a final-run member of a fold.

fold_draws.py (sessions 10 and 14) rebuilds the classifier with K = 1 / 3 / 5 draws at every epoch of a fold model;
a member j >= 1 of a fold (seed s + 1000 j, as the trainer's j-th final model) is only read at the epoch the other
folds choose, which the member-0 curves fix beforehand. This trains the member up to EPOCH and rebuilds its
classifier there only (the training is the trainer's; K = 1 is asserted to be the trainer's own classifier, as in
fold_draws.py), about a third of fold_draws.py's CPU. Output: as fold_draws.py's with one epoch (``epochs`` = [EPOCH]).
usage: fold_draws_at.py METHOD SEED K OUT.npz MEMBER EPOCH"""

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
member = int(sys.argv[5])
seed += 1000 * member  # the model's own seed: its data.seed and head generator
data = train_data(ds, feats, train_idx, train_classes, "cpu", seed)
raw = np.asarray(data.class_attributes, dtype=np.float32)
unseen = torch.as_tensor(np.asarray(data.unseen_classes, dtype=np.int64))
y = torch.as_tensor(np.asarray(data.train_labels, dtype=np.int64))
x_raw = data.features.rows("pooled", np.asarray(data.train_index), "cpu")
scores = {d: [] for d in DRAWS}  # [draws][epoch] -> [rows, candidates]
target = int(sys.argv[6])
for event in m.fit(data, Control(), int(m.hparams["epochs"])):
    if not isinstance(event, EpochEnd) or event.epoch != target:
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
    break
assert len(scores[DRAWS[0]]) == 1, f"epoch {target} never came"
np.savez(
    out,
    epochs=np.array([target]),
    scores=np.stack([np.stack(scores[d]) for d in DRAWS]),  # [draws, epochs, rows, candidates]
    draws=np.array(DRAWS),
    n_seen=len(vs),
    ys=np.array([pos[int(c)] for c in ds.labels[vs]]),
    yu=np.array([pos[int(c)] for c in ds.labels[vu]]),
    sp=np.array([pos[int(c)] for c in train_classes]),
    up=np.array([pos[int(c)] for c in val_classes]),
)
print("saved", out)
