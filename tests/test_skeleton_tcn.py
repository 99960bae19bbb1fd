"""The causal skeleton TCN (mglib.models.skeleton_tcn)."""
import torch

from mglib.models.skeleton_tcn import SkeletonTCN, SkeletonTCNConfig, pool_tokens


def test_tcn_is_causal_and_pools_tokens():
    torch.manual_seed(0)
    m = SkeletonTCN(SkeletonTCNConfig(in_dim=12, width=8, dilations=(1, 2, 4))).eval()
    assert m.receptive_field == 15
    x = torch.randn(1, 40, 12)
    y = x.clone()
    y[:, 25:] = torch.randn(1, 15, 12)
    with torch.no_grad():
        hx, hy = m(x), m(y)
    assert torch.equal(hx[:, :25], hy[:, :25]) and not torch.allclose(hx[:, 25:], hy[:, 25:])
    f = torch.arange(10, dtype=torch.float32)[:, None]
    assert pool_tokens(f, 4)[:, 0].tolist() == [1.5, 5.5, 8.5]  # the last token averages 2 frames


def test_classify_averages_the_masked_frames_only():
    torch.manual_seed(0)
    m = SkeletonTCN(SkeletonTCNConfig(in_dim=4, width=6, dilations=(1,), num_classes=3)).eval()
    x = torch.randn(1, 10, 4)
    mask = torch.zeros(1, 10, dtype=torch.bool)
    mask[0, 6:] = True
    with torch.no_grad():
        expected = m.head(m(x)[0, 6:].mean(0))
        assert torch.allclose(m.classify(x, mask)[0], expected, atol=1e-6)
