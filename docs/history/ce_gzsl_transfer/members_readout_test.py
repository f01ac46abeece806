"""TEST-side re-read of finished several-model runs (session 10, ipce10; run after the validation decision, nothing
is chosen on it): the same final models and 74 calibration images, gamma placed by each transfer of
member_transfers.py, and the test figures; last, H at the test set's own best gamma (how much any transfer could
give: a diagnosis, never a choice). The final models do not depend on the rate (the folds choose the epoch;
the rate only moves gamma), so "expected" here is what an end-to-end run with ``--set calibration_rate=expected``
gives. "best" must repeat the checkpoint's own figures (printed beside it).
usage: members_readout_test.py [--dataset builtin|PATH] CKPT ...  (default: the dev CUB subset; checkpoints from
before session 10, where every member keeps its generator, or after)"""

import sys
from pathlib import Path

import numpy as np
import torch

from zsl_desktop.engine.checkpoints import load_checkpoint
from zsl_desktop.engine.data import load_dataset
from zsl_desktop.engine.methods.members import member_states, own_items
from zsl_desktop.engine.readout import rate_for_readout
from zsl_desktop.engine.scoring import encode_rows, evaluate_on
from zsl_desktop.engine.selection import gamma_at_rate, hold_out_per_class
from zsl_desktop.engine.session import Session
from zsl_desktop.engine.training import method_from_checkpoint

torch.set_num_threads(1)
args = sys.argv[1:]
where = args[1] if args[:1] == ["--dataset"] else "/work/shared/zsl_data/CUB_200_2011"
paths = args[2:] if args[:1] == ["--dataset"] else args
ds = load_dataset(where if where in ("builtin", "builtin-small") else Path(where))
session = Session(ds, device="cpu")
for _ in session.prepare_features() or []:
    pass
feats = session.features
seen, unseen = ds.seen_classes, ds.unseen_classes


def flips(method, index):
    s = method.score(encode_rows(method, feats, index, "cpu"), ds.class_attributes)
    return s[:, seen].max(1) - s[:, unseen].max(1)


for path in paths:
    ck = load_checkpoint(path)
    whole = method_from_checkpoint(ck)
    singles = []
    for sub in [*member_states(ck.state), own_items(ck.state)]:
        single = method_from_checkpoint(ck)
        single.load_state_dict({**own_items(ck.state), **sub})  # a member without a generator borrows the last's
        singles.append(single)
    sel = ck.header["selection"]
    fraction = float(ck.header["hparams"].get("calibration") or 0.1)
    _, cal = hold_out_per_class(ds.splits["trainval"], ds.labels, int(ck.header["seed"]) + 7, fraction=fraction)
    rates = {
        "best": sel["fold_mean_rate"],
        "expected": rate_for_readout([row["h"] for row in sel["fold_rows"]], len(cal)),
    }
    f_whole = flips(whole, cal)
    f_pooled = np.concatenate([flips(m, cal) for m in singles])
    for name, rate in [*rates.items(), ("test's best gamma (diagnosis only)", None)]:
        for how, f in (("", f_whole), ("+pooled", f_pooled)):
            if rate is None and how:
                continue
            gamma = None if rate is None else gamma_at_rate(f, rate)
            r = evaluate_on(
                whole,
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
                f"{Path(path).name} {name + how:14s} rate {rate or 0:.2f} gamma {r['gamma']:+.3f} TEST "
                + " ".join(f"{q} {100 * r[q]:.1f}" for q in ("zsl_t1", "u", "s", "h", "ausuc")),
                flush=True,
            )
    m = ck.header["metrics"]
    print(
        f"{Path(path).name} header: rate {sel['seen_rejection']} gamma {ck.header['gamma']:+.3f} h {100 * m['h']:.1f}"
    )
