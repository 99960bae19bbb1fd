"""A causal temporal-convolution encoder of skeleton sequences: the CPU feature stream of the online study.

Taught in the book chapter ``04_video_encoder``. The input is one vector per frame (normalised joint positions and
velocities, ``mglib.studies.online.stream_skeleton``); a stack of dilated causal 1-D convolutions (WaveNet / TCN
style) turns it into one feature per frame that depends on the current and past frames only, so the same network
runs on a live stream. Pooling every ``stride`` frames gives the detector's tokens.

Pretraining is clip classification: the frame features inside a gesture are averaged and classified (17 gestures
plus a background class).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class SkeletonTCNConfig:
    in_dim: int = 150  # 25 joints x (3 positions + 3 velocities)
    width: int = 64
    dilations: tuple[int, ...] = (1, 2, 4, 8)  # receptive field 1 + (kernel - 1) * sum = 31 frames
    kernel: int = 3
    num_classes: int = 18  # 17 SMG classes + background
    dropout: float = 0.1


class CausalBlock(nn.Module):
    """x + Dropout(ReLU(BN(causal dilated conv(x)))): frame t sees frames t - (k - 1)·d ... t."""

    def __init__(self, width: int, kernel: int, dilation: int, dropout: float):
        super().__init__()
        self.pad = (kernel - 1) * dilation
        self.conv = nn.Conv1d(width, width, kernel, dilation=dilation)
        self.bn = nn.BatchNorm1d(width)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):  # (B, C, T) -> (B, C, T)
        return x + self.drop(F.relu(self.bn(self.conv(F.pad(x, (self.pad, 0))))))


class SkeletonTCN(nn.Module):
    """(B, T, in_dim) frames -> (B, T, width) causal frame features; :meth:`classify` scores clips."""

    def __init__(self, cfg: SkeletonTCNConfig):
        super().__init__()
        self.cfg = cfg
        self.inp = nn.Conv1d(cfg.in_dim, cfg.width, 1)
        self.blocks = nn.ModuleList(CausalBlock(cfg.width, cfg.kernel, d, cfg.dropout) for d in cfg.dilations)
        self.head = nn.Linear(cfg.width, cfg.num_classes)

    @property
    def receptive_field(self) -> int:
        return 1 + (self.cfg.kernel - 1) * sum(self.cfg.dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x.transpose(1, 2))  # (B, C, T)
        for blk in self.blocks:
            h = blk(h)
        return h.transpose(1, 2)  # (B, T, C)

    def classify(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Clip logits (B, num_classes): the frame features where ``mask`` (B, T) is True, averaged."""
        h = self(x)
        w = mask.to(h.dtype).unsqueeze(-1)
        return self.head((h * w).sum(1) / w.sum(1).clamp(min=1.0))


def pool_tokens(frames: torch.Tensor, stride: int) -> torch.Tensor:
    """(T, C) frame features -> (ceil(T / stride), C): the mean of each group of ``stride`` frames (the last group
    may be shorter). Token k depends on frames up to stride·(k + 1) − 1 only."""
    T, C = frames.shape
    n = -(-T // stride)
    x = F.pad(frames, (0, 0, 0, n * stride - T))  # zero rows, left out of the counts below
    counts = (T - stride * torch.arange(n)).clamp(max=stride).to(frames.dtype)
    return x.view(n, stride, C).sum(1) / counts[:, None]
