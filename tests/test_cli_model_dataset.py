"""Which dataset a model is run on (cli_args.dataset_for_model): the built-in birds it was made for by
default, and a model of the other built-in set refused before the 3,000 birds are drawn (a newcomer's
``zsl-desktop eval --checkpoint small.pt --dataset builtin`` drew them for 80 s, then refused)."""

import os
from pathlib import Path

import pytest

from zsl_desktop.cli import main
from zsl_desktop.cli_args import dataset_for_model


def test_without_dataset_the_built_in_birds_it_was_made_for():
    assert dataset_for_model(None, {"dataset": "builtin-small"}, "m.pt") == "builtin-small"
    with pytest.raises(ValueError, match=r"trained on 'CUB_200_2011': pass --dataset PATH \(why\)"):
        dataset_for_model(None, {"dataset": "CUB_200_2011"}, "m.pt", " (why)")


def test_the_other_built_in_set_is_refused_with_the_right_option():
    with pytest.raises(ValueError, match="trained on 'builtin-small', not on 'builtin': pass --dataset builtin-small"):
        dataset_for_model("builtin", {"dataset": "builtin-small"}, "m.pt")
    assert dataset_for_model("builtin", {"dataset": "builtin"}, "m.pt") == "builtin"
    # a folder, or a model made on a folder: the loaded dataset's fingerprint decides, as before
    assert dataset_for_model("/data/CUB", {"dataset": "builtin"}, "m.pt") == "/data/CUB"
    assert dataset_for_model("builtin", {"dataset": "birds_copy"}, "m.pt") == "builtin"


@pytest.mark.parametrize("command", ["eval", "predict"])
def test_eval_and_predict_refuse_before_drawing_any_bird(command, tmp_path, capsys):
    from zsl_desktop.engine.session.spec import shipped_checkpoint

    model = str(shipped_checkpoint())  # made on the full built-in birds
    if command == "eval":
        argv = ["eval", "--checkpoint", model, "--dataset", "builtin-small"]
    else:
        (tmp_path / "photo.png").write_bytes(b"")
        argv = ["predict", "--model", model, "--dataset", "builtin-small", "--photos", str(tmp_path / "photo.png")]
        argv += ["--out", str(tmp_path / "p.csv")]
    assert main(argv) == 2
    assert "pass --dataset builtin (or leave --dataset out)" in capsys.readouterr().err
    home = Path(os.environ["ZSL_DESKTOP_HOME"])
    assert not any(home.rglob("builtin_birds*")) and not any(home.rglob("*.jpg"))  # no bird was drawn
