"""Hostile files: anything the engine opens that carries a pickle payload is refused, and the payload never runs.

The payload would create a marker file when unpickled; every test checks the marker is absent.
"""

from __future__ import annotations

import ast
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from corpus_checkpoints import valid_checkpoint_parts
from reliability_corpus import assert_clear_refusal

ROOT = Path(__file__).resolve().parents[2] / "zsl_desktop"


class Payload:
    """Unpickling this runs ``touch <marker>``."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "payload-ran"
    yield path
    assert not path.exists(), "the pickle payload was executed"


def test_the_payload_would_run_if_unpickled(tmp_path):
    """Proof the trap works: a plain pickle.loads does create the marker."""
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(Payload(marker)))
    assert marker.exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_checkpoint_with_payload_is_refused(tmp_path, marker, small_birds, cli):
    from zsl_desktop.engine.checkpoints import FORMAT, CheckpointError, load_checkpoint
    from zsl_desktop.engine.session import Session

    header, state = valid_checkpoint_parts(small_birds)
    path = tmp_path / "evil.pt"
    torch.save({"format": FORMAT, "header": json.dumps(header), "state": {**state, "V": Payload(marker)}}, path)
    with pytest.raises(CheckpointError, match="refused: the file contains Python objects"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="evil.pt"):
        Session(small_birds).load_checkpoint(path)
    code, _, err = cli("eval", "--checkpoint", path, "--dataset", small_birds.root)
    assert_clear_refusal(code, err, "evil.pt", "refused")
    # a bare pickle (not a torch zip) under a checkpoint's name
    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickle.dumps({"format": FORMAT, "header": "{}", "state": Payload(marker)}))
    with pytest.raises(CheckpointError, match="raw.pt"):
        load_checkpoint(raw)


def test_resume_file_with_payload_is_refused(tmp_path, marker, small_birds):
    from zsl_desktop.engine.checkpoints import CheckpointError
    from zsl_desktop.engine.methods.base import FeatureSource
    from zsl_desktop.engine.training import TrainConfig, train
    from zsl_desktop.engine.resume import resume_path

    out = tmp_path / "run.pt"
    torch.save(
        {"format": "zsl-desktop-checkpoint/1", "header": "{}", "state": {"model": Payload(marker)}}, resume_path(out)
    )
    features = FeatureSource(grid=np.zeros((small_birds.num_samples, 1280, 1, 1), np.float16))
    with pytest.raises(CheckpointError, match="run.resume.pt: refused"):
        next(train(small_birds, features, TrainConfig(epochs=1), checkpoint_path=out, resume=True))


def test_class_library_with_payload_is_refused(tmp_path, marker):
    from zsl_desktop.engine.classes import ClassLibrary, LibraryError, read_export

    for name, data in [
        ("pickled.json", pickle.dumps(Payload(marker))),
        ("pickled-text.json", pickle.dumps(Payload(marker), protocol=0)),
        (
            "jsonpickle.json",
            json.dumps({"py/reduce": [{"py/function": "os.system"}, {"py/tuple": [f"touch {marker}"]}]}).encode(),
        ),
    ]:
        path = tmp_path / name
        path.write_bytes(data)
        library = ClassLibrary.load(path)
        assert library.warnings and name in library.warnings[0] and "could not be read" in library.warnings[0]
        assert list(tmp_path.glob(f"{name}.corrupt-*")), "the unreadable file is kept aside, not deleted"
        path.write_bytes(data)
        with pytest.raises(LibraryError, match=name):
            read_export(path, ["a", "b"])


def test_word_vectors_with_payload_are_refused(tmp_path, marker, monkeypatch):
    from zsl_desktop.engine.data import word_vectors

    np.save(tmp_path / "cub_attribute_w2v.npy", np.array([Payload(marker)], dtype=object), allow_pickle=True)
    (tmp_path / "cub_attributes.txt").write_text("1 has_bill_shape::hooked\n")
    monkeypatch.setattr(word_vectors, "_vocabulary_dir", lambda: tmp_path)
    word_vectors.load_vocabulary.cache_clear()
    try:
        with pytest.raises(ValueError, match="allow_pickle"):
            word_vectors.load_vocabulary("cub")
    finally:
        word_vectors.load_vocabulary.cache_clear()


def test_backbone_weights_with_payload_are_refused(tmp_path, marker, monkeypatch):
    from zsl_desktop.engine.backbones import BackboneUnavailable, load_backbone

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    folder.mkdir(parents=True)
    torch.save({"conv1.weight": Payload(marker)}, folder / "resnet50-0676ba61.pth")
    with pytest.raises(BackboneUnavailable, match="resnet50-0676ba61.pth"):
        load_backbone("resnet50")


def _calls(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            # owner: "" for a bare call (eval(...)), the module for np.load(...), "?" for obj.x.eval()
            owner = (
                ""
                if isinstance(f, ast.Name)
                else f.value.id
                if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name)
                else "?"
            )
            yield owner, name, {k.arg: k.value for k in node.keywords}, node.lineno


def test_no_code_path_can_unpickle():
    """Static guard over the whole package: torch.load only with weights_only=True, np.load never with
    allow_pickle=True, and no pickle/marshal/shelve/yaml.load/eval/exec at all."""
    problems = []
    for path in sorted(ROOT.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
                if any(
                    (n or "").split(".")[0] in ("pickle", "cPickle", "dill", "marshal", "shelve", "joblib")
                    for n in names
                ):
                    problems.append(f"{path}:{node.lineno}: imports an unpickler")
        for owner, name, kwargs, line in _calls(tree):
            where = f"{path.relative_to(ROOT.parent)}:{line}"
            if owner == "torch" and name == "load":
                w = kwargs.get("weights_only")
                if not (isinstance(w, ast.Constant) and w.value is True):
                    problems.append(f"{where}: torch.load without weights_only=True")
            if owner in ("np", "numpy") and name == "load":
                a = kwargs.get("allow_pickle")
                if a is not None and not (isinstance(a, ast.Constant) and a.value is False):
                    problems.append(f"{where}: np.load with allow_pickle")
            if owner == "yaml" and name in ("load", "unsafe_load", "full_load"):
                problems.append(f"{where}: yaml.{name}")
            if owner == "" and name in ("eval", "exec"):
                problems.append(f"{where}: {name}()")
    assert not problems, "\n".join(problems)
