"""ActionFormer (Zhang et al. 2022): the anchor-free detection head used by AdaTAD and DSTA, and its TemporalMaxer
variant (Tang et al. 2023), which replaces the transformer pyramid by max-pooling.

Chapter: notebooks/30_mmad.ipynb (detector), notebooks/31_mmad_errors.ipynb (its errors).

Pieces, each following ``happyharrycn/actionformer_release`` (architectures.md §4):
- convTransformer pyramid, arch (embedding convs, stride-1 blocks, stride-2 blocks) = (2, 2, 5) → 6 levels
  with strides 1, 2, …, 32; masked multi-head conv-attention (depthwise convs on q/k/v + LN), optional local
  window, AffineDropPath (scale init 1e-4);
- neck: one LayerNorm per level; shared heads: 2 × [conv k3 + LN + ReLU] → conv k3 (class bias prior 0.01;
  regression ×learnable per-level scale then ReLU, offsets in units of the level stride);
- label assignment: regression ranges per level in grid units, centre sampling radius 1.5 strides clipped to the
  GT, shortest GT wins, equally short GTs give a multi-hot target;
- losses: sigmoid focal (α 0.25, γ 2) + DIoU, both divided by an EMA (0.9) of the positive count;
- inference: sigmoid, pre-NMS threshold and top-k per level, decode, drop short segments, multiclass Gaussian
  Soft-NMS (σ 0.5), keep the top ``max_seg_num``.

TemporalMaxer (``pyramid="maxpool"``, tuantng/temporalmaxer's ``convPooler`` backbone): the same embedding convs,
no stride-1 blocks, and each downsampling block is a parameter-free MaxPool1d(k 3, s 2, p 1) with the mask downsampled
by nearest neighbour; neck, heads, assignment, losses and inference are ActionFormer's.

Tensors are channel-first inside the pyramid: features (B, C, T), masks (B, 1, T) bool.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class ActionFormerConfig:
    in_dim: int = 96
    num_classes: int = 52
    max_seq_len: int = 256
    arch: tuple[int, int, int] = (2, 2, 5)  # (embedding convs, stride-1 blocks, stride-2 blocks)
    pyramid: str = "transformer"  # "transformer" (ActionFormer) | "maxpool" (TemporalMaxer; no stride-1 blocks)
    embd_dim: int = 512
    embd_kernel: int = 3
    n_head: int = 4
    mha_win_size: int = 19  # local attention window; -1 = global (AdaTAD's Multi-THUMOS setting)
    mlp_ratio: int = 4
    path_pdrop: float = 0.1
    attn_pdrop: float = 0.0
    proj_pdrop: float = 0.0
    head_dim: int = 512
    head_kernel: int = 3
    head_num_layers: int = 3
    prior_prob: float = 0.01
    regression_range: tuple[tuple[int, int], ...] = ((0, 4), (4, 8), (8, 16), (16, 32), (32, 64), (64, 10000))
    center_sample_radius: float = 1.5
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    loss_weight: float = 1.0  # ≤ 0: ActionFormer's adaptive weight cls/reg
    init_loss_norm: float = 100.0
    loss_norm_momentum: float = 0.9
    label_smoothing: float = 0.0
    # inference
    pre_nms_thresh: float = 0.001
    pre_nms_topk: int = 2000
    duration_thresh: float = 0.05
    nms_sigma: float = 0.5
    min_score: float = 0.001
    max_seg_num: int = 200

    @property
    def strides(self) -> list[int]:
        return [2 ** i for i in range(self.arch[2] + 1)]


# --- building blocks ---------------------------------------------------------------------------------------

class MaskedConv1D(nn.Module):
    def __init__(self, cin, cout, k, stride=1, groups=1, bias=True):
        super().__init__()
        self.stride = stride
        self.conv = nn.Conv1d(cin, cout, k, stride=stride, padding=k // 2, groups=groups, bias=bias)
        if bias:
            nn.init.zeros_(self.conv.bias)

    def forward(self, x, mask):  # x (B, C, T), mask (B, 1, T) bool
        if self.stride > 1:
            mask = F.interpolate(mask.to(x.dtype), size=x.shape[-1] // self.stride, mode="nearest").bool()
        return self._conv(x) * mask.to(x.dtype), mask

    def _conv(self, x):
        # On CPU, for the head's short sequences, oneDNN's conv1d forward + backward costs more than the same
        # stride-1 convolution written as shifted copies: one matmul (dense) or k multiply-adds (depthwise). Same
        # weights and values; CUDA, strides and other groupings keep nn.Conv1d.
        c, T = self.conv, x.shape[-1]
        k = c.kernel_size[0]
        if x.is_cuda or self.stride != 1 or k == 1 or k % 2 == 0:
            return c(x)
        xp = F.pad(x, (k // 2, k // 2))
        if c.groups == 1:
            shifted = torch.cat([xp[..., i:i + T] for i in range(k)], 1)  # (B, k·Cin, T), tap-major
            w = c.weight.permute(0, 2, 1).reshape(c.out_channels, -1)  # (Cout, k·Cin), tap-major
            return F.linear(shifted.transpose(1, 2), w, c.bias).transpose(1, 2)
        if c.groups == c.in_channels == c.out_channels:
            w = c.weight[:, 0]  # (C, k)
            y = sum(xp[..., i:i + T] * w[:, i:i + 1] for i in range(k))
            return y if c.bias is None else y + c.bias[:, None]
        return c(x)


class ChannelLN(nn.Module):
    """LayerNorm over the channel dim of (B, C, T)."""

    def __init__(self, c, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, c, 1))
        self.bias = nn.Parameter(torch.zeros(1, c, 1))
        self.eps = eps

    def forward(self, x):  # (B, C, T); one fused layer_norm over C (the biased variance, as the official code)
        return F.layer_norm(x.transpose(1, 2), x.shape[1:2], self.weight.view(-1), self.bias.view(-1),
                            self.eps).transpose(1, 2)


class AffineDropPath(nn.Module):
    """Per-channel scale (init 1e-4) then stochastic depth: lets deep pyramids start near the identity."""

    def __init__(self, c, p):
        super().__init__()
        self.scale = nn.Parameter(1e-4 * torch.ones(1, c, 1))
        self.p = p

    def forward(self, x):
        x = self.scale * x
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand(x.shape[0], 1, 1, device=x.device) >= self.p
        return x * keep / (1 - self.p)


class MaskedMHCA(nn.Module):
    """Multi-head conv-attention: depthwise convs (+LN) on q, k, v (stride 2 when downsampling), 1×1 projections."""

    def __init__(self, c, n_head, stride=1, win=-1, attn_pdrop=0.0, proj_pdrop=0.0):
        super().__init__()
        self.n_head, self.win = n_head, win
        self.q_conv = MaskedConv1D(c, c, 3, stride, groups=c, bias=False)
        self.k_conv = MaskedConv1D(c, c, 3, stride, groups=c, bias=False)
        self.v_conv = MaskedConv1D(c, c, 3, stride, groups=c, bias=False)
        self.q_norm, self.k_norm, self.v_norm = ChannelLN(c), ChannelLN(c), ChannelLN(c)
        self.query, self.key, self.value = nn.Conv1d(c, c, 1), nn.Conv1d(c, c, 1), nn.Conv1d(c, c, 1)
        self.proj = nn.Conv1d(c, c, 1)
        self.attn_drop, self.proj_drop = nn.Dropout(attn_pdrop), nn.Dropout(proj_pdrop)

    def forward(self, x, mask):
        B, C, _ = x.shape
        q, qmask = self.q_conv(x, mask)
        k, kvmask = self.k_conv(x, mask)
        v, _ = self.v_conv(x, mask)
        q, k, v = self.query(self.q_norm(q)), self.key(self.k_norm(k)), self.value(self.v_norm(v))
        T = q.shape[-1]
        hs = C // self.n_head
        q = q.view(B, self.n_head, hs, T).transpose(2, 3)  # (B, h, T, hs)
        k = k.view(B, self.n_head, hs, T).transpose(2, 3)
        v = v.view(B, self.n_head, hs, T).transpose(2, 3)
        att = (q * (1.0 / math.sqrt(hs))) @ k.transpose(-2, -1)  # (B, h, T, T)
        allowed = kvmask[:, :, None, :]  # (B, 1, 1, T)
        if self.win > 0:  # local window of win positions centred on the query
            idx = torch.arange(T, device=x.device)
            allowed = allowed & ((idx[:, None] - idx[None]).abs() <= self.win // 2)
        att = att.masked_fill(~allowed, float("-inf"))
        att = torch.softmax(att, -1).nan_to_num(0.0)  # fully masked rows (padding) → zeros
        att = self.attn_drop(att)
        y = att @ (v * kvmask[:, :, :, None].to(v.dtype))
        y = y.transpose(2, 3).reshape(B, C, T)
        return self.proj_drop(self.proj(y)) * qmask.to(y.dtype), qmask


class TransformerBlock(nn.Module):
    def __init__(self, c, n_head, stride, win, mlp_ratio, path_pdrop, attn_pdrop=0.0, proj_pdrop=0.0):
        super().__init__()
        self.ln1, self.ln2 = ChannelLN(c), ChannelLN(c)
        self.attn = MaskedMHCA(c, n_head, stride, win, attn_pdrop, proj_pdrop)
        self.pool_skip = nn.MaxPool1d(3, stride=stride, padding=1) if stride > 1 else nn.Identity()
        self.mlp = nn.Sequential(nn.Conv1d(c, mlp_ratio * c, 1), nn.GELU(), nn.Dropout(proj_pdrop),
                                 nn.Conv1d(mlp_ratio * c, c, 1), nn.Dropout(proj_pdrop))
        self.drop_attn = AffineDropPath(c, path_pdrop) if path_pdrop > 0 else nn.Identity()
        self.drop_mlp = AffineDropPath(c, path_pdrop) if path_pdrop > 0 else nn.Identity()

    def forward(self, x, mask):
        out, omask = self.attn(self.ln1(x), mask)
        m = omask.to(out.dtype)
        out = self.pool_skip(x) * m + self.drop_attn(out)
        out = out + self.drop_mlp(self.mlp(self.ln2(out)) * m)
        return out, omask


class MaxPoolBlock(nn.Module):
    """TemporalMaxer's downsampling block: max over 3 neighbours with stride 2, no parameters."""

    def __init__(self):
        super().__init__()
        self.pool = nn.MaxPool1d(3, stride=2, padding=1)

    def forward(self, x, mask):  # (B, C, T), (B, 1, T) → (B, C, T/2), (B, 1, T/2)
        mask = F.interpolate(mask.to(x.dtype), size=x.shape[-1] // 2, mode="nearest").bool()
        return self.pool(x) * mask.to(x.dtype), mask


class ConvTransformerBackbone(nn.Module):
    def __init__(self, cfg: ActionFormerConfig):
        super().__init__()
        if cfg.pyramid not in ("transformer", "maxpool"):
            raise ValueError(f"pyramid {cfg.pyramid!r}: expected 'transformer' or 'maxpool'")
        n_embd, n_stem, n_branch = cfg.arch
        if cfg.pyramid == "maxpool":
            n_stem = 0  # TemporalMaxer keeps no stride-1 blocks
        self.embd = nn.ModuleList()
        self.embd_norm = nn.ModuleList()
        for i in range(n_embd):
            self.embd.append(MaskedConv1D(cfg.in_dim if i == 0 else cfg.embd_dim, cfg.embd_dim, cfg.embd_kernel,
                                          bias=False))
            self.embd_norm.append(ChannelLN(cfg.embd_dim))
        self.stem = nn.ModuleList(TransformerBlock(cfg.embd_dim, cfg.n_head, 1, cfg.mha_win_size, cfg.mlp_ratio,
                                                   cfg.path_pdrop, cfg.attn_pdrop, cfg.proj_pdrop)
                                  for _ in range(n_stem))
        self.branch = nn.ModuleList(MaxPoolBlock() if cfg.pyramid == "maxpool" else
                                    TransformerBlock(cfg.embd_dim, cfg.n_head, 2, cfg.mha_win_size, cfg.mlp_ratio,
                                                     cfg.path_pdrop, cfg.attn_pdrop, cfg.proj_pdrop)
                                    for _ in range(n_branch))

    def forward(self, x, mask):  # (B, Cin, T) → list of (B, D, T / 2^l), list of masks
        for conv, norm in zip(self.embd, self.embd_norm):
            x, mask = conv(x, mask)
            x = F.relu(norm(x))
        for blk in self.stem:
            x, mask = blk(x, mask)
        feats, masks = [x], [mask]
        for blk in self.branch:
            x, mask = blk(x, mask)
            feats.append(x)
            masks.append(mask)
        return feats, masks


class Head(nn.Module):
    """Shared across pyramid levels: (num_layers − 1) × [conv + LN + ReLU] → conv to ``out`` channels."""

    def __init__(self, cin, feat, out, k, num_layers):
        super().__init__()
        self.convs = nn.ModuleList(MaskedConv1D(cin if i == 0 else feat, feat, k, bias=False)
                                   for i in range(num_layers - 1))
        self.norms = nn.ModuleList(ChannelLN(feat) for _ in range(num_layers - 1))
        self.out = MaskedConv1D(feat, out, k)

    def forward(self, x, mask):
        for conv, norm in zip(self.convs, self.norms):
            x, _ = conv(x, mask)
            x = F.relu(norm(x))
        return self.out(x, mask)[0]


class ActionFormer(nn.Module):
    def __init__(self, cfg: ActionFormerConfig):
        super().__init__()
        if len(cfg.regression_range) != len(cfg.strides):
            raise ValueError(f"{len(cfg.regression_range)} regression ranges for {len(cfg.strides)} levels")
        self.cfg = cfg
        self.backbone = ConvTransformerBackbone(cfg)
        self.neck_norms = nn.ModuleList(ChannelLN(cfg.embd_dim) for _ in cfg.strides)
        self.cls_head = Head(cfg.embd_dim, cfg.head_dim, cfg.num_classes, cfg.head_kernel, cfg.head_num_layers)
        self.reg_head = Head(cfg.embd_dim, cfg.head_dim, 2, cfg.head_kernel, cfg.head_num_layers)
        self.scales = nn.Parameter(torch.ones(len(cfg.strides)))
        nn.init.constant_(self.cls_head.out.conv.bias, -math.log((1 - cfg.prior_prob) / cfg.prior_prob))
        self.register_buffer("loss_norm", torch.tensor(cfg.init_loss_norm))
        self.register_buffer("points", make_points(cfg), persistent=False)

    def forward(self, x, mask):
        """x (B, Cin, T), mask (B, T) bool → cls logits (B, ΣT_l, C), offsets (B, ΣT_l, 2), valid (B, ΣT_l)."""
        if x.shape[-1] % self.cfg.strides[-1]:
            raise ValueError(f"sequence length {x.shape[-1]} must be divisible by {self.cfg.strides[-1]}")
        x = x * mask[:, None, :].to(x.dtype)  # padding values never matter
        feats, masks = self.backbone(x, mask[:, None, :])
        cls, reg = [], []
        for lvl, (f, m) in enumerate(zip(feats, masks)):
            f = self.neck_norms[lvl](f)
            cls.append(self.cls_head(f, m).transpose(1, 2))
            reg.append(F.relu(self.scales[lvl] * self.reg_head(f, m)).transpose(1, 2))
        valid = torch.cat([m[:, 0] for m in masks], 1)
        return torch.cat(cls, 1), torch.cat(reg, 1), valid

    def points_for(self, T: int) -> torch.Tensor:
        """(ΣT_l, 4) = [position, range_lo, range_hi, stride] for an input of length T ≤ max_seq_len."""
        out = []
        for lvl, s in enumerate(self.cfg.strides):
            pts = self.points[self.points[:, 3] == s]
            out.append(pts[: T // s])
        return torch.cat(out)

    def loss(self, x, mask, gt_segments, gt_labels):
        """gt_segments: list of (N_i, 2) in input grid units; gt_labels: list of (N_i,) long. → (loss, logs)."""
        cls, reg, valid = self(x, mask)
        pts = self.points_for(x.shape[-1])
        tgt = [assign_labels(pts, s.to(pts), l, self.cfg) for s, l in zip(gt_segments, gt_labels)]
        gt_cls = torch.stack([t[0] for t in tgt])  # (B, P, C)
        gt_off = torch.stack([t[1] for t in tgt])  # (B, P, 2)
        pos = (gt_cls.sum(-1) > 0) & valid
        num_pos = int(pos.sum())
        if self.training:
            m = self.cfg.loss_norm_momentum
            self.loss_norm.mul_(m).add_((1 - m) * max(num_pos, 1))
        target = gt_cls[valid]
        if self.cfg.label_smoothing > 0:
            target = target * (1 - self.cfg.label_smoothing) + self.cfg.label_smoothing / (self.cfg.num_classes + 1)
        cls_loss = sigmoid_focal_loss(cls[valid].float(), target, self.cfg.focal_alpha, self.cfg.focal_gamma)
        cls_loss = cls_loss / self.loss_norm
        if num_pos == 0:
            reg_loss = 0.0 * reg.sum()
        else:
            reg_loss = diou_loss_1d(reg[pos].float(), gt_off[pos]).sum() / self.loss_norm
        w = self.cfg.loss_weight if self.cfg.loss_weight > 0 else cls_loss.detach() / max(float(reg_loss), 0.01)
        loss = cls_loss + w * reg_loss
        return loss, {"cls_loss": float(cls_loss.detach()), "reg_loss": float(reg_loss.detach()), "num_pos": num_pos}

    @torch.no_grad()
    def predict(self, x, mask):
        """Per video: list of (segments (K, 2) in input grid units, scores (K,), labels (K,)) after Soft-NMS."""
        cls, reg, valid = self(x, mask)
        pts = self.points_for(x.shape[-1])
        out = []
        for b in range(x.shape[0]):
            segs, scores, labels = decode(cls[b].float(), reg[b].float(), valid[b], pts, self.cfg)
            segs, scores, labels = batched_soft_nms(segs, scores, labels, self.cfg.nms_sigma, self.cfg.min_score,
                                                    self.cfg.max_seg_num)
            out.append((segs, scores, labels))
        return out


# --- points, assignment, losses ----------------------------------------------------------------------------

def make_points(cfg: ActionFormerConfig) -> torch.Tensor:
    rows = []
    for s, (lo, hi) in zip(cfg.strides, cfg.regression_range):
        t = torch.arange(0, cfg.max_seq_len, s, dtype=torch.float32)
        rows.append(torch.stack([t, torch.full_like(t, lo), torch.full_like(t, hi), torch.full_like(t, s)], 1))
    return torch.cat(rows)


def assign_labels(points, segments, labels, cfg: ActionFormerConfig):
    """ActionFormer's label assignment for one video.

    points (P, 4) [t, lo, hi, stride]; segments (N, 2) [start, end] in grid units; labels (N,).
    Returns cls targets (P, C) in {0, 1} and regression targets (P, 2) = (t − start, end − t) / stride.
    """
    P, N = points.shape[0], segments.shape[0]
    if N == 0:
        return points.new_zeros(P, cfg.num_classes), points.new_zeros(P, 2)
    t = points[:, 0, None]  # (P, 1)
    lens = (segments[:, 1] - segments[:, 0])[None].expand(P, N).clone()
    left, right = t - segments[None, :, 0], segments[None, :, 1] - t  # (P, N)
    reg = torch.stack([left, right], -1)  # (P, N, 2)
    if cfg.center_sample_radius > 0:
        ctr = 0.5 * (segments[:, 0] + segments[:, 1])[None]
        r = points[:, 3, None] * cfg.center_sample_radius
        cb_left = t - torch.maximum(ctr - r, segments[None, :, 0])
        cb_right = torch.minimum(ctr + r, segments[None, :, 1]) - t
        inside = torch.minimum(cb_left, cb_right) > 0
    else:
        inside = reg.min(-1).values > 0
    max_dist = reg.max(-1).values
    in_range = (max_dist >= points[:, 1, None]) & (max_dist <= points[:, 2, None])
    lens = lens.masked_fill(~(inside & in_range), float("inf"))
    min_len, min_idx = lens.min(1)
    # all GTs as short as the shortest (within 1e-3) contribute their class: multi-hot
    tie = ((lens <= min_len[:, None] + 1e-3) & torch.isfinite(lens)).to(points.dtype)  # (P, N)
    cls = (tie @ F.one_hot(labels.long(), cfg.num_classes).to(points.dtype)).clamp(0, 1)
    off = reg[torch.arange(P), min_idx] / points[:, 3, None]
    return cls, off


def sigmoid_focal_loss(logits, targets, alpha=0.25, gamma=2.0):
    """Summed sigmoid focal loss (RetinaNet / torchvision formula)."""
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return loss.sum()


def diou_loss_1d(pred, target, eps=1e-8):
    """Per-positive DIoU loss on (left, right) distances from the same point: 1 − IoU + (Δcentre / enclosing)²."""
    lp, rp = pred[:, 0], pred[:, 1]
    lg, rg = target[:, 0], target[:, 1]
    inter = torch.minimum(lp, lg) + torch.minimum(rp, rg)
    union = (lp + rp) + (lg + rg) - inter
    iou = inter / union.clamp(min=eps)
    enclose = torch.maximum(lp, lg) + torch.maximum(rp, rg)
    rho = 0.5 * (rp - lp - rg + lg)
    return 1.0 - iou + (rho / enclose.clamp(min=eps)) ** 2


# --- inference ---------------------------------------------------------------------------------------------

def decode(cls, reg, valid, points, cfg: ActionFormerConfig):
    """cls (P, C) logits, reg (P, 2), valid (P,) → candidate segments, scores, labels before NMS."""
    C = cls.shape[1]
    segs, scores, labels = [], [], []
    for s in cfg.strides:
        lv = points[:, 3] == s
        prob = (torch.sigmoid(cls[lv]) * valid[lv, None]).flatten()
        keep = torch.nonzero(prob > cfg.pre_nms_thresh).squeeze(1)
        p = prob[keep]
        order = p.argsort(descending=True)[: cfg.pre_nms_topk]
        keep, p = keep[order], p[order]
        pt, c = keep // C, keep % C
        pts, off = points[lv][pt], reg[lv][pt]
        seg = torch.stack([pts[:, 0] - off[:, 0] * pts[:, 3], pts[:, 0] + off[:, 1] * pts[:, 3]], 1)
        ok = (seg[:, 1] - seg[:, 0]) > cfg.duration_thresh
        segs.append(seg[ok])
        scores.append(p[ok])
        labels.append(c[ok])
    return torch.cat(segs), torch.cat(scores), torch.cat(labels)


def segment_iou(seg, segs):
    """tIoU of one segment (2,) with many (K, 2)."""
    inter = (torch.minimum(seg[1], segs[:, 1]) - torch.maximum(seg[0], segs[:, 0])).clamp(min=0)
    union = (seg[1] - seg[0]) + (segs[:, 1] - segs[:, 0]) - inter
    return inter / union.clamp(min=1e-8)


def soft_nms(segs, scores, sigma=0.5, min_score=0.001, max_num=None):
    """Gaussian Soft-NMS for one class: repeatedly keep the best segment, decay the rest by exp(−IoU²/σ).

    Returns indices into ``segs`` and the decayed scores, in selection order.
    """
    scores = scores.clone()
    alive = torch.arange(len(scores), device=scores.device)
    kept, kept_scores = [], []
    while alive.numel() and (max_num is None or len(kept) < max_num):
        j = int(scores[alive].argmax())
        best = alive[j]
        kept.append(int(best))
        kept_scores.append(float(scores[best]))
        alive = torch.cat([alive[:j], alive[j + 1:]])
        if alive.numel():
            iou = segment_iou(segs[best], segs[alive])
            scores[alive] = scores[alive] * torch.exp(-(iou ** 2) / sigma)
            alive = alive[scores[alive] >= min_score]
    idx = torch.tensor(kept, dtype=torch.long, device=segs.device)
    return idx, torch.tensor(kept_scores, dtype=scores.dtype, device=segs.device)


def batched_soft_nms(segs, scores, labels, sigma=0.5, min_score=0.001, max_seg_num=200):
    """Multiclass Soft-NMS (each class on its own), then the ``max_seg_num`` best overall.

    Same result as running :func:`soft_nms` per class, but the classes advance in lock-step on padded
    (classes, candidates) tensors, so the Python loop runs max-candidates-per-class times, not once per segment.
    """
    if segs.numel() == 0:
        return segs.new_zeros(0, 2), scores.new_zeros(0), labels.new_zeros(0)
    classes, inv = torch.unique(labels, return_inverse=True)
    K = len(classes)
    counts = torch.bincount(inv, minlength=K)
    n = int(counts.max())
    order = torch.argsort(inv, stable=True)
    slot = torch.arange(len(inv), device=segs.device) - torch.repeat_interleave(torch.cumsum(counts, 0) - counts,
                                                                                  counts)
    S = segs.new_zeros(K, n, 2)
    P = scores.new_full((K, n), -1.0)
    S[inv[order], slot] = segs[order]
    P[inv[order], slot] = scores[order]
    alive = P >= 0
    inter = (torch.minimum(S[:, :, None, 1], S[:, None, :, 1]) - torch.maximum(S[:, :, None, 0], S[:, None, :, 0]))
    inter = inter.clamp(min=0)
    length = S[..., 1] - S[..., 0]
    iou = inter / (length[:, :, None] + length[:, None, :] - inter).clamp(min=1e-8)  # (K, n, n)
    decay = torch.exp(-(iou ** 2) / sigma)
    rows = torch.arange(K, device=segs.device)
    out_s, out_p, out_l = [], [], []
    for _ in range(min(n, max_seg_num)):
        if not alive.any():
            break
        masked = torch.where(alive, P, torch.full_like(P, -1.0))
        best_p, best = masked.max(1)  # (K,)
        has = alive.any(1)
        out_s.append(S[rows[has], best[has]])
        out_p.append(best_p[has])
        out_l.append(classes[has])
        alive[rows, best] = False
        P = torch.where(has[:, None], P * decay[rows, best], P)
        alive &= P >= min_score
    segs, scores, labels = torch.cat(out_s), torch.cat(out_p), torch.cat(out_l)
    order = scores.argsort(descending=True, stable=True)[:max_seg_num]
    return segs[order], scores[order], labels[order]
