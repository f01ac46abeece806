"""The bench's generated model files (``memory.model_for``) are reused while made from the same checkpoint and
re-stamped when that checkpoint changes, so a retrained shipped model is never timed through a stale copy."""

import argparse

from zsl_desktop.bench.memory import SOURCE_FIELD, model_for, saved_source
from zsl_desktop.engine.checkpoints import load_checkpoint, save_checkpoint
from zsl_desktop.engine.paths import shipped_models_dir
from zsl_desktop.engine.session.codes import checkpoint_identity


def test_a_bench_model_file_is_reused_until_its_source_checkpoint_changes(tmp_path):
    shipped = load_checkpoint(shipped_models_dir() / "sgma_builtin.pt")
    dataset = argparse.Namespace(name="builtin-x4", fingerprint="f" * 16)
    made = tmp_path / "bench" / "model.pt"
    model_for(dataset, shipped, made)
    header = load_checkpoint(made).header
    assert header[SOURCE_FIELD] == checkpoint_identity(shipped) and header["dataset"] == "builtin-x4"
    written = made.stat().st_mtime_ns, made.read_bytes()
    model_for(dataset, shipped, made)  # the same source: the file is kept (its codes cache stays valid)
    assert (made.stat().st_mtime_ns, made.read_bytes()) == written
    retrained = tmp_path / "sgma_retrained.pt"  # other bytes: another content hash, as a retrained model has
    save_checkpoint(retrained, {**shipped.header, "note": "retrained"}, shipped.state)
    newer = load_checkpoint(retrained)
    model_for(dataset, newer, made)
    assert saved_source(made) == checkpoint_identity(newer) != checkpoint_identity(shipped)


def test_an_unreadable_bench_model_file_has_no_source(tmp_path):
    (tmp_path / "model.pt").write_bytes(b"not a checkpoint")
    assert saved_source(tmp_path / "model.pt") is None
    assert saved_source(tmp_path / "absent.pt") is None
