"""``zsl-desktop predict``: a model's predictions for folders of photos, into a resumable CSV.

    zsl-desktop predict --model CKPT --photos DIR_OR_FILES... [--dataset D] [--classes LIBRARY.json]
                        [--top-k K] [--backbone-weights FILE] --out predictions.csv

The class definitions come from the model's dataset (``--dataset``; the built-in birds
are found on their own), plus the user's classes from a library or export file. A model on a timm
backbone needs the weights file it was trained with (``--backbone-weights``, as for ``eval``).
"""

from __future__ import annotations

import sys
import time

import numpy as np


def load_classes(dataset, library_path=None):
    """The dataset's classes, then the classes of ``library_path`` (read through the engine's JSON gate)."""
    from zsl_desktop.engine.classes import LibraryError, read_export, value_range
    from zsl_desktop.engine.predict import ClassSet
    from zsl_desktop.engine.user_class import has_attribute_information

    unseen = {int(c) for c in dataset.unseen_classes}
    names = list(dataset.classes)
    kinds = ["unseen" if i in unseen else "seen" for i in range(dataset.num_classes)]
    matrix = np.asarray(dataset.class_attributes, np.float32)
    if library_path:
        try:
            user = read_export(library_path, [a.name for a in dataset.attributes], value_range(matrix))
        except LibraryError as exc:
            raise ValueError(str(exc)) from None
        informative = [has_attribute_information(c.array()) for c in user]  # as in the app's class sets
        if not all(informative):  # such a row would get a made-up column (session/class_set.py)
            blank = ", ".join(c.name for c, keep in zip(user, informative) if not keep)
            print(f"{library_path}: left out, every attribute the same: {blank}", file=sys.stderr)
            user = [c for c, keep in zip(user, informative) if keep]
        taken = {n.casefold() for n in names}
        clash = [c.name for c in user if c.name.casefold() in taken]
        if clash:
            raise ValueError(f"{library_path}: class {clash[0]!r} has the name of one of the model's classes")
        names += [c.name for c in user]
        kinds += ["user"] * len(user)
        if user:
            matrix = np.concatenate([matrix, np.stack([c.array() for c in user])])
    return ClassSet(tuple(names), tuple(kinds), matrix)


class OutOfDomainColumn:
    """The ``out_of_domain`` column: each photo's k-NN cosine distance to the model's training features."""

    def __init__(self, reference):
        self.reference = reference

    def __call__(self, grid, pooled, codes, logits):
        return self.reference.score(pooled.float().cpu().numpy())


def domain_reference(checkpoint, dataset, backbone: str, input_size: int):
    """The model's out-of-domain reference: stored in the checkpoint (the real-bird model), else made from
    its dataset's already extracted trainval features as the app makes it; None when they are not extracted."""
    from zsl_desktop.engine import out_of_domain as ood
    from zsl_desktop.engine.session import Session

    stored = ood.DomainReference.from_checkpoint(checkpoint.header, checkpoint.state)
    if stored is not None:
        return stored
    session = Session(dataset, backbone, input_size)
    if not session.find_features():
        return None
    try:
        return ood.reference_for_dataset(dataset, session.features, int(checkpoint.header.get("seed", 0) or 0))
    except ValueError:  # no pooled features or no training rows: an empty column rather than a wrong one
        return None


def run(args, load, progress_bar) -> int:
    """``load(args)`` loads the dataset; ``progress_bar(label)`` makes the CLI's progress bar."""
    from zsl_desktop.engine.backbones import load_backbone, spec_for
    from zsl_desktop.engine.checkpoints import check_compatible, load_checkpoint
    from zsl_desktop.engine.predict import (
        BATCH,
        PhotoPredictor,
        PredictionsCsv,
        cell,
        columns,
    )
    from zsl_desktop.engine.photo_files import find_photos
    from zsl_desktop.engine.training import method_from_checkpoint, pick_device
    from zsl_desktop.engine.userfiles import check_writable

    check_writable(args.out, "--out")
    checkpoint = load_checkpoint(args.model)
    h = checkpoint.header
    if args.backbone_weights:  # the model's own backbone, as eval does: a timm model needs the file it was trained with
        from zsl_desktop.cli_args import use_backbone_weights

        use_backbone_weights(h.get("backbone", ""), args.backbone_weights)
    from zsl_desktop.cli_args import dataset_for_model

    why = " (its classes are the ones the photos are scored against)"
    args.dataset = dataset_for_model(args.dataset, h, args.model, why)
    dataset = load(args)
    check_compatible(checkpoint, dataset)
    classes = load_classes(dataset, args.classes)
    photos, skipped = find_photos(args.photos)
    for path, why in skipped:
        print(f"skipped {path}: {why}", file=sys.stderr)
    if not photos:
        raise ValueError("no image files among --photos")
    device = pick_device(getattr(args, "device", None))
    method = method_from_checkpoint(checkpoint).to(device)
    backbone_name = h.get("backbone", "efficientnet_lite0")
    spec = spec_for(backbone_name)
    input_size = int(h.get("input_size", spec.default_input_size))
    reference = domain_reference(checkpoint, dataset, backbone_name, input_size)
    if reference is None:
        print(
            f"out_of_domain left empty: {dataset.name}'s features at {input_size} px are not extracted "
            f"(zsl-desktop extract --dataset {args.dataset} --input-size {input_size} makes them)",
            file=sys.stderr,
        )
    predictor = PhotoPredictor(
        method,
        load_backbone(backbone_name, device=device),
        spec,
        input_size,
        classes,
        float(h.get("gamma", 0.0)),
        args.top_k,
        device,
        ood_score=None if reference is None else OutOfDomainColumn(reference),
        tta=h.get("flips") in ("tta", "both"),
    )
    out = PredictionsCsv(args.out, columns(classes, predictor.top_k)).open()
    if out.repaired:
        print(f"{args.out}: cut off a torn last line ({out.repaired} bytes) from an interrupted run", file=sys.stderr)
    todo = [p for p in photos if cell(p) not in out.done]
    if len(todo) < len(photos):
        print(f"resuming: {len(photos) - len(todo)} of {len(photos)} photos are already in {args.out}", file=sys.stderr)
    bar = progress_bar("predicting")
    start, errors = time.perf_counter(), 0
    for i in range(0, len(todo), BATCH):
        rows = predictor.rows(todo[i : i + BATCH])
        out.append(rows)
        errors += sum(1 for r in rows if r[1])
        done = min(i + BATCH, len(todo))
        bar.update(done, len(todo), f"{done / max(time.perf_counter() - start, 1e-9):.1f} photos/s")
    bar.close()
    print(
        f"{args.out}: {len(todo)} photos predicted in {time.perf_counter() - start:.1f}s "
        f"({errors} unreadable, listed with their error), {len(photos) - len(todo)} already there"
    )
    return 0
