"""The command line's backbone options: --input-size, --flips, timm:ARCH with --backbone-weights."""

import pytest

from zsl_desktop.cli import main


@pytest.fixture(scope="module")
def small_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "birds"
    assert main(["generate", "--small", "--out", str(out)]) == 0
    return out


def test_flip_modes_match_the_engine():
    from zsl_desktop.cli_args import FLIP_MODES
    from zsl_desktop.engine.features import FLIP_MODES as ENGINE_FLIP_MODES

    assert FLIP_MODES == ENGINE_FLIP_MODES


def test_extract_with_flips_makes_both_stores_then_train_and_eval_use_them(small_dir, tmp_path, capsys):
    args = ["--dataset", str(small_dir), "--input-size", "64"]
    assert main(["extract", *args, "--flips", "both"]) == 0
    out = capsys.readouterr().out
    assert "feature store:" in out and "mirrored feature store:" in out and "-64-hflip" in out
    ck = tmp_path / "m.pt"
    assert (
        main(
            [
                "train",
                *args,
                "--method",
                "ipce",
                "--epochs",
                "1",
                "--flips",
                "tta",
                "--select",
                "test",
                "--out",
                str(ck),
            ]
        )
        == 0
    )
    test_line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("test: "))
    assert main(["eval", "--checkpoint", str(ck), "--dataset", str(small_dir)]) == 0
    assert test_line.removeprefix("test: ") in capsys.readouterr().out  # eval averages with the mirrors too


def test_backbone_names_and_weights_options_are_checked_first(small_dir, tmp_path, capsys):
    assert main(["extract", "--dataset", str(small_dir), "--backbone", "nonsense"]) == 2
    assert "timm:<architecture>" in capsys.readouterr().err
    assert main(["extract", "--dataset", str(small_dir), "--backbone-weights", str(tmp_path / "w.pth")]) == 2
    assert "--backbone-weights is for timm" in capsys.readouterr().err
    assert main(["train", "--dataset", str(small_dir), "--flips", "sideways"]) == 2


def test_a_timm_backbone_without_its_weights_file_says_what_to_do(small_dir, tmp_path, capsys):
    pytest.importorskip("timm")
    assert (
        main(
            [
                "extract",
                "--dataset",
                str(small_dir),
                "--backbone",
                "timm:convnext_atto",
                "--backbone-weights",
                str(tmp_path / "missing.safetensors"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "missing.safetensors: file not found" in err and "never downloads" in err
