"""TEST side (session 14, cegzsl14; read after the validation decision): a finished CE-GZSL run's final models
retrained exactly as the trainer trained them (same rows, seeds s + 1000 j, the run's epoch), each one's final
softmax then rebuilt with ``classifier_draws`` K = 1, 3 and 5 from the trainer's own head generator (K = 1 is the
trainer's classifier: every kept tensor is checked against the checkpoint; K = 3's draws are the first three of
K = 5's). The three models' logits are averaged (what ``score`` does), gamma is read at the run's rate on its 74
calibration images, and the test figures are printed for each K; logits saved to OUT.npz.
The fold phase (epoch and rate) is the checkpoint's: what a run with classifier_draws K for the final models only
(fold models at K = 1) would give.
Checkpoints of runs whose kept classifier is one softmax (final_draws 0, or from before the option).
usage: final_draws.py [--dataset builtin|PATH] CKPT OUT.npz [EPOCHS (a smoke test: no check against the checkpoint)]
(default dataset: the dev CUB subset)"""

import sys
from pathlib import Path

import numpy as np
import torch

from zsl_desktop.engine import evaluation as ev
from zsl_desktop.engine.checkpoints import load_checkpoint
from zsl_desktop.engine.data import load_dataset
from zsl_desktop.engine.methods import get_method
from zsl_desktop.engine.methods.base import Control
from zsl_desktop.engine.methods.ce_gzsl.seeding import HEAD
from zsl_desktop.engine.methods.generative import generator_for
from zsl_desktop.engine.methods.members import member_states, own_items
from zsl_desktop.engine.scoring import encode_rows
from zsl_desktop.engine.selection import gamma_at_rate, hold_out_per_class
from zsl_desktop.engine.session import Session
from zsl_desktop.engine.training import TrainConfig, build_method, train_data

DRAWS = (1, 3, 5)
torch.set_num_threads(1)
args = sys.argv[1:]
where = args[1] if args[:1] == ["--dataset"] else "/work/shared/zsl_data/CUB_200_2011"
args = args[2:] if args[:1] == ["--dataset"] else args
src, out = args[0], args[1]
ck = load_checkpoint(src)
header = ck.header
seed, epochs = int(header["seed"]), int(header["epochs"])
smoke = len(args) > 2
if smoke:
    epochs = int(args[2])
rate = float(header["selection"]["seen_rejection"])
ds = load_dataset(where if where in ("builtin", "builtin-small") else Path(where))
session = Session(ds, device="cpu")
for _ in session.prepare_features() or []:
    pass
feats = session.features
seen, unseen = np.asarray(ds.seen_classes), np.asarray(ds.unseen_classes)
final_train, cal = hold_out_per_class(ds.splits["trainval"], ds.labels, seed + 7, fraction=0.1)
ts, tu = ds.splits["test_seen"], ds.splits["test_unseen"]
rows = np.concatenate([cal, ts, tu])
saved_models = [*member_states(ck.state), own_items(ck.state)]
hparams = dict(header["hparams"])
if "final_draws" in get_method(header["method"]).default_hparams:
    hparams["final_draws"] = 0  # retrain as the run was trained (before final_draws); its K = 5 is derived below
config = TrainConfig(method=header["method"], seed=seed, hparams=hparams)
logits = np.zeros((len(saved_models), len(DRAWS), len(rows), ds.num_classes), np.float32)
for j, saved in enumerate(saved_models):
    model_seed = seed + 1000 * j
    data = train_data(ds, feats, final_train, ds.seen_classes, "cpu", model_seed)
    m = build_method(ds, feats, config)
    for _ in m.fit(data, Control(), epochs):
        pass
    if not smoke:
        mine = m.state_dict()
        keys = [
            k for k in saved if torch.is_tensor(saved[k]) and k in mine and not k.startswith(("G.", "D.", "optim."))
        ]
        worst = max(float((mine[k].float() - saved[k].float()).abs().max()) for k in keys)
        assert worst == 0.0, f"model {j}: retrained differs from the checkpoint by {worst}"
        print(
            f"model {j} (seed {model_seed}, {epochs} epochs): {len(keys)} tensors equal to the checkpoint's", flush=True
        )
    x_raw = data.features.rows("pooled", np.asarray(data.train_index), "cpu")
    y = torch.as_tensor(np.asarray(data.train_labels, dtype=np.int64))
    raw = np.asarray(data.class_attributes, dtype=np.float32)
    unseen_t = torch.as_tensor(np.asarray(data.unseen_classes, dtype=np.int64))
    codes = encode_rows(m, feats, rows)
    own = m._head["weight"].clone()
    for d, k in enumerate(DRAWS):
        m.hparams["classifier_draws"] = k
        m._fit_classifier(
            m._scaler(x_raw), y, raw, m._attributes(raw), unseen_t, generator_for(model_seed, epochs - 1, HEAD), None
        )
        if k == 1:
            assert torch.equal(m._head["weight"], own), "K = 1 is not the trainer's classifier"
        logits[j, d] = m.score(codes, ds.class_attributes)
    print(f"model {j} done", flush=True)

nc, nts = len(cal), len(ts)
ys, yu = ds.labels[ts], ds.labels[tu]
np.savez(out, logits=logits, draws=np.array(DRAWS), rows=rows, n_cal=nc, n_test_seen=nts, rate=rate)
for d, k in enumerate(DRAWS):
    for name, pick in (("3 models averaged", slice(None)), ("model 0 alone", slice(0, 1))):
        s = logits[pick, d].astype(np.float64).mean(0)
        s_cal, s_ts, s_tu = s[:nc], s[nc : nc + nts], s[nc + nts :]
        gamma = gamma_at_rate(s_cal[:, seen].max(1) - s_cal[:, unseen].max(1), rate)
        r = ev.evaluate(s_ts, ys, s_tu, yu, seen, unseen, gamma, "validation").as_dict()
        best = ev.seen_unseen_curve(s_ts, ys, s_tu, yu, seen, unseen).best()
        print(
            f"{Path(src).name} K={k} {name:18s} rate {rate:.2f} gamma {gamma:+.3f} TEST "
            + " ".join(f"{q} {100 * r[q]:.1f}" for q in ("zsl_t1", "u", "s", "h", "ausuc"))
            + f" | best-gamma H {100 * best.h:.1f}",
            flush=True,
        )
m_ = header["metrics"]
print(
    f"{Path(src).name} header: rate {rate} gamma {header['gamma']:+.3f} H {100 * m_['h']:.1f} AUSUC {100 * m_['ausuc']:.1f}"
)
