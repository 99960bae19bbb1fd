"""The skeleton stream: causal preprocessing of the Kinect joints, trimmed training clips, and token features.

Taught in the book chapter ``04_video_encoder``. Every step uses the current and past frames only, so the stream
runs live (the detector then waits for a full window, see chapter 20):

1. block means of the 30-fps skeleton rows down to the decoding rate (10 fps): decoded frame i averages the rows of
   [i/10, (i+1)/10) s, which also halves the Kinect jitter;
2. joints relative to the spine base, divided by the running mean (over past frames) of the spine length, and
   turned about the vertical axis so that the running mean of the hip line lies along x (camera yaw removed);
3. velocities: the difference to the previous decoded frame (×5, to the positions' scale);
4. a dilated causal TCN (``mglib.models.skeleton_tcn``) and the mean of every ``INTERVAL`` frames: one token per
   0.4 s, aligned with the RGB stream's tokens.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from mglib.data import smg
from mglib.models.skeleton_tcn import SkeletonTCN, SkeletonTCNConfig, pool_tokens
from mglib.studies.online.config import INTERVAL, SkeletonStreamConfig

NUM_CLASSES = 17
BACKGROUND = NUM_CLASSES  # the 18th clip class: no gesture
SPINE_BASE, SPINE_SHOULDER, HIP_LEFT, HIP_RIGHT = 0, 20, 12, 16
VELOCITY_SCALE = 5.0
FLIP = np.arange(smg.NUM_JOINTS)
for _a, _b in smg.FLIP_PAIRS:
    FLIP[_a], FLIP[_b] = _b, _a
_MIRROR = np.array([-1, 1, 1, -1, 1, 1], np.float32)  # x of the position and of the velocity change sign


def resample(rows: np.ndarray, fps: float, decode_fps: float) -> np.ndarray:
    """(T, ...) rows at ``fps`` → (ceil(T · decode_fps / fps), ...): decoded frame i is the mean of the rows whose
    instants fall in [i, i + 1) / decode_fps."""
    T = len(rows)
    n = int(np.ceil(T * decode_fps / fps))
    starts = np.minimum(np.ceil(np.arange(n) * fps / decode_fps).astype(np.int64), T - 1)
    counts = np.maximum(np.diff(np.append(starts, T)), 1)
    return np.add.reduceat(rows, starts, axis=0) / counts.reshape((-1,) + (1,) * (rows.ndim - 1))


def normalise(skeleton: np.ndarray, fps: float, decode_fps: float) -> np.ndarray:
    """(T, 25, ≥3) Kinect rows → (T', 25, 6) float32 [x, y, z, vx, vy, vz] at ``decode_fps``, causal: frame t
    depends on rows up to the end of its own interval only (see the module docstring)."""
    xyz = resample(np.asarray(skeleton, np.float64)[:, :, :3], fps, decode_fps)  # (T', 25, 3)
    seen = np.arange(1, len(xyz) + 1, dtype=np.float64)[:, None]
    rel = xyz - xyz[:, SPINE_BASE:SPINE_BASE + 1]
    spine = np.linalg.norm(xyz[:, SPINE_SHOULDER] - xyz[:, SPINE_BASE], axis=-1)
    scale = np.maximum(np.cumsum(spine) / seen[:, 0], 1e-3)  # running mean over past frames
    hips = np.cumsum(xyz[:, HIP_LEFT] - xyz[:, HIP_RIGHT], axis=0) / seen
    yaw = np.arctan2(hips[:, 2], hips[:, 0])[:, None]
    c, s = np.cos(yaw), np.sin(yaw)
    pos = np.stack([rel[..., 0] * c + rel[..., 2] * s, rel[..., 1], rel[..., 2] * c - rel[..., 0] * s], -1)
    pos /= scale[:, None, None]
    vel = np.diff(pos, axis=0, prepend=pos[:1]) * VELOCITY_SCALE
    return np.concatenate([pos, vel], -1).astype(np.float32)


def gesture_spans(labels: np.ndarray, fps: float, decode_fps: float) -> np.ndarray:
    """GT rows [label, start, end] (1-based label frames at ``fps``) → (N, 3) [label, first, last] decoded frames
    (float)."""
    lab = np.asarray(labels, dtype=np.float64).reshape(-1, 3)
    return np.stack([lab[:, 0], (lab[:, 1] - 1) / fps * decode_fps, (lab[:, 2] - 1) / fps * decode_fps], axis=1)


def background_spans(spans: np.ndarray, num_frames: int, every: int, length: int = 15, margin: int = 2) -> np.ndarray:
    """Background clips (label ``BACKGROUND``) of ``length`` decoded frames, one every ``every`` frames where the
    clip stays ``margin`` frames clear of every gesture → (M, 3) [label, first, last]."""
    free = np.ones(num_frames, bool)
    for _, a, b in spans:
        free[max(0, int(a) - margin):int(np.ceil(b)) + margin + 1] = False
    rows = [[BACKGROUND, c, c + length - 1] for c in range(0, num_frames - length, every) if free[c:c + length].all()]
    return np.asarray(rows, dtype=np.float64).reshape(-1, 3)


class SkeletonClips(Dataset):
    """Trimmed clips of normalised sequences: each item is the clip with ``context`` frames of history before it,
    a mask over the clip's own frames, and its label. Training jitters the clip ends by up to 2 frames and mirrors
    half of the clips (left and right joints swapped)."""

    def __init__(self, inputs: list[np.ndarray], spans: list[np.ndarray], context: int, train: bool):
        self.inputs, self.context, self.train = inputs, context, train
        self.items = [(i, *row) for i, sp in enumerate(spans) for row in sp]
        self.labels = np.asarray([int(it[1]) for it in self.items], dtype=np.int64)

    def __len__(self):
        return len(self.items)

    def __getitem__(self, k):
        i, lab, a, b = self.items[k]
        X = self.inputs[i]
        if self.train:
            a, b = a + float(np.random.uniform(-2, 2)), b + float(np.random.uniform(-2, 2))
        a = int(np.clip(round(a), 0, len(X) - 1))
        b = int(np.clip(round(b), a, len(X) - 1))
        lo = max(0, a - self.context)
        x = X[lo:b + 1]
        if self.train and np.random.random() < 0.5:
            x = x[:, FLIP] * _MIRROR
        mask = np.zeros(len(x), bool)
        mask[a - lo:] = True
        return torch.from_numpy(np.ascontiguousarray(x.reshape(len(x), -1))), torch.from_numpy(mask), int(lab)


def collate_clips(items):
    """Right-padded batch: (B, L, C) inputs, (B, L) masks, (B,) labels. Padding after a clip cannot reach its frames
    through causal convolutions."""
    L = max(len(x) for x, _, _ in items)
    x = torch.zeros(len(items), L, items[0][0].shape[1])
    m = torch.zeros(len(items), L, dtype=torch.bool)
    for i, (xi, mi, _) in enumerate(items):
        x[i, :len(xi)], m[i, :len(mi)] = xi, mi
    return x, m, torch.tensor([y for _, _, y in items])


def clip_set(cfg: SkeletonStreamConfig, seqs, train: bool) -> SkeletonClips:
    """Gesture and background clips of SMG sequences ``seqs``."""
    inputs, spans = [], []
    for s in seqs:
        X = normalise(s.skeleton, s.fps, cfg.decode_fps)
        sp = gesture_spans(s.labels, s.fps, cfg.decode_fps)
        inputs.append(X)
        spans.append(np.concatenate([sp, background_spans(sp, len(X), cfg.background_every)]))
    return SkeletonClips(inputs, spans, cfg.context, train)


def build_encoder(cfg: SkeletonStreamConfig) -> SkeletonTCN:
    return SkeletonTCN(SkeletonTCNConfig(in_dim=smg.NUM_JOINTS * 6, width=cfg.width, dilations=tuple(cfg.dilations),
                                         kernel=cfg.kernel, num_classes=NUM_CLASSES + 1, dropout=cfg.dropout))


@torch.no_grad()
def token_features(model: SkeletonTCN, X: np.ndarray) -> np.ndarray:
    """(T', 25, 6) normalised frames → (ceil(T' / INTERVAL), width + 18) float32 tokens of the frozen encoder:
    the frame features and the clip head's class probabilities of each frame (17 gestures + background), pooled.
    The probabilities hand the detector the pretraining's class evidence directly."""
    h = model.eval()(torch.from_numpy(X.reshape(len(X), -1))[None])[0]  # (T', width)
    frames = torch.cat([h, model.head(h).softmax(-1)], dim=-1)
    return pool_tokens(frames, INTERVAL).numpy().astype(np.float32)
