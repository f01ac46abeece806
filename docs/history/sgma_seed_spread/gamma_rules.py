"""A finished SGMA run's test figures with gamma aimed the other way ("best" / "expected", SGMA's calibration_rate).

The aim changes only gamma: the fold models, the epoch, the final models and the calibration images are the same,
so this is what the trainer gives with the other ``calibration_rate`` (checked against a real run, seed 3). The
aimed rate is computed as the trainer computes it (engine.training.validation_selection: the fold rows at the
chosen epoch; engine.readout for "expected"), gamma is read off the run's calibration images, then the test split.
usage: PYTHONPATH=. python docs/history/sgma_seed_spread/gamma_rules.py DATASET CKPT...   (DATASET: a folder or builtin)
"""

import sys
from pathlib import Path

import torch

from zsl_desktop.engine.checkpoints import load_checkpoint
from zsl_desktop.engine.data import load_builtin, load_dataset
from zsl_desktop.engine.readout import rate_for_readout
from zsl_desktop.engine.scoring import evaluate_on, gamma_for_rejection_rate
from zsl_desktop.engine.selection import hold_out_per_class
from zsl_desktop.engine.session import Session
from zsl_desktop.engine.training import CALIBRATION_FRACTION, method_from_checkpoint

torch.set_num_threads(1)
ds = load_builtin() if sys.argv[1] == "builtin" else load_dataset(Path(sys.argv[1]))
session = Session(ds, device="cpu")
for _ in session.prepare_features() or []:
    pass
feats = session.features
for path in sys.argv[2:]:
    checkpoint = load_checkpoint(path)
    header, selection = checkpoint.header, checkpoint.header["selection"]
    method = method_from_checkpoint(checkpoint)
    _, calibration = hold_out_per_class(ds.splits["trainval"], ds.labels, header["seed"] + 7, CALIBRATION_FRACTION)
    assert len(calibration) == selection["calibration_images"]
    fold_h = [row["h"] for row in selection["fold_rows"]]
    rates = {"best": selection["fold_mean_rate"], "expected": rate_for_readout(fold_h, len(calibration))}
    for aim, rate in rates.items():
        gamma = gamma_for_rejection_rate(method, ds, feats, calibration, ds.seen_classes, ds.unseen_classes, rate)
        m = evaluate_on(
            method,
            ds,
            feats,
            ds.splits["test_seen"],
            ds.splits["test_unseen"],
            ds.seen_classes,
            ds.unseen_classes,
            gamma,
        ).as_dict()
        figures = " ".join(f"{k} {100 * float(m[k]):.1f}" for k in ("zsl_t1", "u", "s", "h", "ausuc"))
        print(
            f"{Path(path).name} seed {header['seed']} {aim:8s} rate {rate:.2f} gamma {gamma:.3f} {figures}", flush=True
        )
    stored = {
        k: round(100 * float(v), 1) for k, v in header["metrics"].items() if k in ("zsl_t1", "u", "s", "h", "ausuc")
    }
    print(
        f"{Path(path).name} header ({header['hparams'].get('calibration_rate', 'best')}, rate {selection['seen_rejection']}): {stored}",
        flush=True,
    )
