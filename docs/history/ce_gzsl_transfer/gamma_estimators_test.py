"""TEST-side diagnosis (session 12, ipce12; after the validation screen, nothing is chosen on it): finished runs'
final models (the checkpoint's own averaged scoring, engine.scoring.encode_rows), gamma re-read on the same 74
calibration images at the run's rate by each estimator of gamma_estimators.py, and the test figures. "order"
must repeat the checkpoint's own H for a run with one shared split; for a run with ``calibration_splits`` "each"
it is the shared split's read-out of the same models, and "each (the run)" must repeat the header. Beside them: BOOT bootstrap draws of the 74 calibration images (test H's
mean and sd: how much the read-out alone moves a run), gamma at the run's rate on the test seen images
themselves (no read-out noise), and the test's own best gamma (no transfer can do better).
usage: gamma_estimators_test.py CKPT ..."""

import sys
from pathlib import Path

import numpy as np
import torch

from gamma_estimators import ESTIMATORS  # noqa: E402  (beside this script)
from zsl_desktop.engine import evaluation as ev
from zsl_desktop.engine.checkpoints import load_checkpoint
from zsl_desktop.engine.data import load_dataset
from zsl_desktop.engine.scoring import encode_rows
from zsl_desktop.engine.selection import gamma_at_rate, hold_out_per_class
from zsl_desktop.engine.session import Session
from zsl_desktop.engine.training import method_from_checkpoint
from zsl_desktop.engine.training.calibration_splits import model_calibration_splits

BOOT = 200
torch.set_num_threads(1)
ds = load_dataset(Path("/work/shared/zsl_data/CUB_200_2011"))
session = Session(ds, device="cpu")
for _ in session.prepare_features() or []:
    pass
seen, unseen = np.asarray(ds.seen_classes), np.asarray(ds.unseen_classes)
ts, tu = ds.splits["test_seen"], ds.splits["test_unseen"]


def flips_of(s):
    return s[:, seen].max(1) - s[:, unseen].max(1)


for path in sys.argv[1:]:
    ck = load_checkpoint(path)
    model = method_from_checkpoint(ck)
    fraction = float(ck.header["hparams"].get("calibration") or 0.1)
    _, cal = hold_out_per_class(ds.splits["trainval"], ds.labels, int(ck.header["seed"]) + 7, fraction=fraction)
    rate = float(ck.header["selection"]["seen_rejection"])
    with torch.no_grad():
        s_cal, s_ts, s_tu = (
            np.asarray(model.score(encode_rows(model, session.features, i, "cpu"), ds.class_attributes), np.float64)
            for i in (cal, ts, tu)
        )
    f_cal = flips_of(s_cal)

    def test_at(gamma, s_ts=s_ts, s_tu=s_tu):
        r = ev.evaluate(s_ts, ds.labels[ts], s_tu, ds.labels[tu], seen, unseen, gamma, "validation").as_dict()
        return [100 * r[q] for q in ("zsl_t1", "u", "s", "h", "ausuc")]

    name = Path(path).name
    print(f"{name}: {len(cal)} calibration images, rate {rate:.2f}; header H {100 * ck.header['metrics']['h']:.1f}")
    rng = np.random.default_rng(int(ck.header["seed"]))
    draws = [rng.choice(len(cal), len(cal), replace=True) for _ in range(BOOT)]
    for est_name, est in ESTIMATORS.items():
        g = est(f_cal, rate)
        boot = np.array([test_at(est(f_cal[d], rate))[3] for d in draws])
        zsl, u, s, h, auc = test_at(g)
        print(
            f"  {est_name:16s} gamma {g:+.3f}: ZSL {zsl:.1f} U {u:.1f} S {s:.1f} H {h:.1f} AUSUC {auc:.1f} | "
            f"{BOOT} bootstrap calibration sets: H {boot.mean():.1f} sd {boot.std(ddof=1):.1f}"
        )
    if ck.header["selection"].get("calibration_splits") == "each":  # the run's own read-out, and its bootstrap
        parts = model_calibration_splits(
            ds.splits["trainval"], ds.labels, int(ck.header["seed"]) + 7, fraction, len(model.single_models())
        )
        with torch.no_grad():
            own = [
                flips_of(
                    np.asarray(m.score(encode_rows(m, session.features, held, "cpu"), ds.class_attributes), np.float64)
                )
                for m, (_, held) in zip(model.single_models(), parts)
            ]
        g = float(np.mean([gamma_at_rate(f, rate) for f in own]))
        boot = np.array(
            [
                test_at(np.mean([gamma_at_rate(f[rng.choice(len(f), len(f))], rate) for f in own]))[3]
                for _ in range(BOOT)
            ]
        )
        zsl, u, s, h, auc = test_at(g)
        print(
            f"  {'each (the run)':16s} gamma {g:+.3f}: ZSL {zsl:.1f} U {u:.1f} S {s:.1f} H {h:.1f} AUSUC {auc:.1f} | "
            f"{BOOT} bootstrap calibration sets (each model's own): H {boot.mean():.1f} sd {boot.std(ddof=1):.1f}"
        )
    g = gamma_at_rate(flips_of(s_ts), rate)
    print(
        f"  {'rate on test seen':16s} gamma {g:+.3f}: "
        + " ".join(f"{q} {v:.1f}" for q, v in zip(("ZSL", "U", "S", "H", "AUSUC"), test_at(g)))
    )
    best = ev.seen_unseen_curve(s_ts, ds.labels[ts], s_tu, ds.labels[tu], seen, unseen).best()
    print(
        f"  {'test best gamma':16s} gamma {best.gamma:+.3f}: U {100 * best.u:.1f} S {100 * best.s:.1f} H {100 * best.h:.1f}",
        flush=True,
    )
