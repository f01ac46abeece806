"""Each final model of a finished several-model SGMA run alone, and their average, on the test split, each with
gamma placed as the trainer places it ("calibration": on the same tenth of each seen class held out of the final
run, at the run's chosen share). Model 0 alone is what the run would have been with final_models = 1 (member 0
is that run's model bit for bit), so one K-model run gives the paired comparison.
usage: PYTHONPATH=. python docs/history/sgma_final_models/member_alone.py CKPT DATASET   (DATASET: a folder or builtin)
"""

import sys
from pathlib import Path

import torch

from zsl_desktop.engine.checkpoints import load_checkpoint
from zsl_desktop.engine.data import load_builtin, load_dataset
from zsl_desktop.engine.scoring import evaluate_on, gamma_for_rejection_rate
from zsl_desktop.engine.selection import hold_out_per_class
from zsl_desktop.engine.session import Session
from zsl_desktop.engine.training import CALIBRATION_FRACTION, method_from_checkpoint

torch.set_num_threads(1)
checkpoint = load_checkpoint(sys.argv[1])
ds = load_builtin() if sys.argv[2] == "builtin" else load_dataset(Path(sys.argv[2]))
session = Session(ds, device="cpu")
for _ in session.prepare_features() or []:
    pass
feats = session.features
header, state = checkpoint.header, checkpoint.state
assert header["selection"]["gamma_transfer"] == "calibration"
rate = header["selection"]["seen_rejection"]
_, calibration = hold_out_per_class(ds.splits["trainval"], ds.labels, header["seed"] + 7, fraction=CALIBRATION_FRACTION)
count = len({k.split(".", 1)[0] for k in state if k.startswith("member")})
own = {k: v for k, v in state.items() if not k.startswith("member")}
own["code_mean"] = own.pop("own_code_mean", own["code_mean"])
alone_states = [
    {**{k[len(f"member{i}.") :]: v for k, v in state.items() if k.startswith(f"member{i}.")}} for i in range(count)
]
models = []
for single in [*alone_states, own]:
    method = method_from_checkpoint(checkpoint)
    method.load_state_dict({**{k: v for k, v in own.items() if k.startswith("sched.")}, **single})
    models.append(method)
models.append(method_from_checkpoint(checkpoint))  # the run's average
splits = ds.splits
for j, method in enumerate(models):
    gamma = gamma_for_rejection_rate(method, ds, feats, calibration, ds.seen_classes, ds.unseen_classes, rate)
    m = evaluate_on(
        method, ds, feats, splits["test_seen"], splits["test_unseen"], ds.seen_classes, ds.unseen_classes, gamma
    ).as_dict()
    name = f"model {j} alone" if j <= count else "average"
    print(
        name, f"gamma {gamma:.3f}", " ".join(f"{k} {100 * float(m[k]):.1f}" for k in ("zsl_t1", "u", "s", "h", "ausuc"))
    )
print(
    "header",
    {k: round(100 * float(v), 1) for k, v in header["metrics"].items() if k in ("zsl_t1", "u", "s", "h", "ausuc")},
)
