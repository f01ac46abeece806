"""The ``train`` and ``eval`` subcommands (kept apart from cli.py, which stays light to import)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from zsl_desktop.cli_progress import ProgressBar
from zsl_desktop.engine.atomic import atomic_write_text


def _session(args, load, backbone=None, input_size=None, checkpoint=None, flips="none"):
    from zsl_desktop.engine.session import Session

    dataset = load(args)
    if checkpoint is not None:  # refuse a foreign or damaged checkpoint before extracting any features
        from zsl_desktop.engine.checkpoints import check_compatible
        from zsl_desktop.engine.training import method_from_checkpoint

        check_compatible(checkpoint, dataset)
        method_from_checkpoint(checkpoint)
    session = Session(
        dataset, backbone or "efficientnet_lite0", input_size or 224, getattr(args, "device", None), flips=flips
    )
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


FIGURES = (("zsl_t1", "ZSL T1"), ("u", "U"), ("s", "S"), ("h", "H"), ("ausuc", "AUSUC"))


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` -> [0, 1, 2]; a clear ValueError for anything else (the CLI prints it)."""
    from argparse import ArgumentTypeError

    from zsl_desktop.cli_args import seed

    try:  # each seed through the same check as --seed
        seeds = [seed(part.strip()) for part in text.split(",") if part.strip()]
    except ArgumentTypeError as exc:
        raise ValueError(f"--seeds takes seeds separated by commas, e.g. 0,1,2 ({exc} in {text!r})") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds needs one or more different seeds (got {text!r})")
    return seeds


def seed_path(out: Path, seed: int) -> Path:
    """One checkpoint per seed: ``cub.pt`` -> ``cub-seed1.pt``."""
    return out.with_name(f"{out.stem}-seed{seed}{out.suffix}")


def summarise_seeds(rows: list[dict]) -> dict:
    """Per figure, the mean and the sample standard deviation over the seeds (sd 0 for one seed)."""
    summary = {}
    for key, _ in FIGURES:
        values = np.array([row[key] for row in rows], dtype=np.float64)
        summary[key] = {"mean": float(values.mean()), "sd": float(values.std(ddof=1)) if len(values) > 1 else 0.0}
    return summary


def format_seed_table(seeds: list[int], rows: list[dict], summary: dict) -> str:
    """The per-seed figures (%) and their mean ± sd, as a Markdown table (pasteable into the README)."""
    head = "| seed | " + " | ".join(label for _, label in FIGURES) + " |"
    lines = [head, "|" + "---|" * (len(FIGURES) + 1)]
    for seed, row in zip(seeds, rows):
        lines.append(f"| {seed} | " + " | ".join(f"{100 * row[key]:.1f}" for key, _ in FIGURES) + " |")
    lines.append(
        "| mean ± sd | "
        + " | ".join(f"{100 * summary[key]['mean']:.1f} ± {100 * summary[key]['sd']:.1f}" for key, _ in FIGURES)
        + " |"
    )
    return "\n".join(lines)


def run_train(args, load) -> int:
    from zsl_desktop.engine.backbones import spec_for
    from zsl_desktop.engine.paths import data_dir
    from zsl_desktop.engine.training import default_checkpoint_path
    from zsl_desktop.engine.resume import check_resume_file, resume_path
    from zsl_desktop.engine.userfiles import check_writable

    seeds = parse_seeds(args.seeds) if getattr(args, "seeds", None) else None
    input_size = args.input_size or spec_for(args.backbone).default_input_size
    if args.out:  # an unusable output is refused before any feature is extracted or epoch trained
        check_writable(args.out, "checkpoint (--out)")
    dataset = load(args)
    out = Path(args.out) if args.out else default_checkpoint_path(dataset, args.method, data_dir() / "checkpoints")
    runs = [(seed, seed_path(out, seed)) for seed in seeds] if seeds else [(args.seed, out)]
    for seed, path in runs:
        check_writable(path, "checkpoint")
        check_writable(resume_path(path), "resume file")
        # a resume file of other settings: refused now, naming them
        check_resume_file(path, dataset, train_config(args, seed, input_size))
    session = _session(args, lambda _: dataset, args.backbone, input_size, flips=args.flips)
    if not seeds:
        finished = _train_one(args, session, input_size, args.seed, out)
        return 0 if finished is not None else 1
    rows = []
    for seed, path in runs:
        finished = _train_one(args, session, input_size, seed, path)
        if finished is None:
            return 1
        rows.append(finished.report.as_dict())
    summary = summarise_seeds(rows)
    table = format_seed_table(seeds, rows, summary)
    print(
        f"\n{args.method} on {session.dataset.name}, selection on {args.select}, seeds {args.seeds} "
        f"(mean ± sample sd, %):\n{table}"
    )
    record = {
        "method": args.method,
        "dataset": session.dataset.name,
        "select": args.select,
        "hparams": args.hparams,
        "seeds": seeds,
        "per_seed": rows,
        "summary": summary,
        "checkpoints": [str(path) for _, path in runs],
    }
    summary_path = out.with_name(f"{out.stem}-seeds.json")
    if _is_main_rank():  # under torchrun, rank 0 alone writes files
        atomic_write_text(summary_path, json.dumps(record, indent=1))
    print(f"figures written to {summary_path}")
    return 0


def _is_main_rank() -> bool:
    """Rank 0 of a torchrun job, or a process on its own: the one that writes the figures."""
    from zsl_desktop.engine.distributed import context

    return context().is_main


def train_config(args, seed: int, input_size: int):
    """The TrainConfig of one run of ``train`` (one seed)."""
    from zsl_desktop.engine.training import SELECTION_FOLDS, TrainConfig

    return TrainConfig(
        method=args.method,
        epochs=args.epochs,
        hparams=args.hparams,
        seed=seed,
        device=args.device,
        select=args.select,
        backbone=args.backbone,
        input_size=input_size,
        flips=args.flips,
        folds=args.folds or SELECTION_FOLDS,
    )


def _train_one(args, session, input_size, seed, out):
    """One training run with its progress bar; the ``Finished`` event, or None when cancelled."""
    from zsl_desktop.engine.methods.base import Message, Step
    from zsl_desktop.engine.training import Finished, Phase, Validation

    config = train_config(args, seed, input_size)
    print(
        f"training {args.method} on {session.dataset.name} ({session.device}), selection on {args.select}, seed {seed}"
    )
    start = time.perf_counter()
    bar, finished = None, None
    # The session's checkpoint policy, the app's too. Rerunning the same command after a kill continues
    # from the resume file beside ``out`` (other settings are refused, naming them); --resume is kept for old scripts.
    for event in session.train(config, save_to=out, resume=True):
        if isinstance(event, Phase):
            if bar:
                bar.close()
            print(f"phase {event.name}: {event.description}")
            bar = ProgressBar(event.name)
        elif isinstance(event, Step):
            bar.update(event.step, event.total, f"loss {event.losses.get('total', 0):.4f}")
        elif isinstance(event, Validation) and bar.enabled:  # not on the other ranks of a torchrun job
            m = event.metrics
            bar.stream.write(
                f"\n  epoch {event.epoch}: {event.split} H {100 * m['h']:.1f} "
                f"(U {100 * m['u']:.1f} S {100 * m['s']:.1f}) ZSL {100 * m['zsl_t1']:.1f} "
                f"best epoch {event.best_epoch}\n"
            )
        elif isinstance(event, Message):
            print(event.text)
        elif isinstance(event, Finished):
            finished = event
    if bar:
        bar.close()
    if finished is None or finished.cancelled or finished.report is None:
        print("training cancelled", file=sys.stderr)
        return None
    print(f"done in {time.perf_counter() - start:.1f}s; checkpoint {finished.checkpoint}")
    print(f"test: {finished.report.format()}")
    return finished


def run_eval(args, load) -> int:
    from zsl_desktop.engine.checkpoints import load_checkpoint

    if args.json:  # refused before the evaluation runs, not after
        from zsl_desktop.engine.userfiles import check_writable

        check_writable(args.json, "--json output")
    checkpoint = load_checkpoint(args.checkpoint)
    h = checkpoint.header
    if args.backbone_weights:
        from zsl_desktop.cli_args import use_backbone_weights

        use_backbone_weights(h.get("backbone", ""), args.backbone_weights)
    from zsl_desktop.cli_args import dataset_for_model

    args.dataset = dataset_for_model(args.dataset, h, args.checkpoint)
    flips = h.get("flips") if h.get("flips") in ("tta", "both") else "none"  # scoring needs the mirrored store
    session = _session(args, load, h.get("backbone"), h.get("input_size"), checkpoint, flips)
    session.use_checkpoint(checkpoint)
    report = session.evaluate(args.gamma)
    print(
        f"{h['method']} on {session.dataset.name}: epochs {h.get('epochs')}, model selection on {h.get('select', '?')}"
    )
    print(report.format())
    figures = {"method": h["method"], "dataset": session.dataset.name, **report.as_dict()}
    method, dataset = session.model.method, session.dataset
    if args.localisation and method.has_attention and dataset.part_locations is not None and dataset.has_images:
        from zsl_desktop.engine.localisation import localisation_score

        test = np.concatenate([dataset.splits["test_seen"], dataset.splits["test_unseen"]])
        score = localisation_score(method, dataset, session.features, test, session.input_size)
        print(score.format())
        figures.update(
            localisation=score.hits,
            localisation_uniform=score.uniform,
            localisation_centre=score.centre,
            localisation_pairs=score.pairs,
        )
    if args.json and _is_main_rank():
        atomic_write_text(args.json, json.dumps(figures, indent=1))
    return 0
