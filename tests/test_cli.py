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
