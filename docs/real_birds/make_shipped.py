"""Make the shipped real-bird model (trained/ce-gzsl_cub.pt) and its 200 species (resources/cub_classes.csv).

    # 1. train CE-GZSL on the CUB subset, seed 0, one thread (validation selection):
    OMP_NUM_THREADS=1 zsl-desktop train --dataset ../shared/zsl_data/CUB_200_2011 --method ce-gzsl --seed 0 \
        --threads 1 --out cub_ce-seed0.pt
    # 2. refit its softmax over all 200 species, place gamma again, add the out-of-domain reference:
    OMP_NUM_THREADS=1 python docs/real_birds/make_shipped.py --shared ../shared/zsl_data --checkpoint cub_ce-seed0.pt \
        [--features ~/.local/share/zsl-desktop/features]

The species file copies CUB-200-2011's class names (``classes.txt``) and attribute percentages
(``attributes/class_attribute_labels_continuous.txt``, the numbers as written there) into the
class-CSV form (``engine/class_csv.py``), with the 312 attribute names of the shipped vocabulary.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

from zsl_desktop.engine.atomic import atomic_write_text
from zsl_desktop.engine.checkpoints import load_checkpoint, save_checkpoint
from zsl_desktop.engine.data import load_dataset
from zsl_desktop.engine.features import FeatureStore
from zsl_desktop.engine.real_birds import (
    build_real_bird_model,
    classes_path,
    cub_attribute_names,
    cub_classes,
    shipped_model_path,
)


def write_species_csv(shared: Path) -> Path:
    root = shared / "CUB_200_2011"
    names = [line.split(" ", 1)[1].strip() for line in (root / "classes.txt").read_text().splitlines() if line.strip()]
    values = [
        line.split()
        for line in (root / "attributes" / "class_attribute_labels_continuous.txt").read_text().splitlines()
        if line.strip()
    ]
    attributes = cub_attribute_names()
    assert len(names) == len(values) == 200 and all(len(v) == len(attributes) for v in values)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["class", *attributes, "note"])
    for name, row in zip(names, values):
        writer.writerow([name, *row, "CUB-200-2011 class attribute percentages"])
    atomic_write_text(classes_path(), buffer.getvalue())
    return classes_path()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", required=True, type=Path, help="../shared/zsl_data")
    parser.add_argument("--checkpoint", required=True, help="the seed-0 CE-GZSL model of the CUB subset")
    parser.add_argument("--features", default=None, help="feature-store root with the subset's Lite0 features")
    parser.add_argument("--out", default=None, help=f"default: {shipped_model_path()}")
    args = parser.parse_args(argv)

    print("species:", write_species_csv(args.shared))
    names, matrix = cub_classes()
    dataset = load_dataset(args.shared / "CUB_200_2011")
    checkpoint = load_checkpoint(args.checkpoint)
    if checkpoint.header["dataset_fingerprint"] != dataset.fingerprint:
        raise SystemExit(f"{args.checkpoint} was not trained on {dataset.name}")
    store = FeatureStore.open(
        dataset,
        checkpoint.header["backbone"],
        int(checkpoint.header["input_size"]),
        Path(args.features).expanduser() if args.features else None,
    )
    if store is None:
        raise SystemExit("extract the subset's features first (zsl-desktop extract --dataset ...)")
    method, header, state = build_real_bird_model(checkpoint, dataset, store.source(), names, matrix)
    out = save_checkpoint(args.out or shipped_model_path(), header, state)
    print("model:", out, f"{out.stat().st_size / 1e6:.1f} MB")
    print("training (50 classes):", json.dumps(header["real_birds"]["metrics_training"]))
    print("shipped, among the subset's 50 classes:", json.dumps(header["metrics"]))
    print("shipped, among all 200 species:", json.dumps(header["real_birds"]["metrics_all_species"]))
    print("out of domain:", json.dumps(header["out_of_domain"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
