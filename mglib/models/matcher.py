"""Hungarian matching of set predictions to ground-truth segments (PointTAD / DETR), with scipy.

Taught in the book chapter ``20_online``. Segments are (centre, length) in window units.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment


def cl_to_se(seg: torch.Tensor) -> torch.Tensor:
    """(..., 2) (centre, length) → (..., 2) (start, end)."""
    return torch.stack([seg[..., 0] - seg[..., 1] / 2, seg[..., 0] + seg[..., 1] / 2], dim=-1)


def pairwise_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Plain temporal IoU between (N, 2) and (M, 2) (centre, length) segments → (N, M).

    PointTAD's code calls this term "giou", but it is plain IoU. Disjoint segments give 0; the union is floored at
    1e-6 so two zero-length segments give 0, not NaN.
    """
    a, b = cl_to_se(a), cl_to_se(b)
    inter = (torch.min(a[:, None, 1], b[None, :, 1]) - torch.max(a[:, None, 0], b[None, :, 0])).clamp(min=0)
    union = (a[:, 1] - a[:, 0])[:, None] + (b[:, 1] - b[:, 0])[None, :] - inter
    return inter / union.clamp(min=1e-6)


def matching_cost(logits: torch.Tensor, segs: torch.Tensor, gt_labels: torch.Tensor, gt_segs: torch.Tensor,
                  w_class: float = 10.0, w_seg: float = 5.0, w_iou: float = 5.0) -> torch.Tensor:
    """Cost (Nq, N_gt) = w_class·(−p[gt class]) + w_seg·L1(centre, length) + w_iou·(−IoU)."""
    prob = logits.softmax(-1)  # (Nq, C+1)
    c_class = -prob[:, gt_labels]
    c_seg = torch.cdist(segs, gt_segs, p=1)
    c_iou = -pairwise_iou(segs, gt_segs)
    return w_class * c_class + w_seg * c_seg + w_iou * c_iou


@torch.no_grad()
def hungarian_match(logits: torch.Tensor, segs: torch.Tensor, targets: list[dict], w_class: float = 10.0,
                    w_seg: float = 5.0, w_iou: float = 5.0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per batch element, (query indices, GT indices) of the minimum-cost one-to-one assignment.

    logits (B, Nq, C+1), segs (B, Nq, 2); targets[b] = {"labels": (N,) long, "segments": (N, 2) (centre, length)}.
    """
    counts = [len(t["labels"]) for t in targets]
    if sum(counts) == 0:
        return [(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)) for _ in targets]
    # one cost block for the whole batch against every window's ground truths, then a column slice per window:
    # per-window calls were thousands of tiny tensor ops per step, the largest part of the loss's time
    labels = torch.cat([t["labels"] for t in targets])
    gt_segs = torch.cat([t["segments"] for t in targets]).float()
    B, Nq, _ = logits.shape
    cost = matching_cost(logits.reshape(B * Nq, -1).float(), segs.reshape(B * Nq, 2).float(), labels, gt_segs,
                         w_class, w_seg, w_iou)
    cost = torch.nan_to_num(cost, nan=1e6, posinf=1e6, neginf=-1e6)  # a diverged model must not crash scipy
    cost = cost.reshape(B, Nq, -1).cpu().numpy()
    out, start = [], 0
    for b, n in enumerate(counts):
        qi, gi = linear_sum_assignment(cost[b, :, start:start + n])
        out.append((qi.astype(np.int64), gi.astype(np.int64)))
        start += n
    return out
