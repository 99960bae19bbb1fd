"""PointTAD's frame-level (segmentation) mAP for multi-label per-cell scores (evaluation-protocols.md (f)).

Cells are feature positions (every ``interval`` extracted frames). Per class, the cells of all videos are pooled and
ranked by score; AP is the mean precision at the positive cells (non-interpolated); a class without positive cells
has AP 0 and mAP is the mean over **all** classes. Book: notebooks/02_metrics.
"""
from __future__ import annotations

import numpy as np

from mglib.errors import InputError


def dense_targets(segments, n_frames: int, duration: float, num_classes: int, interval: int = 4) -> np.ndarray:
    """(n_cells, C) 0/1 targets of one video from ``[(class, start_s, end_s), ...]``; fps = n_frames / duration."""
    n_cells = n_frames // interval
    fps = n_frames / duration
    y = np.zeros((n_cells, num_classes), np.float64)
    for c, s, e in segments:
        a, b = int(np.floor(s * fps)) // interval, int(np.floor(e * fps)) // interval
        y[max(a, 0):min(b, n_cells - 1) + 1, int(c)] = 1.0
    return y


def average_precision(scores: np.ndarray, targets: np.ndarray) -> float:
    """Non-interpolated AP of one class: mean precision at each positive, ranked by score (stable on ties)."""
    npos = targets.sum()
    if npos == 0:
        return 0.0
    order = np.argsort(-scores, kind="stable")
    hit = targets[order] > 0
    prec = np.cumsum(hit) / np.arange(1, len(hit) + 1)
    return float(prec[hit].sum() / npos)


def frame_map(scores, targets) -> dict:
    """Frame mAP of per-video scores and targets, each a list of (n_cells, C) arrays (or one stacked array)."""
    S = np.concatenate([np.asarray(s, np.float64) for s in scores]) if isinstance(scores, (list, tuple)) \
        else np.asarray(scores, np.float64)
    Y = np.concatenate([np.asarray(t, np.float64) for t in targets]) if isinstance(targets, (list, tuple)) \
        else np.asarray(targets, np.float64)
    if S.shape != Y.shape or S.ndim != 2:
        raise InputError(f"frame_map: scores {S.shape} and targets {Y.shape} must have the same (cells, C) shape")
    if not np.isfinite(S).all():
        raise InputError("frame_map: scores must be finite")
    ap = np.array([average_precision(S[:, c], Y[:, c]) for c in range(S.shape[1])])
    return {"mAP": float(ap.mean()), "per_class_AP": ap.tolist(), "num_cells": int(S.shape[0])}
