"""Checkpoints: atomic, code-free to load, refused with a clear message when damaged or foreign."""

import os
import pickle

import pytest
import torch

from zsl_desktop.engine.checkpoints import CheckpointError, check_compatible, load_checkpoint, save_checkpoint


def _save(path, **header):
    return save_checkpoint(path, {"method": "msdn", **header}, {"w": torch.arange(6.0).reshape(2, 3)})


def test_round_trip(tmp_path):
    path = _save(tmp_path / "a.pt", dataset="x")
    ck = load_checkpoint(path)
    assert ck.header["dataset"] == "x"
    assert torch.equal(ck.state["w"], torch.arange(6.0).reshape(2, 3))
    assert [p.name for p in tmp_path.iterdir()] == ["a.pt"]  # no temp file left behind


@pytest.mark.parametrize("cut", [0, 10, 200])
def test_truncated_checkpoint_is_refused(tmp_path, cut):
    path = _save(tmp_path / "a.pt")
    data = path.read_bytes()
    path.write_bytes(data[:cut])
    with pytest.raises(CheckpointError, match="a.pt"):
        load_checkpoint(path)


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "b.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="not a ZSL Desktop checkpoint"):
        load_checkpoint(path)


class _Payload:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ['PAYLOAD_MARKER']}",))


def test_pickle_payload_never_runs(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    monkeypatch.setenv("PAYLOAD_MARKER", str(marker))
    path = tmp_path / "evil.pt"
    torch.save({"format": "zsl-desktop-checkpoint/1", "header": "{}", "state": {"x": _Payload()}}, path)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(path)
    assert not marker.exists()
    # and a raw pickle named .pt is refused too
    path.write_bytes(pickle.dumps(_Payload()))
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
    assert not marker.exists()


def test_foreign_dataset_is_refused(tmp_path, small_birds):
    path = _save(
        tmp_path / "a.pt",
        dataset="other",
        dataset_fingerprint="0" * 16,
        attribute_names=list(small_birds.attribute_names),
    )
    with pytest.raises(CheckpointError, match="trained on dataset 'other'"):
        check_compatible(load_checkpoint(path), small_birds)
    path = _save(
        tmp_path / "b.pt", dataset="other", dataset_fingerprint=small_birds.fingerprint, attribute_names=["has_a::b"]
    )
    with pytest.raises(CheckpointError, match="1 attributes"):
        check_compatible(load_checkpoint(path), small_birds)


def _foreign(path):
    import zipfile

    import numpy as np

    return {
        "notes.pt": lambda: path.write_text("model trained on 2024-05-01, accuracy 71%\n"),
        "array.pt": lambda: np.save(open(path, "wb"), np.ones(3)),
        "weights.pt": lambda: path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{" + b'"a": {}}       ' + b"\x00" * 8),
        "model.pt": lambda: path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 100),
        "photos.pt": lambda: zipfile.ZipFile(path, "w").writestr("IMG_0001.jpg", b"x"),
    }[path.name]


@pytest.mark.parametrize(
    "name, words",
    [
        ("notes.pt", "this is a text file"),
        ("array.pt", "NumPy array file"),
        ("weights.pt", "safetensors file"),
        ("model.pt", "HDF5 file"),
        ("photos.pt", "zip archive of other files (IMG_0001.jpg), not a PyTorch file"),
    ],
)
def test_files_renamed_to_pt_are_named_not_called_hostile(tmp_path, name, words):
    """Before: a text or NumPy file was refused as 'contains Python objects ... could run code'."""
    path = tmp_path / name
    _foreign(path)()
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert message.startswith(f"{path}: not a checkpoint: ") and words in message, message
    assert "could run code" not in message


@pytest.mark.parametrize("version", ["0", "2"])
def test_a_checkpoint_of_another_version_says_so(tmp_path, version):
    path = _save(tmp_path / "a.pt")
    blob = torch.load(path, weights_only=True)
    torch.save({**blob, "format": f"zsl-desktop-checkpoint/{version}"}, path)
    with pytest.raises(CheckpointError, match=f"another version of ZSL Desktop .*'zsl-desktop-checkpoint/{version}'"):
        load_checkpoint(path)
