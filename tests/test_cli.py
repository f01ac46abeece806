"""The command line: generate, info, extract (reusing its store), train, eval and clear errors."""

import json

import pytest

from zsl_desktop.cli import main


@pytest.fixture(scope="module")
def small_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "birds"
    assert main(["generate", "--small", "--out", str(out)]) == 0
    return out


def test_generate_and_info(small_dir, capsys):
    assert (small_dir / "images.txt").is_file() and (small_dir / ".complete").is_file()
    assert main(["info", "--dataset", str(small_dir), "--all"]) == 0
    out = capsys.readouterr().out
    assert "classes: 8 (6 seen / 2 unseen)" in out and "bill_shape:" in out


def test_info_on_the_real_cub_subset(shared_data, capsys):
    assert main(["info", "--dataset", str(shared_data / "CUB_200_2011")]) == 0
    out = capsys.readouterr().out
    assert "classes: 50 (40 seen / 10 unseen)" in out and "test_unseen: 200" in out


def test_extract_twice_reuses_the_store(small_dir, capsys):
    assert main(["extract", "--dataset", str(small_dir), "--input-size", "64"]) == 0
    first = capsys.readouterr()
    assert main(["extract", "--dataset", str(small_dir), "--input-size", "64"]) == 0
    second = capsys.readouterr()
    assert "feature store:" in first.out and "reused" not in first.out
    assert "reused: features already extracted" in second.out


def test_train_then_eval_prints_the_same_figures(small_dir, tmp_path, capsys):
    ck = tmp_path / "m.pt"
    args = ["--dataset", str(small_dir), "--input-size", "64"]
    assert main(["train", *args, "--epochs", "2", "--set", "batch_size=16", "--out", str(ck)]) == 0
    trained = capsys.readouterr().out.splitlines()
    test_line = next(line for line in trained if line.startswith("test: "))
    assert main(["eval", "--checkpoint", str(ck), "--dataset", str(small_dir), "--json", str(tmp_path / "f.json")]) == 0
    out = capsys.readouterr().out
    assert test_line.removeprefix("test: ") in out
    assert "chosen on validation" in out
    figures = json.loads((tmp_path / "f.json").read_text())
    assert 0.0 <= figures["zsl_t1"] <= 1.0 and "localisation" in figures


def test_errors_are_messages_not_tracebacks(tmp_path, capsys):
    assert main(["info", "--dataset", str(tmp_path / "nope")]) == 2
    assert "no such folder" in capsys.readouterr().err
    (tmp_path / "x.pt").write_bytes(b"garbage")
    assert main(["eval", "--checkpoint", str(tmp_path / "x.pt")]) == 2
    assert "x.pt" in capsys.readouterr().err
    assert main(["train", "--dataset", str(tmp_path), "--method", "nope"]) == 2


# -- help and argument checks (issue 14 item 7, issue 16 item 4) -----------------------------------------


def test_top_level_help_says_no_subcommand_opens_the_app(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "Without a subcommand, zsl-desktop opens the desktop app" in out
    assert "--photos" in out and "--checkpoint" in out  # the app's own options
    assert "Logs: <data folder>/logs" in out and "crash-<date>.log" in out  # where a native crash's stacks go


@pytest.mark.parametrize(
    "command, option, words",
    [
        ("train", "--method", "zero-shot method"),
        ("train", "--epochs", "training epochs"),
        ("train", "--seed", "random seed"),
        ("train", "--folds", "validation folds"),
        ("eval", "--checkpoint", ".pt file"),
        ("train", "--set", "--set help"),
        ("extract", "--device", "cuda"),
    ],
)
def test_every_option_has_help(command, option, words, capsys):
    assert main([command, "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert option in out and words in out


def test_method_choices_match_the_engine_registry():
    from zsl_desktop.cli_args import METHOD_NAMES
    from zsl_desktop.engine.methods import method_names

    assert sorted(METHOD_NAMES) == method_names()


def test_backbone_choices_match_the_engine_registry():
    from zsl_desktop.cli_args import BACKBONE_NAMES
    from zsl_desktop.engine.backbones import BACKBONES

    assert sorted(BACKBONE_NAMES) == sorted(BACKBONES)


def test_set_help_lists_a_methods_hyper_parameters_without_a_dataset(capsys):
    assert main(["train", "--method", "GSMFlow", "--set", "help"]) == 0
    out = capsys.readouterr().out
    assert "hyper-parameters of gsmflow" in out
    assert any(line.split()[:4] == ["mining_steps", "int", "default", "40"] for line in out.splitlines())


def test_folds_reaches_the_trainer_and_defaults_to_the_trainers():
    from zsl_desktop.cli_parser import build_parser
    from zsl_desktop.cli_training import train_config
    from zsl_desktop.engine.training import SELECTION_FOLDS

    def folds(*extra):
        args = build_parser().parse_args(["train", "--dataset", "builtin", "--method", "ipce", *extra])
        args.hparams = {}  # the CLI fills it from --set after parsing
        return train_config(args, seed=0, input_size=224).folds

    assert folds("--folds", "5") == 5
    assert folds() == SELECTION_FOLDS


def _home_is_empty() -> bool:
    import os
    from pathlib import Path

    return not any(Path(os.environ["ZSL_DESKTOP_HOME"]).iterdir())


BAD_ARGUMENTS = [  # (arguments after the dataset, what the one-line message must name)
    (["train", "--epochs", "-1"], "--epochs"),
    (["train", "--epochs", "0"], "--epochs"),
    (["train", "--epochs", "two"], "--epochs"),
    (["train", "--seed", "-1"], "--seed"),
    (["train", "--folds", "0"], "--folds"),
    (["train", "--threads", "-5"], "--threads"),
    (["train", "--threads", "0"], "--threads"),
    (["train", "--input-size", "-32"], "--input-size"),
    (["extract", "--input-size", "-32"], "--input-size"),
    (["extract", "--device", "banana"], "--device"),
    (["train", "--method", "banana"], "--method"),
    (["train", "--set", "lr=abc"], "lr"),
    (["train", "--set", "lr=nan"], "lr"),
    (["train", "--set", "batch_size=0"], "batch_size"),
    (["train", "--set", "epochs=2.5"], "epochs"),
    (["train", "--set", "weight_decay=-1"], "weight_decay"),
    (["train", "--set", "normalize_V=maybe"], "normalize_V"),
    (["train", "--set", "no_such_thing=1"], "no_such_thing"),
    (["train", "--set", "lr"], "NAME=VALUE"),
]


@pytest.mark.parametrize("arguments, named", BAD_ARGUMENTS, ids=[" ".join(a) for a, _ in BAD_ARGUMENTS])
def test_bad_numbers_stop_before_any_work_with_one_line(arguments, named, small_dir, tmp_path, capsys):
    out = tmp_path / "m.pt"
    code = main(
        [*arguments, "--dataset", str(small_dir), "--out", str(out)]
        if arguments[0] == "train"
        else [*arguments, "--dataset", str(small_dir)]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and named in err and "Traceback" not in err
    assert not out.exists() and _home_is_empty()  # no model, no store, no folder


def test_gamma_must_be_finite(tmp_path, capsys):
    assert main(["eval", "--checkpoint", str(tmp_path / "m.pt"), "--gamma", "nan"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--gamma" in err


def test_cuda_without_a_gpu_is_a_message(small_dir, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    assert main(["train", "--dataset", str(small_dir), "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "--device" in err and "no CUDA GPU" in err and _home_is_empty()


def test_debug_shows_the_traceback(small_dir):
    with pytest.raises(ValueError, match="lr"):
        main(["train", "--dataset", str(small_dir), "--set", "lr=abc", "--debug"])
