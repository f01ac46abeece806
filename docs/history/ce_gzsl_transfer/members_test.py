"""TEST-side reading of a finished run with several final models (nothing is chosen on it): the test figures of
the first model alone (seed s: the one-model run's final model, its gamma re-read at the run's rate on the same
calibration images) and of the average the checkpoint holds. usage: members_test.py FRACTION CKPT ..."""

import sys
from pathlib import Path

import torch

from zsl_desktop.engine.checkpoints import load_checkpoint
from zsl_desktop.engine.data import load_dataset
from zsl_desktop.engine.scoring import evaluate_on, gamma_for_rejection_rate
from zsl_desktop.engine.selection import hold_out_per_class
from zsl_desktop.engine.session import Session
from zsl_desktop.engine.training import method_from_checkpoint

torch.set_num_threads(1)
fraction, paths = float(sys.argv[1]), sys.argv[2:]
ds = load_dataset(Path("/work/shared/zsl_data/CUB_200_2011"))
session = Session(ds, device="cpu")
for _ in session.prepare_features() or []:
    pass
feats = session.features
seen, unseen = ds.seen_classes, ds.unseen_classes
for path in paths:
    ck = load_checkpoint(path)
    whole = method_from_checkpoint(ck)
    first_state = {k[len("member0.") :]: v for k, v in ck.state.items() if k.startswith("member0.")}
    first = method_from_checkpoint(ck)
    first.load_state_dict(first_state)
    _, cal = hold_out_per_class(ds.splits["trainval"], ds.labels, int(ck.header["seed"]) + 7, fraction=fraction)
    rate = ck.header["selection"]["seen_rejection"]
    for label, m in (("first model", first), ("average", whole)):
        gamma = gamma_for_rejection_rate(m, ds, feats, cal, seen, unseen, rate)
        r = evaluate_on(
            m,
            ds,
            feats,
            ds.splits["test_seen"],
            ds.splits["test_unseen"],
            seen,
            unseen,
            gamma,
            None,
            "cpu",
            "validation",
        ).as_dict()
        print(
            f"{Path(path).name} {label}: gamma {gamma:.3f} TEST "
            + " ".join(f"{q} {100 * r[q]:.1f}" for q in ("zsl_t1", "u", "s", "h", "ausuc"))
        )
    print(f"{Path(path).name} header gamma {ck.header['gamma']:.3f} h {100 * ck.header['metrics']['h']:.1f}")
