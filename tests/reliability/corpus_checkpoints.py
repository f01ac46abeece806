"""The corpus's checkpoints: a valid one for a dataset, and damaged or foreign ones built from it.

``CHECKPOINT_CASES`` rows are (id, build, words): the regex the refusal must contain (every one is refused).
"""

from __future__ import annotations

from pathlib import Path


def valid_checkpoint_parts(dataset, **header_changes):
    """Header and weights of an (untrained) MSDN for ``dataset`` at input size 32: loadable and compatible."""
    from zsl_desktop.engine.methods.base import ModelInfo
    from zsl_desktop.engine.methods import get_method
    from zsl_desktop.engine.training import TrainConfig, inference_state, make_header

    info = ModelInfo(
        attribute_names=dataset.attribute_names,
        num_classes=dataset.num_classes,
        feature_kind="grid",
        channels=1280,
        grid_size=(1, 1),
    )
    method = get_method("msdn")(info, {})
    header = make_header(dataset, method, TrainConfig(input_size=32), epochs=1, gamma=0.0, gamma_source="fixed")
    header.update(header_changes)
    return header, inference_state(method)


def _ckpt(change=None, state_change=None, damage=None):
    def build(folder, dataset=None, **_):
        import json

        import torch

        from zsl_desktop.engine.checkpoints import FORMAT, save_checkpoint

        path = Path(folder) / "model.pt"
        header, state = valid_checkpoint_parts(dataset)
        if change:
            change(header)
        if state_change:
            state_change(state)
        save_checkpoint(path, header, state)
        if damage == "truncate":
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        elif damage == "empty":
            path.write_bytes(b"")
        elif damage == "foreign":
            torch.save({"model": state}, path)
        elif damage == "header":
            torch.save({"format": FORMAT, "header": "{not json", "state": state}, path)
        elif damage == "json-list":
            torch.save({"format": FORMAT, "header": json.dumps([1, 2]), "state": state}, path)
        return path

    return build


def _pop(key):
    return lambda h: h.pop(key)


CHECKPOINT_CASES = [
    (
        "checkpoint-other-dataset",
        _ckpt(lambda h: h.update(dataset="awa2", dataset_fingerprint="0123456789abcdef")),
        "trained on dataset 'awa2'",
    ),
    (
        "checkpoint-other-attributes",
        _ckpt(lambda h: h.update(attribute_names=["has_tail::long"])),
        "made for 1 attributes",
    ),
    ("checkpoint-truncated", _ckpt(damage="truncate"), "truncated or corrupt"),
    ("checkpoint-empty-file", _ckpt(damage="empty"), "the file is empty"),
    ("checkpoint-not-ours", _ckpt(damage="foreign"), "not a ZSL Desktop checkpoint"),
    ("checkpoint-header-not-json", _ckpt(damage="header"), "header is damaged"),
    ("checkpoint-header-not-an-object", _ckpt(damage="json-list"), "header is damaged"),
    ("checkpoint-header-missing-field", _ckpt(_pop("feature_kind")), "the header has no 'feature_kind'"),
    ("checkpoint-unknown-method", _ckpt(lambda h: h.update(method="magic")), "unknown method 'magic'"),
    (
        "checkpoint-wrong-weight-shapes",
        _ckpt(state_change=lambda s: s.update(W_1=s["W_1"][:, :7])),
        "cannot be used: .*7 channels",
    ),
    ("checkpoint-missing-weights", _ckpt(state_change=lambda s: s.pop("V")), "cannot be used: .*no V"),
]
