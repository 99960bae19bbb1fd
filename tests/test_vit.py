import pytest
import torch

from mglib.errors import InputError
from mglib.models import vit as V


def tiny(**kw):
    return V.ViTConfig(img_size=32, patch_size=16, tubelet=2, num_frames=4, dim=32, depth=2, heads=2, **kw)


def test_tokens_and_features_shapes():
    torch.manual_seed(0)
    m = V.VideoViT(tiny())
    x = torch.randn(2, 3, 8, 32, 32)  # two chunks of 4 frames
    tok, grid = m(x)
    assert grid == (2, 2, 2, 2, 2)
    assert tok.shape == (4, 2 * 2 * 2, 32)
    f = m.features(x)
    assert f.shape == (2, 32, 4)  # one feature per tubelet, over both chunks
    # features of the second chunk equal features of that chunk encoded alone (attention stays in-chunk)
    f2 = m.features(x[:, :, 4:])
    torch.testing.assert_close(f[:, :, 2:], f2, atol=1e-5, rtol=1e-5)


def test_bad_input_shape_is_input_error():
    m = V.VideoViT(tiny())
    with pytest.raises(InputError):
        m(torch.randn(1, 3, 5, 32, 32))


def test_presets():
    assert V.vit_config("small").dim == 384 and V.vit_config("base").heads == 12
    with pytest.raises(InputError):
        V.vit_config("huge")


def test_sinusoid_table_values():
    t = V.sinusoid_table(3, 4)
    assert torch.allclose(t[0], torch.tensor([0.0, 1.0, 0.0, 1.0]))
    assert torch.allclose(t[1, 0], torch.sin(torch.tensor(1.0)))
    assert torch.allclose(t[1, 3], torch.cos(torch.tensor(1.0 / 100.0)))


def test_tube_mask_repeats_spatial_mask():
    m = V.tube_mask(3, (4, 2, 5), 0.6, generator=torch.Generator().manual_seed(0))
    assert m.shape == (3, 40)
    per_t = m.view(3, 4, 10)
    assert (per_t == per_t[:, :1]).all()
    assert (per_t[:, 0].sum(1) == 6).all()


def test_patchify_matches_token_order():
    cfg = tiny()
    x = torch.arange(3 * 4 * 32 * 32, dtype=torch.float32).view(1, 3, 4, 32, 32)
    p = V.patchify(x, cfg)
    assert p.shape == (1, 2 * 2 * 2, 2 * 16 * 16 * 3)
    # token 1 = (t'=0, h'=0, w'=1): its first value is pixel (c=0, t=0, y=0, x=16)
    assert p[0, 1, 0] == x[0, 0, 0, 0, 16]


def test_mae_pretrainer_loss_and_grad():
    torch.manual_seed(0)
    m = V.VideoMAEPretrainer(tiny(), decoder_dim=16, decoder_depth=1, decoder_heads=2, mask_ratio=0.5)
    loss = m(torch.randn(2, 3, 4, 32, 32))
    assert loss.ndim == 0 and loss.item() > 0
    loss.backward()
    assert m.encoder.patch_embed.weight.grad is not None
