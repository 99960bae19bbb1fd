import pytest
import torch

from mglib.models import adapters as A
from mglib.models import vit as V


def vit_with(kind, **kw):
    torch.manual_seed(0)
    m = V.VideoViT(V.ViTConfig(img_size=32, patch_size=8, tubelet=2, num_frames=4, dim=32, depth=2, heads=2))
    return A.add_adapters(m, A.AdapterConfig(kind=kind, **kw))


@pytest.mark.parametrize("kind,kw", [("standard", {}), ("tia", {}), ("dsta", {}), ("dsta", {"kernel_s": 3}),
                                     ("dsta", {"kernel_s": 3, "separate_down": False})])
def test_identity_at_init_and_shapes(kind, kw):
    torch.manual_seed(1)
    x = torch.randn(2 * 3, 2 * 4 * 4, 32)  # B=2, n=3 chunks, t=2, 4×4 tokens
    ad = A.make_adapter(32, A.AdapterConfig(kind=kind, **kw))
    y = ad(x, (2, 3, 2, 4, 4))
    assert y.shape == x.shape
    torch.testing.assert_close(y, x)  # zero-initialised up-projection


def test_adapted_vit_equals_plain_vit_at_init():
    plain = V.VideoViT(V.ViTConfig(img_size=32, patch_size=8, tubelet=2, num_frames=4, dim=32, depth=2, heads=2))
    adapted = vit_with("dsta")
    adapted.load_state_dict(plain.state_dict(), strict=False)
    x = torch.randn(1, 3, 8, 32, 32)
    torch.testing.assert_close(adapted.features(x), plain.features(x))


@pytest.mark.parametrize("kind", A.KINDS)
def test_only_adapter_params_train(kind):
    m = vit_with(kind)
    A.freeze_except_adapters(m)
    names = [n for n, p in m.named_parameters() if p.requires_grad]
    assert names and all(".adapter." in n for n in names)
    x = torch.randn(1, 3, 8, 32, 32)
    m.features(x).pow(2).mean().backward()
    assert all(p.grad is None for n, p in m.named_parameters() if ".adapter." not in n)
    # the zero up-projection receives gradient, so the adapter can leave the identity
    up = m.blocks[0].adapter.up.weight
    assert up.grad is not None and up.grad.abs().sum() > 0


def test_temporal_path_spans_all_chunks():
    torch.manual_seed(0)
    ad = A.TIA(16, A.AdapterConfig(kind="tia"))
    torch.nn.init.normal_(ad.up.weight)
    grid = (1, 2, 2, 1, 1)  # one video, two chunks of 2 tubelets, 1×1 tokens
    x = torch.zeros(2, 2, 16)
    x2 = x.clone()
    x2[1, 0] = 1.0  # change the first tubelet of chunk 2
    d = (ad(x2, grid) - ad(x, grid)).abs().sum(-1)
    assert d[0, 1] > 0  # the last tubelet of chunk 1 sees it through the k=3 temporal conv
    assert d[0, 0] == 0


def test_param_counts_match_table4_on_videomae_s():
    # architectures.md §5: adapters on 12 blocks of VideoMAE-S (C = 384, r = 4)
    assert A.adapter_params(384, 12, A.AdapterConfig(kind="standard")) == 890_496
    assert A.adapter_params(384, 12, A.AdapterConfig(kind="tia")) == 1_006_860
    shared = A.adapter_params(384, 12, A.AdapterConfig(kind="dsta", kernel_s=1, separate_down=False))
    separate = A.adapter_params(384, 12, A.AdapterConfig(kind="dsta"))  # the default reading
    assert round(shared / 2 ** 20, 2) == 1.38  # eq. 3 as written
    assert round(separate / 2 ** 20, 3) == 1.807  # matches Table 4's 1.80M
    r = A.param_report(1_006_860)
    assert round(r["M_2^20"], 3) == 0.960 and round(r["M_10^6"], 3) == 1.007


def test_unknown_kind():
    from mglib.errors import InputError
    with pytest.raises(InputError):
        A.make_adapter(32, A.AdapterConfig(kind="lora"))
