import pytest
import torch

from mglib.models.cmf import ChannelCrossAttention, CrossAttention, CrossModalFusion, fusion_modules
from mglib.models.poseconv3d import RGBPoseConfig, RGBPoseConv3D, pose_config, rgb_config


@pytest.mark.parametrize("tokens", ["channel", "time"])
def test_cmf_shapes_and_gradients(tokens):
    torch.manual_seed(0)
    cmf = CrossModalFusion(rgb_channels=24, pose_channels=12, hidden=16, rgb_frames=4, speed_ratio=4, heads=4,
                           tokens=tokens)
    xr = torch.randn(2, 24, 4, 5, 5, requires_grad=True)
    xp = torch.randn(2, 12, 16, 5, 5, requires_grad=True)
    yr, yp = cmf(xr, xp)
    assert yr.shape == xr.shape and yp.shape == xp.shape
    (yr.square().mean() + yp.square().mean()).backward()
    assert xr.grad.abs().sum() > 0 and xp.grad.abs().sum() > 0
    for name, p in cmf.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    # cross-modal: the RGB output depends on the pose input
    xr2, xp2 = xr.detach(), xp.detach().clone()
    cmf.eval()
    a, _ = cmf(xr2, xp2)
    xp2[:, :, :, 2, 2] += 5.0
    b, _ = cmf(xr2, xp2)
    assert not torch.allclose(a, b)


def test_channel_attention_map_is_channels_by_channels():
    torch.manual_seed(0)
    att = ChannelCrossAttention(dim=12, heads=3, attn_dropout=0.0)
    q, ctx = torch.randn(2, 5, 12), torch.randn(2, 5, 12)  # (B, T=5, C'=12)
    out, attn = att(q, ctx, return_attention=True)
    assert out.shape == (2, 5, 12)
    assert attn.shape == (2, 3, 4, 4)  # (B, heads, C'/heads query channels, C'/heads key channels), not T x T
    assert torch.allclose(attn.sum(-1), torch.ones(2, 3, 4))
    _, attn_t = CrossAttention(dim=12, heads=3, attn_dropout=0.0)(q, ctx, return_attention=True)
    assert attn_t.shape == (2, 3, 5, 5)  # the time-token reading attends over the 5 steps


def test_channel_attention_scores_channels_over_time():
    torch.manual_seed(0)
    att = ChannelCrossAttention(dim=8, heads=2, attn_dropout=0.0)
    q, ctx = torch.randn(1, 6, 8), torch.randn(1, 6, 8)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    out, attn = att(q, ctx, return_attention=True)
    out_p, attn_p = att(q[:, perm], ctx[:, perm], return_attention=True)
    # a channel's score sums over the time steps, so reordering time in both streams leaves the map as it is
    assert torch.allclose(attn_p, attn, atol=1e-6) and torch.allclose(out_p, out[:, perm], atol=1e-6)
    # with one time step, time tokens have one key to attend to and ignore the query; channel tokens still mix
    one = torch.randn(1, 1, 8)
    time_att = CrossAttention(8, heads=2, attn_dropout=0.0)
    assert torch.allclose(time_att(one, ctx[:, :1]), time_att(2 * one + 1, ctx[:, :1]), atol=1e-6)
    assert not torch.allclose(att(one, ctx[:, :1]), att(2 * one + 1, ctx[:, :1]), atol=1e-4)


def test_cmf_update_is_multiplicative_residual():
    cmf = CrossModalFusion(8, 8, 8, rgb_frames=2, heads=2).eval()
    for conv in (cmf.back_rgb, cmf.back_pose):  # W = 0: X'' = X + X * 0 = X
        torch.nn.init.zeros_(conv.weight)
        torch.nn.init.zeros_(conv.bias)
    xr, xp = torch.randn(1, 8, 2, 3, 3), torch.randn(1, 8, 8, 3, 3)
    yr, yp = cmf(xr, xp)
    assert torch.equal(yr, xr) and torch.equal(yp, xp)
    torch.nn.init.constant_(cmf.back_rgb.bias, 1.0)  # W = 1 everywhere: X'' = 2X
    yr, _ = cmf(xr, xp)
    assert torch.allclose(yr, 2 * xr)


def test_cross_attention_single_key_returns_its_value():
    att = CrossAttention(4, heads=2, attn_dropout=0.0)
    q, ctx = torch.randn(1, 3, 4), torch.randn(1, 1, 4)
    out = att(q, ctx)  # softmax over one key is 1: every query gets out(v(ctx))
    assert torch.allclose(out, att.out(att.v(ctx)).expand(1, 3, 4), atol=1e-6)


def test_cmf_inside_rgbpose_defaults_to_channel_tokens():
    cfg = RGBPoseConfig(rgb=rgb_config("small"), pose=pose_config(5, "small", two_stream=True), num_classes=3)
    fusion = fusion_modules(cfg, heads=4, rgb_frames=8)
    assert fusion[0].proj_rgb.out_channels == 32  # hidden = the pose stage width by default
    assert fusion[0].tokens == "channel" and isinstance(fusion[0].rgb_from_pose, ChannelCrossAttention)
    m = RGBPoseConv3D(cfg, fusion)
    lr, lp = m(torch.randn(2, 3, 8, 64, 64), torch.randn(2, 5, 32, 32, 32))
    (lr.sum() + lp.sum()).backward()
    assert m.fusion[0].proj_pose.weight.grad is not None
    with pytest.raises(ValueError, match="tokens"):
        CrossModalFusion(8, 8, 8, rgb_frames=2, tokens="space")
