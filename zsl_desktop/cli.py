"""``zsl-desktop``: the GUI by default; subcommands for headless work.

zsl-desktop                      open the app on the built-in birds
zsl-desktop generate [--small] [--out DIR]
zsl-desktop info     --dataset builtin|PATH [--format F]
zsl-desktop extract  --dataset builtin|PATH [--backbone B] [--input-size S]
zsl-desktop train    --dataset builtin|PATH --method msdn [--epochs N] [--out FILE]
zsl-desktop eval     --checkpoint FILE [--dataset ...] [--gamma G]
zsl-desktop bench    [--quick] [--json FILE]
zsl-desktop predict  --model FILE --photos DIR_OR_FILES... [--classes LIBRARY.json] [--top-k K] [--backbone-weights FILE] --out CSV
zsl-desktop rank-study --dataset D --checkpoint FILE [--checkpoint FILE ...] [--k 20] [--refine [--noise-seeds 0,1,2]]

This module runs a command: the GUI without one, else the subcommand's short handler
(the long ones live beside it: cli_training, cli_predict, rank_study, refine_study).
Every subcommand's options are ``cli_parser.build_parser``.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

from zsl_desktop import cli_args
from zsl_desktop.cli_parser import build_parser
from zsl_desktop.cli_progress import ProgressBar


# The subcommands that run long work (training, extraction, rendering, a torchrun worker): a native crash in torch
# or a BLAS would end them without a word, so each such process writes faulthandler's stacks to the day's crash
# log (engine/crash_log.py), as the app does. Not `info`, which only reads a dataset's lists.
LONG_WORK = ("generate", "extract", "train", "eval", "bench", "rank-study", "predict")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        # No subcommand: the GUI, with its own options (--small, --dataset, --checkpoint, ...).
        from zsl_desktop.app.main import run_app

        return run_app(argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a bad argument (2, one line already printed)
        return exc.code if isinstance(exc.code, int) else 2
    if args.command is None:
        build_parser().print_help()
        return 2
    from zsl_desktop.engine.errors import ZslError
    from zsl_desktop.engine.logs import setup_logging

    setup_logging()
    if args.command in LONG_WORK:
        from zsl_desktop.engine.crash_log import enable_crash_log

        enable_crash_log(" ".join(["zsl-desktop", *argv]))

    for stream in (sys.stdout, sys.stderr):  # a file name that is not UTF-8 must not crash a print
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError, OSError):
            pass
    if args.command in ("extract", "train", "eval", "rank-study", "predict"):
        from zsl_desktop.engine.threads import configure

        configure(args.threads)
    if int(os.environ.get("RANK", "0")) > 0:  # torchrun: rank 0 speaks for the job
        sys.stdout = open(os.devnull, "w")
        ProgressBar.enabled = False
    try:
        return COMMANDS[args.command](args)
    # ZslError: every error the engine raises on purpose; the built-in kinds: a bad value, an unknown name,
    # a file or disk problem, memory. One line each (--debug shows the traceback); anything else is a bug,
    # whose traceback also goes to the log file.
    except (ZslError, ValueError, KeyError, OSError, MemoryError) as exc:
        if args.debug:
            raise
        text = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {text}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception:
        logging.getLogger(__name__).exception("%s: unexpected error", args.command)
        raise
    finally:
        from zsl_desktop.engine.distributed import shutdown

        shutdown()


def _load(args, progress_label="generating built-in birds"):
    from zsl_desktop.engine.data import load_dataset

    options = {}
    if getattr(args, "split_file", None):
        options["split_file"] = args.split_file
    if args.dataset in ("builtin", "builtin-small"):
        bar = ProgressBar(progress_label)
        dataset = load_dataset(args.dataset, progress=bar.update)
        bar.close()
        return dataset
    return load_dataset(Path(args.dataset), args.format, **options)


def cmd_generate(args) -> int:
    from zsl_desktop.engine.data.builtin_birds import generate
    from zsl_desktop.engine.paths import builtin_dataset_dir

    out = Path(args.out) if args.out else builtin_dataset_dir(args.small)
    bar = ProgressBar("rendering birds")
    start = time.perf_counter()
    generate(out, small=args.small, seed=args.seed, progress=bar.update)
    bar.close()
    print(f"wrote {out} in {time.perf_counter() - start:.1f}s")
    return 0


def cmd_info(args) -> int:
    dataset = _load(args)
    print(dataset.summary())
    if args.all:
        kinds = {int(c): "unseen" for c in dataset.unseen_classes}
        print("classes:")
        for i, name in enumerate(dataset.classes):
            print(f"  {i:4d} {kinds.get(i, 'seen'):6s} {name}")
        print("attributes:")
        for group, idx in dataset.attribute_groups().items():
            print(f"  {group}: " + ", ".join(dataset.attributes[i].value for i in idx))
    else:
        print("  groups: " + ", ".join(dataset.attribute_groups()))
    return 0


def cmd_extract(args) -> int:
    from zsl_desktop.engine.features import extract_all

    cli_args.use_backbone_weights(args.backbone, args.backbone_weights)
    dataset = _load(args)
    bar = ProgressBar("extracting features")
    start = time.perf_counter()
    messages = []

    def progress(event):
        if event.message:
            messages.append(event.message)
        bar.update(event.done, event.total, event.message or f"{event.images_per_second:.1f} img/s")

    for mirrored in (False, True) if args.flips != "none" else (False,):
        if mirrored:
            bar, start = ProgressBar("extracting mirrored images"), time.perf_counter()
            messages.clear()
        store = extract_all(
            dataset,
            progress=progress,
            backbone=args.backbone,
            input_size=args.input_size,
            device=args.device,
            mirrored=mirrored,
        )
        bar.close()
        reused = " (reused: features already extracted)" if "features already extracted" in messages else ""
        label = "mirrored feature store" if mirrored else "feature store"
        print(f"{label}: {store.folder}{reused} ({time.perf_counter() - start:.1f}s)")
        if store.failed and not mirrored:
            print(f"warning: {len(store.failed)} images could not be read:", file=sys.stderr)
            for path, why in list(store.failed.items())[:10]:
                print(f"  {path}: {why}", file=sys.stderr)
    return 0


def cmd_train(args) -> int:
    from zsl_desktop.cli_training import run_train
    from zsl_desktop.engine.methods.hparams import check_hparams, describe_hparams

    if any(name == "help" for name, _ in args.set):
        print(describe_hparams(args.method))
        return 0
    if args.dataset is None:  # optional in the parser only so that --set help needs no dataset
        print("zsl-desktop train: error: the following arguments are required: --dataset", file=sys.stderr)
        return 2
    try:  # before the dataset is loaded or any folder made
        args.hparams = check_hparams(args.method, dict(args.set))
    except ValueError as exc:
        if args.debug:
            raise
        print(f"zsl-desktop train: error: argument --set: {exc}", file=sys.stderr)
        return 2
    cli_args.use_backbone_weights(args.backbone, args.backbone_weights)
    return run_train(args, _load)


def cmd_eval(args) -> int:
    from zsl_desktop.cli_training import run_eval

    return run_eval(args, _load)


def cmd_bench(args) -> int:
    from zsl_desktop.bench.runner import main as bench_main

    return bench_main(args)


def cmd_predict(args) -> int:
    from zsl_desktop.cli_predict import run

    return run(args, _load, ProgressBar)


def cmd_rank_study(args) -> int:
    if args.refine:
        from zsl_desktop.cli_training import parse_seeds
        from zsl_desktop.refine_study import run as run_refine

        args.seeds = parse_seeds(args.noise_seeds)
        return run_refine(args, _load)
    from zsl_desktop.rank_study import run

    return run(args, _load)


COMMANDS = {
    "generate": cmd_generate,
    "info": cmd_info,
    "extract": cmd_extract,
    "train": cmd_train,
    "eval": cmd_eval,
    "bench": cmd_bench,
    "rank-study": cmd_rank_study,
    "predict": cmd_predict,
}

if __name__ == "__main__":
    sys.exit(main())
