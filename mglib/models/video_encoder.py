"""The shared video encoder: an I3D-structured 3D CNN (Carreira & Zisserman 2017) with a width multiplier.

Taught in the book chapter ``04_video_encoder``. ``width=1.0`` is the InceptionI3d layout of the public PyTorch port
(module names ``Conv3d_1a_7x7``, ``Mixed_3b`` … ``Mixed_5c``, branches ``b0, b1a, b1b, b2a, b2b, b3b``, units
``conv3d`` + ``bn``), so a real ``rgb_imagenet.pt`` / Kinetics state dict loads from a local file
(:func:`load_i3d_weights`). ``width=0.125`` is the tiny CPU variant, pretrained here on the synthetic trimmed clips.

As in PointTAD, ``MaxPool3d_5a`` pools (1, 2, 2) with temporal stride 1, so Mixed_4f and Mixed_5c both have temporal
stride 4; :func:`extract_snippet_features` spatially average-pools both levels and concatenates them (T/4, C4f + C5c).
Pixels are scaled to [−1, 1]. Padding is TensorFlow "same" (computed per input size), as in the I3D port.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


# (name, in_channels, [b0, b1a, b1b, b2a, b2b, b3b]) of InceptionI3d at width 1
_MIXED = [
    ("Mixed_3b", 192, [64, 96, 128, 16, 32, 32]),
    ("Mixed_3c", 256, [128, 128, 192, 32, 96, 64]),
    ("Mixed_4b", 480, [192, 96, 208, 16, 48, 64]),
    ("Mixed_4c", 512, [160, 112, 224, 24, 64, 64]),
    ("Mixed_4d", 512, [128, 128, 256, 24, 64, 64]),
    ("Mixed_4e", 512, [112, 144, 288, 32, 64, 64]),
    ("Mixed_4f", 528, [256, 160, 320, 32, 128, 128]),
    ("Mixed_5b", 832, [256, 160, 320, 32, 128, 128]),
    ("Mixed_5c", 832, [384, 192, 384, 48, 128, 128]),
]


@dataclass
class VideoEncoderConfig:
    width: float = 0.125  # 1.0 = I3D; 0.125 = tiny CPU variant
    num_classes: int = 17  # head for pretraining on trimmed clips
    dropout: float = 0.5


def _same_pad(size: int, k: int, s: int) -> tuple[int, int]:
    total = max(k - s, 0) if size % s == 0 else max(k - size % s, 0)
    return total // 2, total - total // 2


class Unit3D(nn.Module):
    """Conv3d (no bias) → BatchNorm (eps 1e-3, momentum 0.01) → ReLU, with TF-"same" padding."""

    def __init__(self, cin: int, cout: int, k=(1, 1, 1), s=(1, 1, 1)):
        super().__init__()
        self.k, self.s = tuple(k), tuple(s)
        self.conv3d = nn.Conv3d(cin, cout, self.k, self.s, bias=False)
        self.bn = nn.BatchNorm3d(cout, eps=1e-3, momentum=0.01)

    def forward(self, x):
        pads = [_same_pad(n, k, s) for n, k, s in zip(x.shape[2:], self.k, self.s)]
        x = F.pad(x, [p for pair in reversed(pads) for p in pair])
        return F.relu(self.bn(self.conv3d(x)))


class MaxPoolSame(nn.Module):
    def __init__(self, k, s):
        super().__init__()
        self.k, self.s = tuple(k), tuple(s)

    def forward(self, x):
        pads = [_same_pad(n, k, s) for n, k, s in zip(x.shape[2:], self.k, self.s)]
        x = F.pad(x, [p for pair in reversed(pads) for p in pair])  # zero pad after ReLU, as the I3D port
        return F.max_pool3d(x, self.k, self.s)


class Inception(nn.Module):
    def __init__(self, cin: int, c: list[int]):
        super().__init__()
        self.b0 = Unit3D(cin, c[0])
        self.b1a, self.b1b = Unit3D(cin, c[1]), Unit3D(c[1], c[2], (3, 3, 3))
        self.b2a, self.b2b = Unit3D(cin, c[3]), Unit3D(c[3], c[4], (3, 3, 3))
        self.b3a, self.b3b = MaxPoolSame((3, 3, 3), (1, 1, 1)), Unit3D(cin, c[5])
        self.out_channels = c[0] + c[2] + c[4] + c[5]

    def forward(self, x):
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], dim=1)


def _w(c: int, width: float) -> int:
    return max(4, int(math.ceil(c * width)))


class VideoEncoder(nn.Module):
    """I3D-structured RGB encoder. ``forward(x (B, 3, T, H, W))`` → class logits (B, num_classes) for pretraining;
    ``levels(x)`` → (Mixed_4f, Mixed_5c) maps, both at temporal stride 4."""

    def __init__(self, cfg: VideoEncoderConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.Conv3d_1a_7x7 = Unit3D(3, _w(64, w), (7, 7, 7), (2, 2, 2))
        self.MaxPool3d_2a_3x3 = MaxPoolSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(_w(64, w), _w(64, w))
        self.Conv3d_2c_3x3 = Unit3D(_w(64, w), _w(192, w), (3, 3, 3))
        self.MaxPool3d_3a_3x3 = MaxPoolSame((1, 3, 3), (1, 2, 2))
        cin = _w(192, w)
        for name, _, c in _MIXED:
            block = Inception(cin, [_w(x, w) for x in c])
            self.add_module(name, block)
            cin = block.out_channels
            if name == "Mixed_3c":
                self.MaxPool3d_4a_3x3 = MaxPoolSame((3, 3, 3), (2, 2, 2))
            if name == "Mixed_4f":
                self.dim_4f = cin
                self.MaxPool3d_5a_2x2 = MaxPoolSame((1, 2, 2), (1, 2, 2))  # PointTAD: temporal stride 1 here
        self.dim_5c = cin
        self.feature_dim = self.dim_4f + self.dim_5c
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(self.dim_5c, cfg.num_classes)

    def levels(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for name in ("Conv3d_1a_7x7", "MaxPool3d_2a_3x3", "Conv3d_2b_1x1", "Conv3d_2c_3x3", "MaxPool3d_3a_3x3",
                     "Mixed_3b", "Mixed_3c", "MaxPool3d_4a_3x3", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e",
                     "Mixed_4f"):
            x = getattr(self, name)(x)
        f4 = x  # (B, C4f, T/4, h, w)
        for name in ("MaxPool3d_5a_2x2", "Mixed_5b", "Mixed_5c"):
            x = getattr(self, name)(x)
        return f4, x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, f5 = self.levels(x)
        return self.head(self.dropout(f5.mean(dim=(2, 3, 4))))  # (B, num_classes)


def rest_frame(frames: np.ndarray) -> np.ndarray:
    """The per-pixel temporal median of a sequence's frames (T, H, W, 3) → (H, W, 3) float32: the static scene and
    the subject's rest pose, which ``frames_to_input(..., rest=...)`` subtracts."""
    return np.median(np.asarray(frames), axis=0).astype(np.float32)


def frames_to_input(frames: np.ndarray | torch.Tensor, rest: np.ndarray | None = None) -> torch.Tensor:
    """(T, H, W, 3) uint8 → (1, 3, T, H, W) float: pixels in [−1, 1] (I3D); with ``rest`` (:func:`rest_frame`),
    the difference from it, ×2 (values in [−4, 4], mostly 0): only what moves away from the rest pose remains."""
    x = torch.as_tensor(np.asarray(frames)).float()
    x = (x / 127.5 - 1.0) if rest is None else (x - torch.as_tensor(rest)) / 63.75
    return x.permute(3, 0, 1, 2).unsqueeze(0)


@torch.no_grad()
def extract_snippet_features(model: VideoEncoder, frames: np.ndarray, stride: int = 4, chunk: int = 256,
                             margin: int = 16, rest: np.ndarray | None = None) -> np.ndarray:
    """(T, H, W, 3) uint8 frames → (ceil(T/4), C4f + C5c) float32 snippet features, model frozen (eval mode).

    Long sequences run in chunks of ``chunk`` frames with ``margin`` frames of context on each side, so the output
    matches a whole-sequence pass except for the receptive field beyond the margin. ``stride`` must be 4 (the
    encoder's temporal stride); it is a parameter only to make the unit explicit at call sites. ``rest``: see
    :func:`frames_to_input`.
    """
    if stride != 4:
        raise ValueError(f"stride {stride}: the I3D-structured encoder has temporal stride 4")
    if chunk % 4 or margin % 4:
        raise ValueError(f"chunk {chunk} and margin {margin} must be multiples of 4")
    model.eval()
    device = next(model.parameters()).device
    T = len(frames)
    out = []
    for a in range(0, T, chunk):
        lo, hi = max(0, a - margin), min(T, a + chunk + margin)
        x = frames_to_input(frames[lo:hi], rest).to(device)
        f4, f5 = model.levels(x)
        f = torch.cat([f4.mean(dim=(3, 4)), f5.mean(dim=(3, 4))], dim=1)[0].T  # (t, C)
        first = (a - lo) // 4
        n = (min(a + chunk, T) - a + 3) // 4
        out.append(f[first:first + n].float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.feature_dim), dtype=np.float32)


def load_i3d_weights(model: VideoEncoder, path: str | Path, with_head: bool = False):
    """Load an InceptionI3d state dict (pytorch-i3d's ``rgb_imagenet.pt``, or a Kinetics checkpoint) from a local
    file into a ``width=1.0`` encoder; the classifier (``logits``) only with ``with_head``. Returns the
    :class:`~mglib.models.checkpoints.LoadReport`. No network access: the file must already be on disk."""
    from mglib.models.checkpoints import load_i3d

    return load_i3d(model, path, with_head)
