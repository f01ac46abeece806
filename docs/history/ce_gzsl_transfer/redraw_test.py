"""TEST-side diagnosis (nothing chosen on it): where does a finished CE-GZSL run's test H come from?
For each checkpoint: header; re-read at the run's rate; the test's own best gamma; the run's rate placed on the test
seen images themselves; each final model alone (gamma at the run's rate on the 74 calibration images); and the final
softmaxes redrawn (refit_classifier on the run's training rows, draw seed r; every model its own draw from the last
model's generator) with classifier_draws 1 and 5.
usage: redraw_test.py CKPT ... (session 14, cegzsl14)"""

import sys
from pathlib import Path

import numpy as np
import torch

from zsl_desktop.engine.checkpoints import load_checkpoint
from zsl_desktop.engine.data import load_dataset
from zsl_desktop.engine.methods.members import member_states, own_items
from zsl_desktop.engine.scoring import encode_rows, evaluate_on
from zsl_desktop.engine.selection import gamma_at_rate, hold_out_per_class
from zsl_desktop.engine.session import Session
from zsl_desktop.engine.training import method_from_checkpoint

torch.set_num_threads(1)
ds = load_dataset(Path("/work/shared/zsl_data/CUB_200_2011"))
session = Session(ds, device="cpu")
for _ in session.prepare_features() or []:
    pass
feats = session.features
seen, unseen = ds.seen_classes, ds.unseen_classes
REDRAWS = 4


def flips(method, index):
    s = method.score(encode_rows(method, feats, index, "cpu"), ds.class_attributes)
    return s[:, seen].max(1) - s[:, unseen].max(1)


def test(method, gamma):
    r = evaluate_on(
        method,
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
    return " ".join(
        f"{q} {100 * r[q]:5.1f}" for q in ("zsl_t1", "u", "s", "h", "ausuc")
    ) + f" gamma {r['gamma']:+.3f}", r


for path in sys.argv[1:]:
    ck = load_checkpoint(path)
    name = Path(path).name
    whole = method_from_checkpoint(ck)
    sel = ck.header["selection"]
    rate = float(sel["seen_rejection"])
    print(
        f"{name}: epoch {sel['best_epoch']} rate {rate} (best fold-mean rate {sel['fold_mean_rate']}) fold-mean val H {100 * sel['validation_h']:.1f}; header H {100 * ck.header['metrics']['h']:.1f} gamma {ck.header['gamma']:+.3f}"
    )
    train, cal = hold_out_per_class(ds.splits["trainval"], ds.labels, int(ck.header["seed"]) + 7, fraction=0.1)
    print(f"  re-read at rate {rate}:      ", test(whole, gamma_at_rate(flips(whole, cal), rate))[0])
    print("  test's own best gamma:    ", test(whole, None)[0])
    print("  rate on test-seen flips:  ", test(whole, gamma_at_rate(flips(whole, ds.splits["test_seen"]), rate))[0])
    for j, sub in enumerate([*member_states(ck.state), own_items(ck.state)]):
        single = method_from_checkpoint(ck)
        single.load_state_dict({**own_items(ck.state), **sub})
        print(
            f"  model {j} alone at rate:    ",
            test(single, gamma_at_rate(flips(single, cal), rate))[0],
            "| best-gamma H",
            f"{100 * test(single, None)[1]['h']:.1f}",
        )
    x_train = feats.rows("pooled", np.asarray(train), "cpu")
    y_train = np.asarray(ds.labels[train], np.int64)
    for draws in (1, 5):
        hs = []
        for r in range(REDRAWS):
            m = method_from_checkpoint(ck)
            for model in m._models():
                model.hparams["classifier_draws"] = draws
            m.refit_classifier(ds.class_attributes, x_train, y_train, seed=100 + r)
            line, res = test(m, gamma_at_rate(flips(m, cal), rate))
            best = test(m, None)[1]
            hs.append((res["h"], best["h"], best["ausuc"]))
            print(f"  redraw K={draws} r={r} at rate:", line, f"| best-gamma H {100 * best['h']:.1f}", flush=True)
        a = 100 * np.array(hs)
        print(
            f"  redraw K={draws}: H at rate {a[:, 0].mean():.1f} sd {a[:, 0].std(ddof=1):.1f}; best-gamma H {a[:, 1].mean():.1f} sd {a[:, 1].std(ddof=1):.1f}; AUSUC {a[:, 2].mean():.1f} sd {a[:, 2].std(ddof=1):.1f}",
            flush=True,
        )
