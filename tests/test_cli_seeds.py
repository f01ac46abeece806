"""``zsl-desktop train --seeds``: one checkpoint per seed and the mean ± sd of a whole results row."""

import json

import numpy as np
import pytest

from zsl_desktop.cli import main
from zsl_desktop.cli_training import parse_seeds, seed_path, summarise_seeds


def test_parse_seeds_and_paths(tmp_path):
    assert parse_seeds("0,1,2") == [0, 1, 2]
    assert parse_seeds(" 3, 5 ") == [3, 5]
    for bad in ("", "0,x", "1,1"):
        with pytest.raises(ValueError, match="--seeds"):
            parse_seeds(bad)
    assert seed_path(tmp_path / "cub.pt", 2) == tmp_path / "cub-seed2.pt"


def test_summary_is_mean_and_sample_sd():
    rows = [{"zsl_t1": z, "u": 0.1, "s": 0.2, "h": h, "ausuc": 0.3} for z, h in ((0.5, 0.4), (0.7, 0.6))]
    summary = summarise_seeds(rows)
    assert summary["zsl_t1"]["mean"] == pytest.approx(0.6)
    assert summary["h"]["sd"] == pytest.approx(np.std([0.4, 0.6], ddof=1))
    assert summary["u"]["sd"] == 0.0
    assert summarise_seeds(rows[:1])["h"] == {"mean": 0.4, "sd": 0.0}


def test_train_seeds_writes_a_checkpoint_per_seed_and_their_summary(tmp_path, capsys):
    out = tmp_path / "m.pt"
    args = ["--dataset", "builtin-small", "--input-size", "64", "--threads", "1"]
    assert main(["train", *args, "--epochs", "1", "--set", "batch_size=16", "--seeds", "0,1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| mean ± sd |" in printed
    record = json.loads((tmp_path / "m-seeds.json").read_text())
    assert record["seeds"] == [0, 1] and len(record["per_seed"]) == 2
    for key in ("zsl_t1", "u", "s", "h", "ausuc"):
        values = [row[key] for row in record["per_seed"]]
        assert record["summary"][key]["mean"] == pytest.approx(np.mean(values))
        assert record["summary"][key]["sd"] == pytest.approx(np.std(values, ddof=1))
    # Each row is what eval of that seed's checkpoint reports.
    for seed, row in zip((0, 1), record["per_seed"]):
        ck = tmp_path / f"m-seed{seed}.pt"
        assert main(["eval", "--checkpoint", str(ck), "--no-localisation", "--json", str(tmp_path / "f.json")]) == 0
        figures = json.loads((tmp_path / "f.json").read_text())
        assert figures["h"] == pytest.approx(row["h"]) and figures["zsl_t1"] == pytest.approx(row["zsl_t1"])
    capsys.readouterr()
    assert main(["train", *args, "--seeds", "0,zero", "--out", str(out)]) == 2
    assert "--seeds" in capsys.readouterr().err
