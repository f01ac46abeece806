"""Write the feature store's pooled Lite0 features of a dataset as xlsa17 files (res101.mat, att_splits.mat).

For running the official GSMFlow / CE-GZSL code on exactly the features our methods see
(ANCHORS.md). Usage:
    PYTHONPATH=$PWD python docs/official/gsmflow/export_xlsa17.py DATASET_DIR OUT_DIR
``att`` holds each class's attributes clipped at 0 and L2-normalised (xlsa17 convention),
``original_att`` the raw values; locs and labels are 1-based, as MATLAB wrote them.
train_loc / val_loc are written only because the loader reads them (it uses them only with --validation).
"""
import sys
from pathlib import Path

import numpy as np
import scipy.io as sio

from zsl_desktop.engine.data import load_dataset
from zsl_desktop.engine.session import Session


def main(dataset_dir: str, out_dir: str) -> None:
    ds = load_dataset(Path(dataset_dir))
    session = Session(ds, device="cpu")
    for _ in session.prepare_features() or []:
        pass
    rows = np.arange(ds.num_samples)
    pooled = np.asarray(session.features.rows("pooled", rows, "cpu").numpy(), dtype=np.float64)
    raw = np.asarray(ds.class_attributes, dtype=np.float64)
    att = np.clip(raw, 0, None)
    att = att / np.maximum(np.linalg.norm(att, axis=1, keepdims=True), 1e-12)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sio.savemat(out / "res101.mat", {"features": pooled.T, "labels": (ds.labels + 1).reshape(-1, 1).astype(np.int64)})
    loc = {k: (np.asarray(v) + 1).reshape(-1, 1).astype(np.int64) for k, v in ds.splits.items()}
    sio.savemat(out / "att_splits.mat", {
        "att": att.T, "original_att": raw.T,
        "trainval_loc": loc["trainval"], "test_seen_loc": loc["test_seen"], "test_unseen_loc": loc["test_unseen"],
        "train_loc": loc["trainval"], "val_loc": loc["test_unseen"],
        "allclasses_names": np.array(list(ds.classes), dtype=object).reshape(-1, 1)})
    print(f"{pooled.shape} features, {len(ds.classes)} classes -> {out}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
