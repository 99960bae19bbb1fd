"""Sliding windows over long sequences (PointTAD style), and the unit conversions around them.

Taught in the book chapter ``20_online``. Three units appear:

- *label frames*: the 1-based frame numbers of the annotation files (SMG: skeleton rows at the sequence ``fps``);
- *tokens*: positions of the snippet features, one every ``interval`` (4) frames decoded at ``decode_fps`` (10);
- *window units*: positions inside a window, in [0, 1]; token = window_start + u · window (PointTAD's
  ``s·window_size + base``).

Label frame n is the instant (n − 1) / fps; a token position x is the instant x · interval / decode_fps. Both
conversions below are affine in time, so they invert each other exactly.
"""
from __future__ import annotations

import numpy as np


def frames_to_tokens(frames, fps: float, decode_fps: float = 10.0, interval: int = 4) -> np.ndarray:
    """1-based label frames → token positions (float)."""
    return (np.asarray(frames, dtype=np.float64) - 1.0) / fps * decode_fps / interval


def tokens_to_frames(tokens, fps: float, decode_fps: float = 10.0, interval: int = 4) -> np.ndarray:
    """Token positions → 1-based label frames (float; round when writing files)."""
    return np.asarray(tokens, dtype=np.float64) * interval / decode_fps * fps + 1.0


def window_starts(length: int, window: int, stride: int, end_aligned: bool = True) -> list[int]:
    """Start tokens of windows of ``window`` tokens every ``stride`` tokens, plus an end-aligned window.

    A sequence shorter than one window gets one window at 0 (padded by repeating its last token).
    """
    if window < 1 or stride < 1:
        raise ValueError(f"window {window} and stride {stride} must be >= 1")
    if length <= window:
        return [0]
    starts = list(range(0, length - window + 1, stride))
    if end_aligned and starts[-1] != length - window:
        starts.append(length - window)
    return starts


def train_stride(window: int, overlap: float = 0.75) -> int:
    """Stride of training windows for a given overlap ratio (0.75 → window / 4, PointTAD's default)."""
    return max(1, int(round(window * (1.0 - overlap))))


def slice_window(feats: np.ndarray, start: int, window: int) -> np.ndarray:
    """(T, C) → (window, C) from ``start``; positions past the end repeat the last token."""
    idx = np.minimum(np.arange(start, start + window), len(feats) - 1)
    return feats[idx]


def window_targets(instances: np.ndarray, start: int, window: int) -> np.ndarray:
    """GT instances (N, 3) [label, start_tok, end_tok] → (K, 3) [label, centre, length] in window units.

    Only instances lying entirely inside [start, start + window] are kept (PointTAD's training rule).
    """
    inst = np.asarray(instances, dtype=np.float64).reshape(-1, 3)
    keep = (inst[:, 1] >= start) & (inst[:, 2] <= start + window)
    s = (inst[keep, 1] - start) / window
    e = (inst[keep, 2] - start) / window
    return np.stack([inst[keep, 0], (s + e) / 2, e - s], axis=1)


def training_windows(length: int, instances: np.ndarray, window: int, overlap: float = 0.75) -> list[tuple]:
    """[(start, targets (K, 3))] for the training windows of one sequence; windows left without GT are dropped."""
    out = []
    for st in window_starts(length, window, train_stride(window, overlap)):
        t = window_targets(instances, st, window)
        if len(t):
            out.append((st, t))
    return out


def test_starts(length: int, window: int) -> list[int]:
    """Inference windows: no overlap (stride = window), plus the end-aligned window."""
    return window_starts(length, window, window)


def merge_detections(starts: list[int], window: int, per_window: list[np.ndarray]) -> np.ndarray:
    """Per-window detections (K, 4) [label, score, s, e] in window units → (N, 4) in sequence token positions."""
    rows = []
    for st, d in zip(starts, per_window):
        d = np.asarray(d, dtype=np.float64).reshape(-1, 4).copy()
        d[:, 2:] = st + d[:, 2:] * window
        rows.append(d)
    return np.concatenate(rows) if rows else np.zeros((0, 4))


def nms_1d(dets: np.ndarray, iou: float = 0.5) -> np.ndarray:
    """Same-class greedy 1-D NMS on (N, 4) [label, score, start, end]; keeps rows sorted by score, descending."""
    dets = np.asarray(dets, dtype=np.float64).reshape(-1, 4)
    dets = dets[np.argsort(-dets[:, 1], kind="stable")]
    keep = []
    for i, d in enumerate(dets):
        ok = True
        for j in keep:
            k = dets[j]
            if k[0] != d[0]:
                continue
            inter = max(0.0, min(k[3], d[3]) - max(k[2], d[2]))
            union = (k[3] - k[2]) + (d[3] - d[2]) - inter
            if union > 0 and inter / union > iou:
                ok = False
                break
        if ok:
            keep.append(i)
    return dets[keep]


def select(dets: np.ndarray, score_thresh: float, nms_iou: float | None = 0.5) -> np.ndarray:
    """Detections → an F1 prediction list: keep score ≥ τ, then same-class NMS (architectures.md §8.1 #8)."""
    dets = np.asarray(dets, dtype=np.float64).reshape(-1, 4)
    dets = dets[dets[:, 1] >= score_thresh]
    return nms_1d(dets, nms_iou) if nms_iou is not None else dets[np.argsort(-dets[:, 1], kind="stable")]


def frame_rows(dets: np.ndarray, num_frames: int) -> list[tuple[int, int, int]]:
    """(N, 4) [label, score, start, end] in (float) label frames → [(label, start, end)] integer frames clipped to
    [1, num_frames], end ≥ start."""
    out = []
    for lab, _, s, e in np.asarray(dets, dtype=np.float64).reshape(-1, 4):
        fs = int(np.clip(round(s), 1, num_frames))
        out.append((int(lab), fs, int(np.clip(round(e), fs, num_frames))))
    return out


def to_label_rows(dets: np.ndarray, fps: float, num_frames: int, decode_fps: float = 10.0,
                  interval: int = 4) -> list[tuple[int, int, int]]:
    """(N, 4) token-position detections → [(label, start_frame, end_frame)]: 0-based labels, 1-based label frames.
    Writers of official files add 1 to the label."""
    d = np.asarray(dets, dtype=np.float64).reshape(-1, 4).copy()
    d[:, 2:] = tokens_to_frames(d[:, 2:], fps, decode_fps, interval)
    return frame_rows(d, num_frames)
