"""The ``train`` and ``eval`` subcommands (kept apart from cli.py, which stays light to import)."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from zsl_desktop.engine.atomic import atomic_write_text


def _session(args, load, backbone=None, input_size=None, checkpoint=None):
    from zsl_desktop.cli import ProgressBar
    from zsl_desktop.engine.session import Session

    dataset = load(args)
    if checkpoint is not None:  # refuse a foreign or damaged checkpoint before extracting any features
        from zsl_desktop.engine.checkpoints import check_compatible
        from zsl_desktop.engine.training import method_from_checkpoint

        check_compatible(checkpoint, dataset)
        method_from_checkpoint(checkpoint)
    session = Session(dataset, backbone or "efficientnet_lite0", input_size or 224, getattr(args, "device", None))
    if dataset.has_images:
        bar = ProgressBar("features")
        gen = session.prepare_features()
        while True:
            try:
                e = next(gen)
            except StopIteration:
                break
            bar.update(e.done, e.total, e.message or f"{e.images_per_second:.1f} img/s")
        bar.close()
    return session


def run_train(args, load) -> int:
    from zsl_desktop.cli import ProgressBar
    from zsl_desktop.engine.methods.base import Message, Step
    from zsl_desktop.engine.paths import data_dir
    from zsl_desktop.engine.backbones import BACKBONES
    from zsl_desktop.engine.training import (
        Finished, Phase, TrainConfig, Validation, check_resume_file, default_checkpoint_path, resume_path, train,
    )
    from zsl_desktop.engine.userfiles import check_writable

    input_size = args.input_size or BACKBONES[args.backbone].default_input_size
    if args.out:  # an unusable output is refused before any feature is extracted or epoch trained
        check_writable(args.out, "checkpoint (--out)")
    dataset = load(args)
    out = Path(args.out) if args.out else default_checkpoint_path(dataset, args.method, data_dir() / "checkpoints")
    check_writable(out, "checkpoint")
    check_writable(resume_path(out), "resume file")
    config = TrainConfig(method=args.method, epochs=args.epochs, hparams=args.hparams, seed=args.seed,
                         device=args.device, select=args.select, backbone=args.backbone, input_size=input_size)
    check_resume_file(out, dataset, config)  # a resume file of other settings: refused now, naming them
    session = _session(args, lambda _: dataset, args.backbone, input_size)
    print(f"training {args.method} on {session.dataset.name} ({session.device}), selection on {args.select}")
    start = time.perf_counter()
    bar, finished = None, None
    # Rerunning the same command after a kill continues from the resume file beside ``out``
    # (other settings are refused, naming them); --resume is kept for old scripts.
    for event in train(session.dataset, session.features, config, checkpoint_path=out, resume=True):
        if isinstance(event, Phase):
            if bar:
                bar.close()
            print(f"phase {event.name}: {event.description}")
            bar = ProgressBar(event.name)
        elif isinstance(event, Step):
            bar.update(event.step, event.total, f"loss {event.losses.get('total', 0):.4f}")
        elif isinstance(event, Validation):
            m = event.metrics
            bar.stream.write(f"\n  epoch {event.epoch}: {event.split} H {100 * m['h']:.1f} "
                             f"(U {100 * m['u']:.1f} S {100 * m['s']:.1f}) ZSL {100 * m['zsl_t1']:.1f} "
                             f"best epoch {event.best_epoch}\n")
        elif isinstance(event, Message):
            print(event.text)
        elif isinstance(event, Finished):
            finished = event
    if bar:
        bar.close()
    if finished is None or finished.cancelled or finished.report is None:
        print("training cancelled", file=sys.stderr)
        return 1
    print(f"done in {time.perf_counter() - start:.1f}s; checkpoint {finished.checkpoint}")
    print(f"test: {finished.report.format()}")
    return 0


def run_eval(args, load) -> int:
    from zsl_desktop.engine.checkpoints import load_checkpoint

    if args.json:  # refused before the evaluation runs, not after
        from zsl_desktop.engine.userfiles import check_writable

        check_writable(args.json, "--json output")
    checkpoint = load_checkpoint(args.checkpoint)
    h = checkpoint.header
    if args.dataset is None:
        args.dataset = h["dataset"] if h["dataset"] in ("builtin", "builtin-small") else None
        if args.dataset is None:
            raise ValueError(f"{args.checkpoint} was trained on {h['dataset']!r}: pass --dataset PATH")
    session = _session(args, load, h.get("backbone"), h.get("input_size"), checkpoint)
    session.use_checkpoint(checkpoint)
    report = session.evaluate(args.gamma)
    print(f"{h['method']} on {session.dataset.name}: epochs {h.get('epochs')}, "
          f"model selection on {h.get('select', '?')}")
    print(report.format())
    figures = {"method": h["method"], "dataset": session.dataset.name, **report.as_dict()}
    method, dataset = session.model.method, session.dataset
    if args.localisation and method.has_attention and dataset.part_locations is not None and dataset.has_images:
        from zsl_desktop.engine.localisation import localisation_score

        test = np.concatenate([dataset.splits["test_seen"], dataset.splits["test_unseen"]])
        score = localisation_score(method, dataset, session.features, test, session.input_size)
        print(score.format())
        figures.update(localisation=score.hits, localisation_uniform=score.uniform,
                       localisation_centre=score.centre, localisation_pairs=score.pairs)
    if args.json:
        atomic_write_text(args.json, json.dumps(figures, indent=1))
    return 0
