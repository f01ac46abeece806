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


def test_predict_takes_the_timm_weights_file_its_model_was_trained_with(small_dir, tmp_path, capsys, monkeypatch):
    timm = pytest.importorskip("timm")
    import csv

    import torch

    from zsl_desktop.engine import backbones, timm_backbone

    def new_process():  # what a weights file named in an earlier command leaves behind: nothing
        monkeypatch.setattr(timm_backbone, "_weights_files", {})
        monkeypatch.setattr(backbones, "_timm_nets", {})

    new_process()
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "no-hf-cache"))  # no stray cache is ever found
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    torch.manual_seed(0)
    weights = tmp_path / "atto.pth"
    torch.save(timm.create_model("convnext_atto", pretrained=False).state_dict(), weights)  # random, never downloaded
    model = tmp_path / "m.pt"
    timm_args = ["--backbone", "timm:convnext_atto", "--backbone-weights", str(weights), "--input-size", "64"]
    train = ["train", "--dataset", str(small_dir), *timm_args, "--method", "ipce", "--epochs", "1", "--select", "test"]
    assert main([*train, "--out", str(model), "--threads", "1"]) == 0
    photo = sorted(p for p in (small_dir / "images").rglob("*") if p.suffix in (".png", ".jpg"))[0]
    out = tmp_path / "p.csv"
    predict = ["predict", "--model", str(model), "--dataset", str(small_dir), "--photos", str(photo), "--out", str(out)]

    new_process()
    capsys.readouterr()
    assert main([*predict, "--threads", "1"]) == 2
    err = capsys.readouterr().err
    assert "never downloads" in err and "--backbone-weights" in err
    assert not out.exists()

    new_process()
    assert main([*predict, "--threads", "1", "--backbone-weights", str(weights)]) == 0
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and not rows[0]["error"] and rows[0]["top1_class"]
    assert rows[0]["out_of_domain"]  # the training features were found: the store key holds the file's digest
