"""Temporal IoU of segments ``[start, end]`` (book chapter: notebooks/02_metrics).

The three official evaluators differ only in the denominator (evaluation-protocols.md (a)):

- ``opentad``: ``inter / max(union, 1e-8)``;
- ``activitynet``: ``inter / union``; the official 0/0 = NaN (which then *matches*) is read as 0 here;
- ``pointtad``: ``inter / (union + 1e-4)``, which pulls every tIoU slightly down.
"""
from __future__ import annotations

import numpy as np

PROTOCOLS = ("opentad", "activitynet", "pointtad")


def _ratio(inter: np.ndarray, union: np.ndarray, protocol: str) -> np.ndarray:
    if protocol == "opentad":
        return inter / np.maximum(union, 1e-8)
    if protocol == "pointtad":
        return inter / (union + 1e-4)
    if protocol == "activitynet":
        with np.errstate(invalid="ignore", divide="ignore"):
            out = inter / union
        return np.where(union > 0, out, 0.0)  # 0/0 (two zero-length segments) counts as no overlap
    raise ValueError(f"unknown protocol {protocol!r}; expected one of {PROTOCOLS}")


def tiou(a, b, protocol: str = "opentad") -> float:
    """tIoU of two segments ``a = [s, e]`` and ``b = [s, e]``."""
    return float(tiou_pairwise(np.asarray([a], float), np.asarray([b], float), protocol)[0, 0])


def tiou_pairwise(A, B, protocol: str = "opentad") -> np.ndarray:
    """tIoU of every segment of ``A`` (n, 2) with every segment of ``B`` (m, 2) -> (n, m)."""
    A = np.asarray(A, dtype=np.float64).reshape(-1, 2)
    B = np.asarray(B, dtype=np.float64).reshape(-1, 2)
    s = np.maximum(A[:, None, 0], B[None, :, 0])  # (n, m)
    e = np.minimum(A[:, None, 1], B[None, :, 1])
    inter = np.clip(e - s, 0.0, None)
    union = (A[:, 1] - A[:, 0])[:, None] + (B[:, 1] - B[:, 0])[None, :] - inter
    return _ratio(inter, union, protocol)


def tiou_rows(A, B, protocol: str = "opentad") -> np.ndarray:
    """Row-wise tIoU of ``A[..., 2]`` and ``B[..., 2]`` (broadcasting), used by the vectorised matcher."""
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    inter = np.clip(np.minimum(A[..., 1], B[..., 1]) - np.maximum(A[..., 0], B[..., 0]), 0.0, None)
    union = (A[..., 1] - A[..., 0]) + (B[..., 1] - B[..., 0]) - inter
    return _ratio(inter, union, protocol)
