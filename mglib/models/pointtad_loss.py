"""Set-prediction losses of PointTAD: CE (no-object weight eos_coef), L1 and 1 − IoU on matched segments, dense BCE.

Taught in the book chapter ``20_online``. Auxiliary losses: every earlier decoder layer gets the same class/segment
terms with a fresh matching; the dense term is applied to the final output only.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mglib.models.matcher import hungarian_match, pairwise_iou


@dataclass
class LossConfig:
    w_class: float = 1.0
    w_seg: float = 5.0
    w_iou: float = 5.0
    w_dense: float = 10.0  # Multi-THUMOS and MMA-52 use 10 (Charades 5); the SMG paper does not say
    eos_coef: float = 0.1
    cost_class: float = 10.0
    cost_seg: float = 5.0
    cost_iou: float = 5.0


def dense_targets(targets: list[dict], T: int, num_classes: int) -> torch.Tensor:
    """(B, T, C): frames ⌊s·T⌋ … ⌊e·T⌋ inclusive are 1 for the instance's class (PointTAD ``dense_gt``)."""
    out = torch.zeros(len(targets), T, num_classes)
    for b, t in enumerate(targets):
        seg = t["segments"]
        for lab, c, l in zip(t["labels"].tolist(), seg[:, 0].tolist(), seg[:, 1].tolist()):
            # 1e-6: (centre, length) → (start, end) round-off must not move a boundary that sits on a cell edge
            s, e = int((c - l / 2) * T + 1e-6), int((c + l / 2) * T + 1e-6)
            out[b, max(s, 0): min(e, T - 1) + 1, lab] = 1.0
    return out


def _set_loss(logits, segs, targets, cfg: LossConfig, num_gt: float) -> dict:
    B, Nq, C1 = logits.shape
    match = hungarian_match(logits, segs, targets, cfg.cost_class, cfg.cost_seg, cfg.cost_iou)
    # the matched (window, query) pairs of the whole batch as one index, so that the batch costs a few tensor ops
    # (and one backward node) instead of a few per window
    dev = logits.device
    bi = torch.as_tensor([b for b, (q, _) in enumerate(match) for _ in q], dtype=torch.long, device=dev)
    qi = torch.as_tensor([i for q, _ in match for i in q], dtype=torch.long, device=dev)
    gi = [torch.as_tensor(g, dtype=torch.long, device=t["labels"].device) for t, (_, g) in zip(targets, match)]
    tgt = torch.cat([t["segments"][g] for t, g in zip(targets, gi)]).to(segs)
    tgt_cls = torch.full((B, Nq), C1 - 1, dtype=torch.long, device=dev)  # background = last index
    tgt_cls[bi, qi] = torch.cat([t["labels"][g] for t, g in zip(targets, gi)]).to(dev)
    src = segs[bi, qi]
    weight = torch.ones(C1, device=logits.device)
    weight[-1] = cfg.eos_coef
    loss_ce = F.cross_entropy(logits.transpose(1, 2), tgt_cls, weight=weight)
    if len(src):
        loss_seg = F.l1_loss(src, tgt, reduction="sum") / num_gt
        loss_iou = (1 - torch.diag(pairwise_iou(src, tgt))).sum() / num_gt
    else:
        loss_seg = loss_iou = segs.sum() * 0.0
    return {"ce": loss_ce, "seg": loss_seg, "iou": loss_iou}


def pointtad_loss(out: dict, targets: list[dict], cfg: LossConfig) -> tuple[torch.Tensor, dict]:
    """Total loss and its parts (floats, last layer) for a PointTAD output dict and per-window targets.

    targets[b] = {"labels": (N,) long in [0, C), "segments": (N, 2) (centre, length) in window units}.
    """
    num_gt = max(float(sum(len(t["labels"]) for t in targets)), 1.0)
    total = 0.0
    parts = {}
    for layer_logits, layer_segs in out["layers"]:
        parts = _set_loss(layer_logits, layer_segs, targets, cfg, num_gt)
        total = total + cfg.w_class * parts["ce"] + cfg.w_seg * parts["seg"] + cfg.w_iou * parts["iou"]
    dense = out["dense"]
    dt = dense_targets(targets, dense.shape[1], dense.shape[2]).to(dense)
    loss_dense = F.binary_cross_entropy_with_logits(dense, dt)
    total = total + cfg.w_dense * loss_dense
    logs = {k: float(v.detach()) for k, v in parts.items()}
    logs["dense"] = float(loss_dense.detach())
    return total, logs
