"""PoseConv3D (pose pathway), a SlowOnly RGB pathway and RGBPoseConv3D with bidirectional lateral connections.

Follows pyskl's ``ResNet3dSlowOnly`` / ``RGBPoseConv3D`` (Duan et al. 2022): bottleneck 3-D ResNets whose early
stages use 1x3x3 convolutions only, and "inflate" later stages with a 3x1x1 temporal kernel. Widths and depths are
configurable: :func:`pose_config` / :func:`rgb_config` give the paper's sizes and the small CPU ones.
Book chapter: ``10_classification``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class PathwayConfig:
    in_channels: int = 17  # heatmap channels (joints and/or limbs) or 3 for RGB
    base_channels: int = 32  # planes of the first stage; stage i has base * 2**i planes, outputs 4x that
    stage_blocks: tuple = (4, 6, 3)  # bottlenecks per stage
    spatial_strides: tuple = (2, 2, 2)
    temporal_strides: tuple = (1, 1, 2)
    inflate: tuple = (0, 1, 1)  # 1: the stage's bottlenecks start with a 3x1x1 conv
    stem_kernel: tuple = (1, 7, 7)
    stem_stride: int = 1  # spatial stride of the stem conv
    pool_stride: int = 1  # spatial stride of the stem max-pool (3x3)
    expansion: int = 4
    zero_init_residual: bool = True

    def out_channels(self, stage: int) -> int:
        return self.base_channels * 2 ** stage * self.expansion


def pose_config(num_channels: int, size: str = "paper", two_stream: bool = False) -> PathwayConfig:
    """PoseConv3D's pose pathway. ``paper``: ResNet-50 res3-res5 (4, 6, 3), base 32, 512-d output.
    ``small``: base 8, one bottleneck per stage; ``tiny``: base 4 and a 1x3x3 stem (the 1x7x7 stem dominates the
    cost of a small model on a CPU). Inside RGBPoseConv3D the temporal strides are 1."""
    t_last = 1 if two_stream else 2
    if size == "paper":
        return PathwayConfig(num_channels, 32, (4, 6, 3), (2, 2, 2), (1, 1, t_last), (0, 1, 1))
    if size == "small":
        return PathwayConfig(num_channels, 8, (1, 1), (2, 2), (1, t_last), (0, 1))
    if size == "tiny":
        return PathwayConfig(num_channels, 4, (1, 1), (2, 2), (1, t_last), (0, 1), stem_kernel=(1, 3, 3))
    raise ValueError(f"unknown size {size!r} (paper, small, tiny)")


def rgb_config(size: str = "paper") -> PathwayConfig:
    """SlowOnly RGB pathway. ``paper``: ResNet-50 (3, 4, 6, 3), base 64, stem stride 2 + pool stride 2, 2048-d.
    ``small``: base 8, one bottleneck per stage, three stages, no stem pooling stride (so a 64x64 clip meets a
    32x32 pose volume at the lateral point, as 224x224 meets 56x56 in the paper's model)."""
    if size == "paper":
        return PathwayConfig(3, 64, (3, 4, 6, 3), (1, 2, 2, 2), (1, 1, 1, 1), (0, 0, 1, 1), stem_stride=2,
                             pool_stride=2)
    if size == "small":
        return PathwayConfig(3, 8, (1, 1, 1), (1, 2, 2), (1, 1, 1), (0, 0, 1), stem_stride=2, pool_stride=1)
    if size == "tiny":  # as small with base 4 and a 1x3x3 stem
        return PathwayConfig(3, 4, (1, 1, 1), (1, 2, 2), (1, 1, 1), (0, 0, 1), stem_kernel=(1, 3, 3), stem_stride=2,
                             pool_stride=1)
    raise ValueError(f"unknown size {size!r} (paper, small, tiny)")


def _conv_bn(cin, cout, kernel, stride=(1, 1, 1), relu=True):
    pad = tuple(k // 2 for k in kernel)
    layers = [nn.Conv3d(cin, cout, kernel, stride, pad, bias=False), nn.BatchNorm3d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class Bottleneck3d(nn.Module):
    def __init__(self, cin, planes, spatial_stride=1, temporal_stride=1, inflate=False, expansion=4):
        super().__init__()
        cout = planes * expansion
        stride = (temporal_stride, spatial_stride, spatial_stride)
        self.conv1 = _conv_bn(cin, planes, (3, 1, 1) if inflate else (1, 1, 1))
        self.conv2 = _conv_bn(planes, planes, (1, 3, 3), stride)
        self.conv3 = _conv_bn(planes, cout, (1, 1, 1), relu=False)
        self.downsample = None
        if cin != cout or stride != (1, 1, 1):
            self.downsample = _conv_bn(cin, cout, (1, 1, 1), stride, relu=False)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(self.conv3(self.conv2(self.conv1(x))) + identity)


class Pathway(nn.Module):
    """A ResNet3dSlowOnly pathway. ``extra_in[i]`` widens stage i's input (RGBPoseConv3D laterals)."""

    def __init__(self, cfg: PathwayConfig, extra_in: tuple | None = None):
        super().__init__()
        self.cfg = cfg
        n = len(cfg.stage_blocks)
        extra_in = tuple(extra_in or (0,) * n)
        self.stem = _conv_bn(cfg.in_channels, cfg.base_channels, cfg.stem_kernel, (1, cfg.stem_stride, cfg.stem_stride))
        self.pool = nn.MaxPool3d((1, 3, 3), (1, cfg.pool_stride, cfg.pool_stride), (0, 1, 1))
        self.stages = nn.ModuleList()
        cin = cfg.base_channels
        for i, blocks in enumerate(cfg.stage_blocks):
            planes = cfg.base_channels * 2 ** i
            layers = []
            for b in range(blocks):
                layers.append(Bottleneck3d((cin + extra_in[i]) if b == 0 else cin, planes,
                                           cfg.spatial_strides[i] if b == 0 else 1,
                                           cfg.temporal_strides[i] if b == 0 else 1,
                                           bool(cfg.inflate[i]), cfg.expansion))
                cin = planes * cfg.expansion
            self.stages.append(nn.Sequential(*layers))
        self.out_channels = cin
        if cfg.zero_init_residual:  # each residual branch starts as identity, as in pyskl
            for m in self.modules():
                if isinstance(m, Bottleneck3d):
                    nn.init.zeros_(m.conv3[1].weight)

    def forward_stem(self, x):
        return self.pool(self.stem(x))

    def forward(self, x):  # (B, C, T, H, W) -> (B, C_out, T', H', W')
        x = self.forward_stem(x)
        for stage in self.stages:
            x = stage(x)
        return x


class ClsHead(nn.Module):
    """I3D head: global average pool, dropout, linear (init std 0.01)."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.5):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_channels, num_classes)
        nn.init.normal_(self.fc.weight, std=0.01)
        nn.init.zeros_(self.fc.bias)

    def forward(self, feat):  # (B, C, T, H, W) -> (B, K)
        return self.fc(self.dropout(feat.mean(dim=(2, 3, 4))))


class Recognizer3D(nn.Module):
    """One pathway + head: PoseConv3D when fed heatmaps, a SlowOnly RGB 3D CNN when fed frames."""

    def __init__(self, cfg: PathwayConfig, num_classes: int, dropout: float = 0.5):
        super().__init__()
        self.backbone = Pathway(cfg)
        self.head = ClsHead(self.backbone.out_channels, num_classes, dropout)

    def forward(self, x, return_features: bool = False):
        feat = self.backbone(x)
        logits = self.head(feat)
        return (logits, feat) if return_features else logits


@dataclass
class RGBPoseConfig:
    rgb: PathwayConfig = field(default_factory=rgb_config)
    pose: PathwayConfig = field(default_factory=lambda: pose_config(17, two_stream=True))
    speed_ratio: int = 4  # pose frames per RGB frame (32 / 8)
    fusion_kernel: int = 7  # temporal kernel of the lateral convs
    rgb_to_pose_ratio: int = 16  # RGB lateral width / this = channels sent to the pose path (512 -> 32)
    num_classes: int = 32
    dropout: float = 0.5


def lateral_points(cfg: RGBPoseConfig) -> list[tuple[int, int]]:
    """(RGB stage, pose stage) pairs after which the two paths exchange features."""
    return [(k, k - 1) for k in range(1, len(cfg.rgb.stage_blocks) - 1)]


class RGBPoseConv3D(nn.Module):
    """Two pathways with bidirectional laterals (pyskl ``RGBPoseConv3D``).

    Lateral points pair RGB stage k with pose stage k-1, for every RGB stage but the first and the last (the
    paper's model: RGB layer2/layer3 with pose layer1/layer2). At each point
    - pose -> RGB: Conv3d (7, 1, 1), temporal stride ``speed_ratio``, same width, no BN/ReLU;
    - RGB -> pose: ConvTranspose3d (7, 1, 1), temporal stride ``speed_ratio``, width / ``rgb_to_pose_ratio``,
      then BN + ReLU;
    and each path's next stage takes ``[own features ; lateral]`` (this order keeps pyskl's weight layout).

    ``fusion`` is an optional list of modules, one per lateral point, called as ``fusion[i](x_rgb, x_pose)`` and
    returning the fused pair (the cross-modal fusion of the paper); the laterals always read the *pre-fusion*
    features (reference reading of eq. 4: ``[X''_rgb ; Conv3d(X_pose)]``).
    """

    def __init__(self, cfg: RGBPoseConfig, fusion: list | None = None):
        super().__init__()
        self.cfg = cfg
        n_rgb, n_pose = len(cfg.rgb.stage_blocks), len(cfg.pose.stage_blocks)
        if n_pose != n_rgb - 1:
            raise ValueError(f"the pose path needs one stage fewer than the RGB path, got {n_pose} and {n_rgb}")
        self.points = lateral_points(cfg)
        rgb_extra, pose_extra = [0] * n_rgb, [0] * n_pose
        k_t, s, pad = cfg.fusion_kernel, cfg.speed_ratio, cfg.fusion_kernel // 2
        self.pose_to_rgb, self.rgb_to_pose = nn.ModuleList(), nn.ModuleList()
        for r, p in self.points:
            c_r, c_p = cfg.rgb.out_channels(r), cfg.pose.out_channels(p)
            c_rp = max(1, c_r // cfg.rgb_to_pose_ratio)
            self.pose_to_rgb.append(nn.Conv3d(c_p, c_p, (k_t, 1, 1), (s, 1, 1), (pad, 0, 0), bias=False))
            self.rgb_to_pose.append(nn.Sequential(
                nn.ConvTranspose3d(c_r, c_rp, (k_t, 1, 1), (s, 1, 1), (pad, 0, 0), output_padding=(s - 1, 0, 0),
                                   bias=False),
                nn.BatchNorm3d(c_rp), nn.ReLU(inplace=True)))
            rgb_extra[r + 1] = c_p
            pose_extra[p + 1] = c_rp
        self.rgb = Pathway(cfg.rgb, tuple(rgb_extra))
        self.pose = Pathway(cfg.pose, tuple(pose_extra))
        self.fusion = nn.ModuleList(fusion) if fusion is not None else None
        if self.fusion is not None and len(self.fusion) != len(self.points):
            raise ValueError(f"need {len(self.points)} fusion modules, got {len(self.fusion)}")
        self.rgb_head = ClsHead(self.rgb.out_channels, cfg.num_classes, cfg.dropout)
        self.pose_head = ClsHead(self.pose.out_channels, cfg.num_classes, cfg.dropout)

    def features(self, rgb, pose):
        """``rgb`` (B, 3, T, H, W), ``pose`` (B, K, s*T, h, w) -> final maps of both paths, and the lateral
        features seen at each point (for tests and plots)."""
        xr, xp = self.rgb.forward_stem(rgb), self.pose.forward_stem(pose)
        xr = self.rgb.stages[0](xr)
        seen = []
        for i, (r, p) in enumerate(self.points):
            xr = self.rgb.stages[r](xr)
            xp = self.pose.stages[p](xp)
            lat_r, lat_p = self.pose_to_rgb[i](xp), self.rgb_to_pose[i](xr)  # pre-fusion features
            if self.fusion is not None:
                xr, xp = self.fusion[i](xr, xp)
            seen.append({"rgb": xr.shape, "pose": xp.shape, "to_rgb": lat_r.shape, "to_pose": lat_p.shape})
            xr, xp = torch.cat([xr, lat_r], dim=1), torch.cat([xp, lat_p], dim=1)
        xr = self.rgb.stages[-1](xr)
        xp = self.pose.stages[-1](xp)
        return xr, xp, seen

    def forward(self, rgb, pose, return_features: bool = False):
        fr, fp, _ = self.features(rgb, pose)
        out = (self.rgb_head(fr), self.pose_head(fp))
        return (*out, fr, fp) if return_features else out

    def load_single_stream(self, rgb_model: Recognizer3D | None = None, pose_model: Recognizer3D | None = None):
        """Initialise from separately trained single-modality models (the paper's recipe). Weights whose shape
        differs (the first conv of a stage widened by a lateral) copy the overlapping input channels, which come
        first because the laterals are concatenated after the own features. Returns the number of tensors copied."""
        copied = 0
        for mine, head, src in ((self.rgb, self.rgb_head, rgb_model), (self.pose, self.pose_head, pose_model)):
            if src is None:
                continue
            for dst_mod, src_mod in ((mine, src.backbone), (head, src.head)):
                dst_state = dst_mod.state_dict()
                for name, w in src_mod.state_dict().items():
                    if name not in dst_state:
                        continue
                    d = dst_state[name]
                    if d.shape == w.shape:
                        d.copy_(w)
                    elif d.dim() == w.dim() and d.dim() >= 2 and d.shape[0] == w.shape[0] and d.shape[2:] == w.shape[2:]:
                        d.zero_()
                        d[:, :w.shape[1]].copy_(w)
                    else:
                        continue
                    copied += 1
        return copied


def load_pyskl_weights(model: Recognizer3D | RGBPoseConv3D, path, with_head: bool = False):
    """Load a local PYSKL / mmaction2 checkpoint (PoseConv3D into a :class:`Recognizer3D` of the paper's size,
    RGBPoseConv3D into an :class:`RGBPoseConv3D`); the classifier only with ``with_head``. Returns the
    :class:`~mglib.models.checkpoints.LoadReport`; key maps in :mod:`mglib.models.checkpoints`."""
    from mglib.models.checkpoints import load_pyskl

    return load_pyskl(model, path, with_head)
