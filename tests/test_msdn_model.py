"""MSDN's network: registration, CUB-sized shapes, the released initialisation, scores consistent with the logits."""

import numpy as np
import pytest
import torch

from msdn_toys import msdn_model, randomise
from zsl_desktop.engine.attention import upsample_attention
from zsl_desktop.engine.methods import get_method
from zsl_desktop.engine.methods.msdn import MSDN


def test_registered_with_its_metadata():
    cls = get_method("msdn")
    assert cls is MSDN
    assert cls.title == "MSDN (Chen et al., CVPR 2022)"
    assert cls.feature_kind == "grid" and cls.has_attention
    with pytest.raises(ValueError):
        msdn_model(16, 2, 12, 6, {"distill": "both"})
    with pytest.raises(ValueError):
        msdn_model(16, 2, 12, 6, {"no_such_knob": 1})


@pytest.mark.parametrize("channels,grid", [(2048, 14), (1280, 7)])
def test_cub_sized_shapes(channels, grid):
    m = msdn_model(channels, grid)
    randomise(m)
    x = torch.rand(4, channels, grid, grid)
    codes = m.encode(x)
    assert codes.shape == (4, 312) and codes.dtype == np.float32
    ca = np.random.default_rng(0).random((200, 312)).astype(np.float32) * 100
    scores = m.score(codes, ca)
    assert scores.shape == (4, 200) and scores.dtype == np.float32
    e = m.explain(x[0])
    assert e.attribute_scores.shape == (312,)
    np.testing.assert_allclose(e.attribute_scores, codes[0], rtol=1e-4, atol=1e-5)
    assert e.attention.shape == (312, grid, grid)
    assert e.extras["attention_va"].shape == (312, grid, grid)
    assert e.extras["psi_av"].shape == e.extras["psi_va"].shape == (312,)
    np.testing.assert_allclose(e.attention.sum(axis=(1, 2)), 1.0, rtol=1e-5)  # softmax over regions
    np.testing.assert_allclose(e.extras["attention_va"].sum(axis=0), 1.0, rtol=1e-5)  # over attributes
    up = upsample_attention(e.attention[:3], (224, 224))
    assert up.shape == (3, 224, 224) and up.dtype == np.float32


def test_upsample_attention_is_bilinear_and_keeps_constants():
    maps = np.stack([np.full((7, 7), 0.5), np.arange(49.0).reshape(7, 7)])
    up = upsample_attention(maps, (14, 21))
    assert up.shape == (2, 14, 21)
    np.testing.assert_allclose(up[0], 0.5)
    assert up[1].min() >= 0 and up[1].max() <= 48
    assert upsample_attention(np.ones((2, 2)), (4, 4)).shape == (4, 4)


def test_initial_attention_is_uniform_and_psi1_is_average_pooling():
    m = msdn_model(64, 3, 12, 6, names=tuple(f"colour {i}" for i in range(12)))
    net = m._net
    assert torch.count_nonzero(net.W_2) == 0 and torch.count_nonzero(net.W_1_1) == 0
    np.testing.assert_allclose(torch.linalg.norm(net.V, dim=1).detach().numpy(), 1.0, rtol=1e-5)
    x = torch.rand(5, 64, 3, 3, dtype=torch.float32)
    out = net(x, maps=True)
    np.testing.assert_allclose(out.alpha.detach().numpy(), 1 / 9, rtol=1e-6)
    np.testing.assert_allclose(out.beta.detach().numpy(), 1 / 12, rtol=1e-6)
    f = x.reshape(5, 64, 9).double()
    f = f / f.norm(dim=1, keepdim=True)
    expected = (net.V.double() @ net.W_1.double() @ f.mean(2).t()).t()  # v_i' W_1 (mean_r f_r)
    np.testing.assert_allclose(out.psi_av.detach().numpy(), expected.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out.psi_va.detach().numpy(), 0.0)  # W_1_1 = 0


def test_score_of_codes_equals_the_combined_unbiased_logits():
    m = msdn_model(32, 4, 12, 6, names=tuple(f"colour {i}" for i in range(12)))
    randomise(m, seed=3)
    x = torch.rand(7, 32, 4, 4)
    raw = np.random.default_rng(4).random((6, 12)).astype(np.float32) * 100 - 5  # a few negatives
    out = m._net(x)
    ca = torch.from_numpy(m.prepare_class_attributes(raw))
    s1, s2 = m.logits(out, ca)
    expected = (0.9 * s1 + 0.1 * s2).detach().numpy()
    np.testing.assert_allclose(m.score(m.encode(x), raw), expected, rtol=1e-5, atol=1e-5)
    prepared = m.prepare_class_attributes(raw)
    assert prepared.min() >= 0
    np.testing.assert_allclose(np.linalg.norm(prepared, axis=1), 1.0, rtol=1e-6)
