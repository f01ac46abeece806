"""Session 11: is a built final member what extra_final.py (session 8's ens) trains? Retrain model j of a finished
several-model run as extra_final.py does (same rows, seed s + 1000 j, the run's epoch) and compare every tensor the
checkpoint keeps of that model (not the generator, critic or optimiser) with the retrained one's.
usage: member_check.py CKPT J"""

import sys
from pathlib import Path

import torch

from zsl_desktop.engine.checkpoints import load_checkpoint
from zsl_desktop.engine.data import load_dataset
from zsl_desktop.engine.methods.base import Control
from zsl_desktop.engine.selection import hold_out_per_class
from zsl_desktop.engine.session import Session
from zsl_desktop.engine.training import TrainConfig, build_method, train_data

torch.set_num_threads(1)
src, j = sys.argv[1], int(sys.argv[2])
ck = load_checkpoint(src)
header = ck.header
seed = int(header["seed"])
count = len(header["selection"]["final_seeds"])
ds = load_dataset(Path("/work/shared/zsl_data/CUB_200_2011"))
session = Session(ds, device="cpu")
for _ in session.prepare_features() or []:
    pass
feats = session.features
prefix = f"member{j}." if j < count - 1 else ""  # the last model is the checkpoint's own
saved = {
    k[len(prefix) :]: v for k, v in ck.state.items() if (k.startswith(prefix) if prefix else not k.startswith("member"))
}
config = TrainConfig(method=header["method"], seed=seed, hparams=dict(header["hparams"]))
final_train, _ = hold_out_per_class(ds.splits["trainval"], ds.labels, seed + 7, fraction=0.1)
m = build_method(ds, feats, config)
for _ in m.fit(
    train_data(ds, feats, final_train, ds.seen_classes, "cpu", seed + 1000 * j), Control(), header["epochs"]
):
    pass
mine = m.state_dict()
keys = [k for k in saved if torch.is_tensor(saved[k]) and k in mine and not k.startswith(("G.", "D.", "optim."))]
diff = {k: float((mine[k].float() - saved[k].float()).abs().max()) for k in keys}
print(
    f"model {j} (seed {seed + 1000 * j}, {header['epochs']} epochs): {len(diff)} tensors, max |difference|",
    max(diff.values()),
)
print(sorted(diff.items(), key=lambda kv: -kv[1])[:5])
