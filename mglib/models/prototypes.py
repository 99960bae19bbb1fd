"""Prototypical Refinement Module of Chen et al. 2024 (eqs. 5-10), adapted from FR-Head (Zhou et al. 2023).

Readings of the paper's open points (architectures.md section 8.2), chosen here:
- ``dis`` is the cosine *similarity* of L2-normalised vectors; only that makes the signs of eqs. 7-9 consistent;
- the feature is F' = Linear(spatial max-pool(time-mean(F_x))), D = 256 by default, L2-normalised;
- TP / FN / FP sets are per class and per batch, from the arg-max of the stream's logits;
- the calibration terms apply to TP samples only, as the paper writes (``variant="tp"``); FR-Head's "V0" applies
  them to every sample of class k (``variant="all"``);
- prototypes are a buffer (saved in checkpoints), random normal then L2-normalised; in training mode each class
  with a TP in the batch is updated by EMA (eq. 6, rho = 0.9) *before* the loss, then re-normalised; the loss
  uses the updated prototypes, detached; classes without a TP keep theirs;
- eq. 9 in its exponential form (file 002 of the paper): two cross-entropies over s_il = cos(F_i, P_l) / tau, the
  first with the true-class logit lowered by (1 - p_ik) * varphi_i (FP penalty), the second by
  (1 - p_ik) * phi_i (FN compensation); L_PR is their sum, averaged over the batch;
- tau = 0.125; p_ik keeps its gradient unless ``detach_prob``; the weight alpha of L = CE + alpha * L_PR lives
  in the study config (0.2 by default, the reference's 1/5).
Book chapter: ``11_classification_analysis``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class PRMConfig:
    dim: int = 256
    tau: float = 0.125
    rho: float = 0.9
    variant: str = "tp"  # "tp": terms for TP samples only (the paper); "all": every sample of class k (FR-Head V0)
    detach_prob: bool = False


def ambiguous_sets(pred: torch.Tensor, labels: torch.Tensor, num_classes: int):
    """Per-class membership masks (B, K) of true positives, false negatives and false positives."""
    y = F.one_hot(labels, num_classes).bool()
    p = F.one_hot(pred, num_classes).bool()
    return y & p, y & ~p, ~y & p


def masked_centres(feat: torch.Tensor, mask: torch.Tensor):
    """Mean feature of each class's set: feat (B, D), mask (B, K) -> centres (K, D), counts (K,)."""
    m = mask.to(feat.dtype)
    counts = m.sum(0)
    return (m.t() @ feat) / counts.clamp(min=1)[:, None], counts


def calibration_terms(feat, labels, tp, fn, fp, variant: str = "tp"):
    """phi_i (eq. 7, FN compensation) and varphi_i (eq. 8, FP penalty) for each sample, (B,) each.

    For a sample i of class k that qualifies (a TP of k, or any sample of k with ``variant="all"``):
    phi_i = 1 - cos(F_i, mu_FN^k) if class k has FN samples in the batch, varphi_i = 1 + cos(F_i, mu_FP^k) if it
    has FP samples; 0 otherwise."""
    mu_fn, n_fn = masked_centres(feat, fn)
    mu_fp, n_fp = masked_centres(feat, fp)
    mu_fn, mu_fp = F.normalize(mu_fn, dim=1), F.normalize(mu_fp, dim=1)
    anchor = tp.any(1) if variant == "tp" else torch.ones_like(labels, dtype=torch.bool)
    cos_fn = (feat * mu_fn[labels]).sum(1)
    cos_fp = (feat * mu_fp[labels]).sum(1)
    phi = torch.where(anchor & (n_fn[labels] > 0), 1 - cos_fn, torch.zeros_like(cos_fn))
    varphi = torch.where(anchor & (n_fp[labels] > 0), 1 + cos_fp, torch.zeros_like(cos_fp))
    return phi, varphi


def prototype_loss(feat, prototypes, labels, p_true, phi, varphi, tau: float):
    """Eq. 9: mean over the batch of two cross-entropies over prototype similarities, the true-class logit lowered
    by (1 - p_ik) * varphi_i and by (1 - p_ik) * phi_i respectively. ``feat`` and ``prototypes`` L2-normalised."""
    s = feat @ prototypes.t() / tau  # (B, K)
    onehot = F.one_hot(labels, s.shape[1]).to(s.dtype)
    total = 0.0
    for term in (varphi, phi):
        shifted = s - onehot * ((1 - p_true) * term)[:, None]
        total = total + F.cross_entropy(shifted, labels)
    return total


class PrototypicalRefinement(nn.Module):
    def __init__(self, in_channels: int, num_classes: int, cfg: PRMConfig | None = None):
        super().__init__()
        self.cfg = cfg or PRMConfig()
        if self.cfg.variant not in ("tp", "all"):
            raise ValueError(f"variant must be 'tp' or 'all', got {self.cfg.variant!r}")
        self.num_classes = num_classes
        self.proj = nn.Linear(in_channels, self.cfg.dim)
        self.register_buffer("prototypes", F.normalize(torch.randn(num_classes, self.cfg.dim), dim=1))

    def embed(self, feat_map):
        """(B, C, T, H, W) map (or (B, C) vector) -> L2-normalised F' (B, D)."""
        if feat_map.dim() == 5:
            feat_map = feat_map.mean(2).amax(dim=(2, 3))  # time-mean, then spatial max-pool
        return F.normalize(self.proj(feat_map), dim=1)

    @torch.no_grad()
    def update_prototypes(self, feat, tp):
        """Eq. 6 for every class with at least one TP: P_k <- (1 - rho) mean_TP + rho P_k, re-normalised."""
        mean_tp, n_tp = masked_centres(feat.detach(), tp)
        has = n_tp > 0
        rho = self.cfg.rho
        new = F.normalize((1 - rho) * mean_tp + rho * self.prototypes, dim=1)
        self.prototypes.copy_(torch.where(has[:, None], new, self.prototypes))

    def forward(self, feat_map, logits, labels):
        """Returns (L_PR, logs). Updates the prototypes when the module is in training mode."""
        feat = self.embed(feat_map)
        pred = logits.detach().argmax(1)
        tp, fn, fp = ambiguous_sets(pred, labels, self.num_classes)
        if self.training:
            self.update_prototypes(feat, tp)
        phi, varphi = calibration_terms(feat, labels, tp, fn, fp, self.cfg.variant)
        p_true = F.softmax(logits, 1).gather(1, labels[:, None])[:, 0]
        if self.cfg.detach_prob:
            p_true = p_true.detach()
        loss = prototype_loss(feat, self.prototypes.detach(), labels, p_true, phi, varphi, self.cfg.tau)
        logs = {"n_tp": int(tp.sum()), "n_fn": int(fn.sum()), "n_fp": int(fp.sum()),
                "phi": float(phi.detach().mean()), "varphi": float(varphi.detach().mean())}
        return loss, logs
