"""TEST-side diagnosis (session 11; nothing is chosen on it): how much the choice of member seeds moves the test
figures of an average of k final models. From a finished run with K final models (seeds s, s + 1000, ...), every
k-subset of its models (log-softmax mean, as ens.py; the same decisions as the mean of logits the checkpoint
scores), gamma re-read at the run's rate on its own calibration images. The first k models are exactly what the
run gives with ``final_models`` k (same folds, epoch, rate and rows). usage: members_subsets_test.py FRACTION CKPT ..."""

import itertools
import sys
from pathlib import Path

import numpy as np
import torch

from zsl_desktop.engine import evaluation as ev
from zsl_desktop.engine.checkpoints import load_checkpoint
from zsl_desktop.engine.data import load_dataset
from zsl_desktop.engine.selection import gamma_at_rate, hold_out_per_class
from zsl_desktop.engine.session import Session
from zsl_desktop.engine.training import method_from_checkpoint

torch.set_num_threads(1)
fraction, paths = float(sys.argv[1]), sys.argv[2:]
ds = load_dataset(Path("/work/shared/zsl_data/CUB_200_2011"))
session = Session(ds, device="cpu")
for _ in session.prepare_features() or []:
    pass
x = torch.as_tensor(np.asarray(session.features.pooled, np.float32))
seen, unseen = np.asarray(ds.seen_classes), np.asarray(ds.unseen_classes)
ts, tu = ds.splits["test_seen"], ds.splits["test_unseen"]


def log_softmax(s):
    s = s - s.max(1, keepdims=True)
    return s - np.log(np.exp(s).sum(1, keepdims=True))


def single_models(ck):
    """Each final model alone, in seed order (member0 = seed s, ..., the checkpoint's own model last)."""
    models = []
    count = 1 + len({k.split(".", 1)[0] for k in ck.state if k.startswith("member")})
    own = {k: v for k, v in ck.state.items() if not k.startswith("member")}
    generator = {k: v for k, v in own.items() if k.startswith("G.")}  # members keep none; unused in scoring
    for i in range(count):
        m = method_from_checkpoint(ck)
        prefix = f"member{i}."
        if i < count - 1:
            m.load_state_dict(
                {**generator, **{k[len(prefix) :]: v for k, v in ck.state.items() if k.startswith(prefix)}}
            )
        else:
            m.load_state_dict(own)
        models.append(m)
    return models


for path in paths:
    ck = load_checkpoint(path)
    with torch.no_grad():
        scores = [
            log_softmax(np.asarray(m.score(m.encode(x), ds.class_attributes), np.float64)) for m in single_models(ck)
        ]
    _, cal = hold_out_per_class(ds.splits["trainval"], ds.labels, int(ck.header["seed"]) + 7, fraction=fraction)
    rate = ck.header["selection"]["seen_rejection"]
    print(f"{Path(path).name}: {len(scores)} models, epoch {ck.header['selection']['best_epoch']}, rate {rate:.2f}")
    for k in range(1, len(scores) + 1):
        rows = []
        for subset in itertools.combinations(range(len(scores)), k):
            s = np.mean([scores[i] for i in subset], 0)
            gamma = gamma_at_rate(s[cal][:, seen].max(1) - s[cal][:, unseen].max(1), rate)
            r = ev.evaluate(s[ts], ds.labels[ts], s[tu], ds.labels[tu], seen, unseen, gamma, "validation").as_dict()
            rows.append([100 * r[q] for q in ("zsl_t1", "u", "s", "h", "ausuc")])
        rows = np.array(rows)
        first = " ".join(f"{q} {v:.1f}" for q, v in zip(("zsl", "u", "s", "h", "ausuc"), rows[0]))
        print(
            f"  k={k}: first {k}: {first} | {len(rows)} subsets: H {rows[:, 3].mean():.1f} sd {rows[:, 3].std(ddof=1) if len(rows) > 1 else 0:.1f} "
            f"(min {rows[:, 3].min():.1f}, max {rows[:, 3].max():.1f}), AUSUC {rows[:, 4].mean():.1f} sd "
            f"{rows[:, 4].std(ddof=1) if len(rows) > 1 else 0:.1f}"
        )
    print(f"  header: gamma {ck.header['gamma']:.3f} h {100 * ck.header['metrics']['h']:.1f}")
