"""Where a final CE-GZSL/IPCE model's H goes, per checkpoint.

VALIDATION side (trainval images only, never test): on the final model's own calibration images (the share of
each seen class it did not train on), the share sent to unseen classes at the folds' mean gamma, and gamma's
bootstrap spread over those images.
TEST side (labelled, diagnosis only, never used to choose): H at the checkpoint's gamma; at the chosen rate
placed on the test-seen images themselves (an ideal calibration); at the folds' mean gamma; the best H over
gamma (oracle); the test-seen share sent to unseen at the checkpoint's gamma; and the spread of test H when the
calibration images are bootstrapped (how much of the seed spread is the transfer's noise).
Usage: python diag.py FRACTION ck.pt ...   (FRACTION: the run's calibration share, 0.1 by default)"""

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
fraction = float(sys.argv[1])
ds = load_dataset(Path("/work/shared/zsl_data/CUB_200_2011"))
session = Session(ds, device="cpu")
for _ in session.prepare_features() or []:
    pass
feats = session.features
seen, unseen = np.asarray(ds.seen_classes), np.asarray(ds.unseen_classes)
ts, tu = ds.splits["test_seen"], ds.splits["test_unseen"]
rng = np.random.default_rng(0)
for path in sys.argv[2:]:
    ck = load_checkpoint(path)
    h, sel = ck.header, ck.header["selection"]
    m = method_from_checkpoint(ck)
    x = torch.as_tensor(np.asarray(feats.pooled, np.float32))
    with torch.no_grad():
        scores = np.asarray(m.score(m.encode(x), ds.class_attributes), np.float64)
    rate, seed = sel["seen_rejection"], int(h["seed"])
    flips = scores[:, seen].max(1) - scores[:, unseen].max(1)

    def test_h(g, scores=scores):
        return ev.gzsl_accuracy(scores[ts], ds.labels[ts], scores[tu], ds.labels[tu], seen, unseen, g)

    _, cal = hold_out_per_class(ds.splits["trainval"], ds.labels, seed + 7, fraction=fraction)
    fold_gamma = float(np.mean(sel.get("fold_gamma") or [np.nan]))
    cal_share = float(np.mean(flips[cal] < fold_gamma))
    boot_g = [gamma_at_rate(rng.choice(flips[cal], len(cal)), rate) for _ in range(200)]
    boot_h = [test_h(g).h for g in boot_g]
    grid = np.linspace(-6, 6, 1201)
    best = max(test_h(g).h for g in grid)
    at = test_h(h["gamma"])
    ideal = test_h(gamma_at_rate(flips[ts], rate))
    fg = test_h(fold_gamma)
    print(
        f"{Path(path).name}: seed {seed} epoch {sel['best_epoch']} rate {rate} n_cal {len(cal)} gamma {h['gamma']:.3f} "
        f"fold-mean gamma {fold_gamma:.3f}\n"
        f"   VALIDATION: calibration images sent to unseen at the folds' gamma {cal_share:.2f} (target {rate}); "
        f"bootstrap gamma sd {np.std(boot_g):.3f}\n"
        f"   TEST: H {100 * at.h:.1f} (U {100 * at.u:.1f} S {100 * at.s:.1f}), test-seen share to unseen "
        f"{np.mean(flips[ts] < h['gamma']):.2f} | ideal-calibration H {100 * ideal.h:.1f} (U {100 * ideal.u:.1f}) "
        f"| folds-gamma H {100 * fg.h:.1f} (U {100 * fg.u:.1f} S {100 * fg.s:.1f}) | oracle {100 * best:.1f} | "
        f"AUSUC {100 * h['metrics']['ausuc']:.1f} | bootstrap-calibration H {100 * np.mean(boot_h):.1f} +- "
        f"{100 * np.std(boot_h):.1f}"
    )
