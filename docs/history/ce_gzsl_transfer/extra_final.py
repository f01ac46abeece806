"""One more final model for a finished run: same operating point (epoch), same training rows (trainval minus the
run's calibration share), another seed; saves its scores for every dataset row (an .npy) for ens.py.
usage: extra_final.py CKPT METHOD SEED MODEL_SEED FRACTION OUT.npy"""

import sys
from pathlib import Path

import numpy as np
import torch

from zsl_desktop.engine.checkpoints import load_checkpoint
from zsl_desktop.engine.data import load_dataset
from zsl_desktop.engine.methods.base import Control
from zsl_desktop.engine.selection import hold_out_per_class
from zsl_desktop.engine.session import Session
from zsl_desktop.engine.training import TrainConfig, build_method, train_data

torch.set_num_threads(1)
src, method, seed, model_seed, fraction, out = sys.argv[1:7]
seed, model_seed, fraction = int(seed), int(model_seed), float(fraction)
header = load_checkpoint(src).header
ds = load_dataset(Path("/work/shared/zsl_data/CUB_200_2011"))
session = Session(ds, device="cpu")
for _ in session.prepare_features() or []:
    pass
feats = session.features
config = TrainConfig(method=method, seed=seed, hparams=dict(header["hparams"]))
final_train, _ = hold_out_per_class(ds.splits["trainval"], ds.labels, seed + 7, fraction=fraction)
m = build_method(ds, feats, config)
for _ in m.fit(train_data(ds, feats, final_train, ds.seen_classes, "cpu", model_seed), Control(), header["epochs"]):
    pass
x = torch.as_tensor(np.asarray(feats.pooled, np.float32))
with torch.no_grad():
    np.save(out, np.asarray(m.score(m.encode(x), ds.class_attributes), np.float64))
print("saved", out)
