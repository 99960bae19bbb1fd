"""Cross-Modal Fusion module of Chen et al. 2024 (eqs. 1-4), placed at the lateral points of RGBPoseConv3D.

Reading (ambiguities 1-2 of the paper, following the same group's public code for MA-52):
- both streams are projected to a common width C': RGB by a 1x1x1 Conv3d, pose by a Conv3d with kernel and stride
  (speed_ratio, 1, 1), which brings its T_pose = s*T steps down to T; space is max-pooled to 1x1 -> (B, T, C');
- ``tokens="time"`` (default, the reference): the T time steps are the tokens, multi-head attention over them
  (8 heads, scale sqrt(C'/heads), attention dropout 0.1). RGB attends to pose first; pose then attends to the
  *updated* RGB tokens (the attention output of the first step);
- ``tokens="channel"`` (the paper's words "cross-attention on channel dimensions", offered as an ablation): the C'
  channels are the tokens, each a length-T vector, single-head attention between the two streams' channels;
- back-projection (eq. 3): RGB by a 1x1x1 Conv3d to C_rgb, giving (C_rgb, T, 1, 1); pose by a ConvTranspose3d
  (s, 1, 1), stride s, to C_pose, giving (C_pose, s*T, 1, 1). Update X'' = X + X * W, broadcast over space,
  with no sigmoid (as in the reference);
- the lateral connections (eq. 4) read the pre-fusion features; see ``RGBPoseConv3D``.
Book chapter: ``11_classification_analysis`` (ablation without CMF, channel tokens).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class CrossAttention(nn.Module):
    """Multi-head attention of ``query`` tokens (B, Nq, D) over ``context`` tokens (B, Nk, D)."""

    def __init__(self, dim: int, heads: int = 8, attn_dropout: float = 0.1):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.q, self.k, self.v, self.out = (nn.Linear(dim, dim) for _ in range(4))
        self.drop = nn.Dropout(attn_dropout)

    def forward(self, query, context):
        b, nq, d = query.shape
        h = self.heads
        q = self.q(query).view(b, nq, h, d // h).transpose(1, 2)  # (B, h, Nq, d/h)
        k = self.k(context).view(b, -1, h, d // h).transpose(1, 2)  # (B, h, Nk, d/h)
        v = self.v(context).view(b, -1, h, d // h).transpose(1, 2)
        attn = self.drop(F.softmax(q @ k.transpose(-2, -1) / (d // h) ** 0.5, dim=-1))  # (B, h, Nq, Nk)
        return self.out((attn @ v).transpose(1, 2).reshape(b, nq, d))  # (B, Nq, D)


class CrossModalFusion(nn.Module):
    def __init__(self, rgb_channels: int, pose_channels: int, hidden: int, rgb_frames: int, speed_ratio: int = 4,
                 heads: int = 8, attn_dropout: float = 0.1, tokens: str = "time"):
        super().__init__()
        if tokens not in ("time", "channel"):
            raise ValueError(f"tokens must be 'time' or 'channel', got {tokens!r}")
        self.tokens, self.t = tokens, rgb_frames
        s = speed_ratio
        self.proj_rgb = nn.Conv3d(rgb_channels, hidden, 1)
        self.proj_pose = nn.Conv3d(pose_channels, hidden, (s, 1, 1), (s, 1, 1))
        width, n_heads = (hidden, heads) if tokens == "time" else (rgb_frames, 1)
        self.rgb_from_pose = CrossAttention(width, n_heads, attn_dropout)
        self.pose_from_rgb = CrossAttention(width, n_heads, attn_dropout)
        self.back_rgb = nn.Conv3d(hidden, rgb_channels, 1)
        self.back_pose = nn.ConvTranspose3d(hidden, pose_channels, (s, 1, 1), (s, 1, 1))

    def _tokens(self, x, proj):  # (B, C, T', H, W) -> (B, T, C')
        x = F.adaptive_max_pool3d(proj(x), (self.t, 1, 1))  # (B, C', T, 1, 1)
        return x.flatten(2).transpose(1, 2)

    def forward(self, x_rgb, x_pose):
        """``x_rgb`` (B, C_rgb, T, H, W), ``x_pose`` (B, C_pose, s*T, H, W) -> fused pair, same shapes."""
        tr, tp = self._tokens(x_rgb, self.proj_rgb), self._tokens(x_pose, self.proj_pose)  # (B, T, C')
        if self.tokens == "channel":
            tr, tp = tr.transpose(1, 2), tp.transpose(1, 2)  # (B, C', T): channels are the tokens
        ar = self.rgb_from_pose(tr, tp)  # eq. 1-2 for m = RGB: queries from RGB, keys/values from pose
        ap = self.pose_from_rgb(tp, ar)  # m = Pose, attending to the updated RGB tokens
        if self.tokens == "channel":
            ar, ap = ar.transpose(1, 2), ap.transpose(1, 2)  # back to (B, T, C')
        w_rgb = self.back_rgb(ar.transpose(1, 2)[..., None, None])  # (B, C_rgb, T, 1, 1)
        w_pose = self.back_pose(ap.transpose(1, 2)[..., None, None])  # (B, C_pose, s*T, 1, 1)
        return x_rgb + x_rgb * w_rgb, x_pose + x_pose * w_pose  # eq. 3


def fusion_modules(model_cfg, hidden: tuple | None = None, tokens: str = "time", heads: int = 8,
                   rgb_frames: int = 8) -> list:
    """One CMF per lateral point of an ``RGBPoseConfig``; ``hidden`` widths default to the pose stage widths
    (128 and 256 in the paper's model, as in the reference)."""
    from mglib.models.poseconv3d import lateral_points

    points = lateral_points(model_cfg)
    hidden = hidden or tuple(model_cfg.pose.out_channels(p) for _, p in points)
    return [CrossModalFusion(model_cfg.rgb.out_channels(r), model_cfg.pose.out_channels(p), h, rgb_frames,
                             model_cfg.speed_ratio, heads, tokens=tokens)
            for (r, p), h in zip(points, hidden)]
