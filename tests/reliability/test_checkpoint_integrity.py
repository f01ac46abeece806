"""Class 6 of issue 16 (and the file half of class 4): checkpoints are checked before they are used.

Each tensor's checksum is in the header and a file whose bytes changed is refused; header fields have
their types checked (a string input size, a NaN gamma); NaN/Inf weights are refused; a resume file made
with other settings is refused naming them; rerunning the same `train` after a kill continues from the
resume file. Today's files (the shipped trained/*.pt, written before checksums) still load.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from corpus_checkpoints import valid_checkpoint_parts
from corpus_datasets import make_folder_dataset
from reliability_corpus import assert_clear_refusal
from zsl_desktop.engine.checkpoints import FORMAT, CheckpointError, load_checkpoint, save_checkpoint

SHIPPED = Path(__file__).resolve().parents[2] / "trained"


def _save(tmp_path, dataset, header_change=None, state_change=None, name="model.pt"):
    header, state = valid_checkpoint_parts(dataset)
    if header_change:
        header_change(header)
    if state_change:
        state_change(state)
    return save_checkpoint(tmp_path / name, header, state)


def _raw(path: Path, header: dict, state: dict) -> Path:
    """Written without save_checkpoint (no checksums): what an old or hand-made file looks like."""
    torch.save({"format": FORMAT, "header": json.dumps(header), "state": state}, path)
    return path


def test_flipped_tensor_bytes_are_refused(tmp_path, small_birds, cli):
    header, state = valid_checkpoint_parts(small_birds)
    marker = torch.arange(64, dtype=torch.float32) + 0.5  # a recognisable run of bytes in the file
    state["V"] = state["V"].clone()
    state["V"].view(-1)[:64] = marker
    path = save_checkpoint(tmp_path / "model.pt", header, state)
    data = bytearray(path.read_bytes())
    at = bytes(data).find(marker.numpy().tobytes())
    assert at > 0
    data[at + 100] ^= 0x10  # one flipped bit in one weight
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="tensor 'V' does not match its checksum"):
        load_checkpoint(path)
    code, out, err = cli("eval", "--checkpoint", path, "--dataset", small_birds.root)
    assert code == 2
    assert_clear_refusal(code, err, "model.pt", "does not match its checksum")


def test_a_tensor_removed_after_saving_is_refused(tmp_path, small_birds):
    path = _save(tmp_path, small_birds)
    blob = torch.load(path, weights_only=True)
    del blob["state"]["V"]
    torch.save(blob, path)
    with pytest.raises(CheckpointError, match="tensor 'V' is missing"):
        load_checkpoint(path)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused(tmp_path, small_birds, cli, value):
    def poison(state):
        state["V"] = state["V"].clone()
        state["V"].view(-1)[3] = value

    path = _save(tmp_path, small_birds, state_change=poison)  # checksums valid: the file is as saved
    with pytest.raises(CheckpointError, match="tensor 'V' holds NaN or infinite values"):
        load_checkpoint(path)
    code, out, err = cli("eval", "--checkpoint", path, "--dataset", small_birds.root)
    assert_clear_refusal(code, err, "model.pt", "holds NaN or infinite values")
    assert code == 2


HEADER_CASES = {
    "nan-gamma": (lambda h: h.update(gamma=float("nan")), "header field 'gamma' must be a finite number"),
    "string-input-size": (lambda h: h.update(input_size="224"), "header field 'input_size' must be a whole number"),
    "negative-input-size": (lambda h: h.update(input_size=-32), "header field 'input_size' must be a whole number"),
    "bool-channels": (lambda h: h.update(channels=True), "header field 'channels' must be a positive"),
    "string-grid-size": (lambda h: h.update(grid_size="7x7"), "header field 'grid_size' must be a list"),
    "names-not-strings": (lambda h: h.update(class_names=[1, 2]), "header field 'class_names' must be a list"),
    "nan-hparam": (lambda h: h.update(hparams={"lr": float("nan")}), "hyper-parameter 'lr' is not a finite"),
}


@pytest.mark.parametrize("case", sorted(HEADER_CASES))
def test_header_fields_are_type_checked(tmp_path, small_birds, cli, case):
    change, words = HEADER_CASES[case]
    path = _save(tmp_path, small_birds, header_change=change)
    with pytest.raises(CheckpointError, match=words):
        load_checkpoint(path)
    code, out, err = cli("eval", "--checkpoint", path, "--dataset", small_birds.root)
    assert code == 2
    assert_clear_refusal(code, err, "model.pt", words)
    assert len(err.strip().splitlines()) == 1


# msdn_builtin.pt predates checksums; the others were retrained after (GSMFlow in session 8, SGMA and IPCE in 9)
@pytest.mark.parametrize("name", ["msdn_builtin.pt"])
def test_shipped_checkpoints_without_checksums_still_load(name):
    ck = load_checkpoint(SHIPPED / name)
    assert "checksums" not in ck.header and ck.state


@pytest.mark.parametrize("name", ["gsmflow_builtin.pt", "sgma_builtin.pt", "ipce_builtin.pt"])
def test_shipped_checkpoints_retrained_since_carry_checksums_of_every_tensor(name):
    ck = load_checkpoint(SHIPPED / name)  # load_checkpoint verifies the checksums it finds
    assert set(ck.header["checksums"]) == set(ck.state)


def test_a_checkpoint_saved_again_gets_checksums_that_verify(tmp_path):
    ck = load_checkpoint(SHIPPED / "msdn_builtin.pt")
    again = load_checkpoint(save_checkpoint(tmp_path / "copy.pt", ck.header, ck.state))
    assert set(again.header["checksums"]) == set(ck.state)


# -- resume files ------------------------------------------------------------------------------------------


@pytest.fixture
def killed_run(tmp_path):
    """A run of the CLI's settings stopped after its first epoch: the resume file a kill leaves behind."""
    from zsl_desktop.engine.data import load_dataset
    from zsl_desktop.engine.features import extract_all, feature_source
    from zsl_desktop.engine.methods.base import Control, EpochEnd
    from zsl_desktop.engine.training import TrainConfig, train
    from zsl_desktop.engine.resume import resume_path

    root = make_folder_dataset(
        tmp_path, images={c: [f"{i}.jpg" for i in range(6)] for c in ("crow", "robin", "cardinal")}
    )
    dataset = load_dataset(root)
    store = extract_all(dataset, input_size=32)
    out = tmp_path / "m.pt"
    control = Control()
    config = TrainConfig(method="msdn", epochs=3, seed=0, input_size=32)
    for event in train(dataset, feature_source(dataset, store), config, control, checkpoint_path=out):
        if isinstance(event, EpochEnd):
            control.cancel()
    assert resume_path(out).is_file() and not out.exists()
    return root, out, resume_path(out)


def test_rerunning_the_same_train_command_continues_from_the_resume_file(killed_run, cli):
    root, out, resume = killed_run
    code, stdout, err = cli(
        "train", "--dataset", root, "--method", "msdn", "--epochs", 3, "--input-size", 32, "--out", out
    )
    assert code == 0, err
    assert "resumed select phase after epoch 1" in stdout
    assert out.is_file() and not resume.exists()


@pytest.mark.parametrize(
    "flags, words",
    [
        (("--input-size", 64), "input size 32 -> 64"),
        (("--set", "lr=0.5"), "lr 0.0001 -> 0.5"),
        (("--seed", 3), "seed 0 -> 3"),
        (("--folds", 5), "folds 3 -> 5"),
        (("--epochs", 5), "epochs 3 -> 5"),
    ],
)
def test_a_resume_file_of_other_settings_is_refused_naming_them(killed_run, cli, flags, words):
    root, out, resume = killed_run
    before = resume.read_bytes()
    args = {"--epochs": 3, "--input-size": 32}
    args.update(dict(zip(flags[::2], flags[1::2])))
    argv = ["train", "--dataset", root, "--method", "msdn", "--out", out]
    for k, v in args.items():
        argv += [k, v]
    code, stdout, err = cli(*argv)
    assert code == 2
    assert_clear_refusal(code, err, "m.resume.pt", words.replace("(", r"\(").replace(".", r"\."))
    assert "delete the file" in err
    assert resume.read_bytes() == before, "the interrupted run is kept as it was"
    assert "phase" not in stdout, "refused before training started"
