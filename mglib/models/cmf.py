"""Cross-Modal Fusion module of Chen et al. 2024 (eqs. 1-4), placed at the lateral points of RGBPoseConv3D.

Both streams are projected to a common width C' (RGB by a 1x1x1 Conv3d, pose by a Conv3d with kernel and stride
(speed_ratio, 1, 1), which brings its s*T steps down to T) and space is max-pooled to 1x1, giving X' (B, T, C').
Eq. 2's projections Q = W^q X', K = W^k X', V = W^v X' act on the channel features as usual; what differs is the axis
the attention runs over:
- ``tokens="channel"`` (default; the paper: "cross-attention based on channel dimensions"): the C' channels are the
  tokens. The attention map is C' x C' per sample (split into ``heads`` groups of C'/heads channels, as XCiT's
  cross-covariance attention), each entry the dot product of two channels' T-step responses, scaled by sqrt(T);
  the output is a mix of the other stream's channels;
- ``tokens="time"`` (this project's earlier reading of the same group's public code for MA-52, kept as an
  ablation): the T time steps are the tokens, multi-head attention over them with scale sqrt(C'/heads).
RGB attends to pose first; pose then attends to the *updated* RGB tokens (the reference's order). Attention dropout
0.1. Back-projection (eq. 3): RGB by a 1x1x1 Conv3d to C_rgb, giving (C_rgb, T, 1, 1); pose by a ConvTranspose3d
(s, 1, 1), stride s, to C_pose, giving (C_pose, s*T, 1, 1). Update X'' = X + X * W, broadcast over space, with no
sigmoid (as in the reference). The lateral connections (eq. 4) read the pre-fusion features; see ``RGBPoseConv3D``.
Book chapters: ``10_classification``, ``11_classification_analysis``.
"""
from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F


class CrossAttention(nn.Module):
    """Multi-head attention of ``query`` tokens (B, Nq, D) over ``context`` tokens (B, Nk, D): time tokens."""

    def __init__(self, dim: int, heads: int = 8, attn_dropout: float = 0.1):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.q, self.k, self.v, self.out = (nn.Linear(dim, dim) for _ in range(4))
        self.drop = nn.Dropout(attn_dropout)

    def forward(self, query, context, return_attention: bool = False):
        b, nq, d = query.shape
        h = self.heads
        q = self.q(query).view(b, nq, h, d // h).transpose(1, 2)  # (B, h, Nq, d/h)
        k = self.k(context).view(b, -1, h, d // h).transpose(1, 2)  # (B, h, Nk, d/h)
        v = self.v(context).view(b, -1, h, d // h).transpose(1, 2)
        attn = F.softmax(q @ k.transpose(-2, -1) / (d // h) ** 0.5, dim=-1)  # (B, h, Nq, Nk)
        out = self.out((self.drop(attn) @ v).transpose(1, 2).reshape(b, nq, d))  # (B, Nq, D)
        return (out, attn) if return_attention else out


class ChannelCrossAttention(CrossAttention):
    """Cross-attention whose tokens are channels: ``query`` (B, T, C) from one stream, ``context`` (B, T, C) from
    the other; the map (B, h, C/h, C/h) relates query channels to context channels over the T steps. The same
    projections as :class:`CrossAttention`; only the axis of the attention differs."""

    def forward(self, query, context, return_attention: bool = False):
        b, t, d = query.shape
        h = self.heads

        def channels(x):  # (B, T, C) -> (B, h, C/h, T): one token per channel, its T responses as features
            return x.view(b, t, h, d // h).permute(0, 2, 3, 1)

        q, k, v = channels(self.q(query)), channels(self.k(context)), channels(self.v(context))
        attn = F.softmax(q @ k.transpose(-2, -1) / t ** 0.5, dim=-1)  # (B, h, C/h, C/h)
        out = self.out((self.drop(attn) @ v).permute(0, 3, 1, 2).reshape(b, t, d))  # (B, T, C)
        return (out, attn) if return_attention else out


class CrossModalFusion(nn.Module):
    def __init__(self, rgb_channels: int, pose_channels: int, hidden: int, rgb_frames: int, speed_ratio: int = 4,
                 heads: int = 8, attn_dropout: float = 0.1, tokens: str = "channel"):
        super().__init__()
        if tokens not in ("channel", "time"):
            raise ValueError(f"tokens must be 'channel' or 'time', got {tokens!r}")
        self.tokens, self.t = tokens, rgb_frames
        s = speed_ratio
        self.proj_rgb = nn.Conv3d(rgb_channels, hidden, 1)
        self.proj_pose = nn.Conv3d(pose_channels, hidden, (s, 1, 1), (s, 1, 1))
        attention = ChannelCrossAttention if tokens == "channel" else CrossAttention
        self.rgb_from_pose = attention(hidden, heads, attn_dropout)
        self.pose_from_rgb = attention(hidden, heads, attn_dropout)
        self.back_rgb = nn.Conv3d(hidden, rgb_channels, 1)
        self.back_pose = nn.ConvTranspose3d(hidden, pose_channels, (s, 1, 1), (s, 1, 1))

    def _tokens(self, x, proj):  # (B, C, T', H, W) -> (B, T, C')
        x = F.adaptive_max_pool3d(proj(x), (self.t, 1, 1))  # (B, C', T, 1, 1)
        return x.flatten(2).transpose(1, 2)

    def forward(self, x_rgb, x_pose):
        """``x_rgb`` (B, C_rgb, T, H, W), ``x_pose`` (B, C_pose, s*T, H, W) -> fused pair, same shapes."""
        tr, tp = self._tokens(x_rgb, self.proj_rgb), self._tokens(x_pose, self.proj_pose)  # (B, T, C')
        ar = self.rgb_from_pose(tr, tp)  # eqs. 1-2 for m = RGB: queries from RGB, keys/values from pose
        ap = self.pose_from_rgb(tp, ar)  # m = Pose, attending to the updated RGB tokens
        w_rgb = self.back_rgb(ar.transpose(1, 2)[..., None, None])  # (B, C_rgb, T, 1, 1)
        w_pose = self.back_pose(ap.transpose(1, 2)[..., None, None])  # (B, C_pose, s*T, 1, 1)
        return x_rgb + x_rgb * w_rgb, x_pose + x_pose * w_pose  # eq. 3


def fusion_modules(model_cfg, hidden: tuple | None = None, tokens: str = "channel", heads: int = 8,
                   rgb_frames: int = 8) -> list:
    """One CMF per lateral point of an ``RGBPoseConfig``; ``hidden`` widths default to the pose stage widths
    (128 and 256 in the paper's model, as in the reference)."""
    from mglib.models.poseconv3d import lateral_points

    points = lateral_points(model_cfg)
    hidden = hidden or tuple(model_cfg.pose.out_channels(p) for _, p in points)
    return [CrossModalFusion(model_cfg.rgb.out_channels(r), model_cfg.pose.out_channels(p), h, rgb_frames,
                             model_cfg.speed_ratio, heads, tokens=tokens)
            for (r, p), h in zip(points, hidden)]
