"""timm backbones (``timm:<architecture>``): weights from a user file, grids for CNNs and ViTs, never a download.

The weights are ones timm makes itself (``pretrained=False``, random), saved by the test: what is checked is
the plumbing (files, shapes, keys, messages), not ImageNet accuracy.
"""

import numpy as np
import pytest
import torch

timm = pytest.importorskip("timm")

from zsl_desktop.engine import backbones, timm_backbone  # noqa: E402
from zsl_desktop.engine.backbones import BackboneUnavailable, load_backbone  # noqa: E402
from zsl_desktop.engine.features import extract_all, store_key  # noqa: E402
from zsl_desktop.engine.methods.base import Step  # noqa: E402
from zsl_desktop.engine.events import run_to_end  # noqa: E402
from zsl_desktop.engine.training import TrainConfig, train  # noqa: E402


@pytest.fixture(autouse=True)
def _forget_weights(monkeypatch):
    """Each test names its own weights file; none leaks into another test."""
    monkeypatch.setattr(timm_backbone, "_weights_files", {})
    monkeypatch.setattr(backbones, "_timm_nets", {})
    monkeypatch.setenv("HF_HUB_CACHE", "/nonexistent-hf-cache")  # no stray cache is ever found
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _save_weights(arch, path, fmt="pth"):
    torch.manual_seed(0)
    model = timm.create_model(arch, pretrained=False)  # with its classifier: loading must drop it
    state = model.state_dict()
    if fmt == "safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, path)
    return path


@pytest.mark.parametrize(
    "arch, fmt, size, side, channels",
    [
        ("vit_tiny_patch16_224", "safetensors", 96, 6, 192),  # patch tokens as the grid, any input size
        ("convnext_atto", "pth", 96, 3, 320),  # a CNN's last feature map
    ],
)
def test_grids_and_pooled_vectors_of_the_right_shape(tmp_path, arch, fmt, size, side, channels):
    name = f"timm:{arch}"
    timm_backbone.use_weights_file(name, _save_weights(arch, tmp_path / f"w.{fmt}", fmt))
    model = load_backbone(name)
    assert model.spec.grid_size(size) == side and model.spec.channels == channels
    images = torch.randn(2, 3, size, size)
    grid, pooled = model(images)
    assert grid.shape == (2, channels, side, side) and pooled.shape == (2, channels)
    assert torch.isfinite(grid).all() and torch.isfinite(pooled).all()
    net = model.net.model
    feats = net.forward_features(images)
    if arch.startswith("vit"):  # the class token as the pooled vector, the patch tokens in row-major order
        assert torch.allclose(pooled, feats[:, 0], atol=1e-5)
        assert torch.allclose(grid[0, :, 0, 1], feats[0, 2], atol=1e-5)
    else:
        assert torch.allclose(pooled, net.forward_head(feats, pre_logits=True), atol=1e-5)


def test_msdn_trains_on_a_vit_grid_from_the_store(tmp_path, small_birds):
    name = "timm:vit_tiny_patch16_224"
    timm_backbone.use_weights_file(name, _save_weights("vit_tiny_patch16_224", tmp_path / "vit.pth"))
    store = extract_all(small_birds, backbone=name, input_size=64, root=tmp_path / "store")
    assert store.grid.shape == (small_birds.num_samples, 192, 4, 4)
    assert "timm_vit_tiny_patch16_224-" in store.folder.name  # the weights file's digest is in the key
    events = []
    config = TrainConfig(
        method="msdn", epochs=1, select="test", backbone=name, input_size=64, hparams={"batch_size": 16}
    )
    finished = run_to_end(train(small_birds, store.source(), config), events.append)
    assert finished.header["backbone"] == name and finished.header["grid_size"] == [4, 4]
    steps = [e for e in events if isinstance(e, Step)]
    assert steps and all(np.isfinite(e.losses["total"]) for e in steps)
    assert np.isfinite(finished.report.as_dict()["h"])


def test_another_weights_file_is_another_store(tmp_path, small_birds):
    name = "timm:convnext_atto"
    timm_backbone.use_weights_file(name, _save_weights("convnext_atto", tmp_path / "a.pth"))
    key_a = store_key(small_birds, name, 64)
    torch.manual_seed(1)
    torch.save({k: v + 1 for k, v in torch.load(tmp_path / "a.pth").items()}, tmp_path / "b.pth")
    timm_backbone.use_weights_file(name, tmp_path / "b.pth")
    assert store_key(small_birds, name, 64) != key_a


def test_a_missing_weights_file_says_what_to_do(tmp_path):
    name = "timm:convnext_atto"
    timm_backbone.use_weights_file(name, tmp_path / "nowhere.safetensors")
    with pytest.raises(BackboneUnavailable, match="file not found.*--backbone-weights"):
        load_backbone(name)


def test_no_file_and_nothing_in_the_cache_says_how_to_get_weights(monkeypatch):
    with pytest.raises(BackboneUnavailable, match="never downloads.*--backbone-weights.*pretrained=True"):
        load_backbone("timm:convnext_atto")


def test_weights_of_another_architecture_are_refused_with_the_keys(tmp_path):
    name = "timm:convnext_atto"
    timm_backbone.use_weights_file(name, _save_weights("vit_tiny_patch16_224", tmp_path / "vit.pth"))
    with pytest.raises(BackboneUnavailable, match="does not fit timm's ConvNeXt: missing keys"):
        load_backbone(name)


def test_a_pickled_object_is_never_unpickled(tmp_path):
    import pickle

    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"weight": object()}))
    timm_backbone.use_weights_file("timm:convnext_atto", path)
    with pytest.raises(BackboneUnavailable, match="cannot be read as a state dict"):
        load_backbone("timm:convnext_atto")


def test_a_named_pipe_is_refused_by_the_gate(tmp_path):
    import os

    path = tmp_path / "pipe.pth"
    os.mkfifo(path)
    timm_backbone.use_weights_file("timm:convnext_atto", path)
    with pytest.raises(BackboneUnavailable, match="named pipe"):
        load_backbone("timm:convnext_atto")


def test_the_hugging_face_cache_is_read_without_network(tmp_path, monkeypatch):
    """A file where timm's pretrained=True would have cached it is found; nothing else is asked for."""
    arch = "convnext_atto"
    repo = timm.models.get_pretrained_cfg(arch).hf_hub_id
    snapshot = tmp_path / "hub" / f"models--{repo.replace('/', '--')}" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    _save_weights(arch, snapshot / "model.safetensors", "safetensors")
    (tmp_path / "hub" / f"models--{repo.replace('/', '--')}" / "refs").mkdir()
    (tmp_path / "hub" / f"models--{repo.replace('/', '--')}" / "refs" / "main").write_text("0" * 40)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    assert timm_backbone.weights_file(f"timm:{arch}") == snapshot / "model.safetensors"
    assert load_backbone(f"timm:{arch}").spec.channels == 320


def _lite0_to_timm(state):
    """Our Lite0 keys (lukemelas layout) -> timm's tf_efficientnet_lite0 keys."""
    from zsl_desktop.engine.efficientnet_lite import lite_stages

    block = []  # flat block index -> (stage, index in stage)
    for stage, (*_, repeats) in enumerate(lite_stages(0)):
        block += [(stage, i) for i in range(repeats)]
    renames = {
        "_expand_conv": "conv_pw",
        "_depthwise_conv": "conv_dw",
        "_project_conv": "conv_pwl",
        "_bn0": "bn1",
        "_bn1": "bn2",
        "_bn2": "bn3",
    }
    first = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
    out = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] == "_blocks":
            stage, i = block[int(parts[1])]
            table = first if stage == 0 else renames
            out[".".join(["blocks", str(stage), str(i), table[parts[2]], *parts[3:]])] = value
        else:
            top = {
                "_conv_stem": "conv_stem",
                "_bn0": "bn1",
                "_conv_head": "conv_head",
                "_bn1": "bn2",
                "_fc": "classifier",
            }[parts[0]]
            out[".".join([top, *parts[1:]])] = value
    return out


def test_timm_tf_efficientnet_lite0_with_our_lite0_weights_gives_our_features(tmp_path):
    """The same weights through timm's network and ours: the same grid (our folded batch norms included)."""
    state = torch.load(backbones.weights_path("efficientnet_lite0"), map_location="cpu", weights_only=True)
    path = tmp_path / "lite0-as-timm.pth"
    torch.save(_lite0_to_timm(state), path)
    name = "timm:tf_efficientnet_lite0"
    timm_backbone.use_weights_file(name, path)
    theirs, ours = load_backbone(name), load_backbone("efficientnet_lite0")
    torch.manual_seed(0)
    images = torch.randn(2, 3, 224, 224)  # one normalised input for both: their mean/std differ slightly
    g_theirs, p_theirs = theirs(images)
    g_ours, p_ours = ours(images)
    assert g_theirs.shape == g_ours.shape == (2, 1280, 7, 7)
    # Measured: 2.1e-5 at most on the grid (values 0..6), 9e-6 on the pooled vector (float rounding of
    # the folded batch norms and of TF "SAME" padding done two ways).
    assert (g_theirs - g_ours).abs().max() < 1e-4
    assert (p_theirs - p_ours).abs().max() < 1e-4
