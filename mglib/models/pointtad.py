"""PointTAD: temporal action detection with learnable query points (Tan et al., NeurIPS 2022), and the
Mamba-MHSA variant of the SMG online-recognition paper (Liu et al., 2024).

Taught in the book chapter ``20_online`` (windows, decoder, training) and ``21_online_ablations``.

The detector reads a window of snippet features (B, T, C_in) (temporal stride 4 over 10-fps frames, produced by
``mglib.models.video_encoder``) and returns, for every decoder layer, class logits and segments of Nq queries.

Readings of the open points (architectures.md §1 and §8.1):
- The backbone is run frozen and its two pooled levels (Mixed_4f, Mixed_5c) are cached concatenated; PointTAD's
  "1×1 conv per level, then sum" is exactly one Linear on the concatenation, which is ``input_proj`` here.
- Mamba-MHSA (paper §3.5): M Mamba blocks, each pre-norm residual q ← q + Mamba(LN(q)), scanning the Nq queries in
  index order (one direction), then PointTAD's MHSA + dropout + residual + LN. It replaces the self-attention.
- The sampling offsets/weights come from the layer-input queries (before Mamba-MHSA), as in PointTAD (§8.1 #4).
- Eq. 1's step size uses the pseudo-segment of the first Ns − Ns//3 points (PointTAD code), not "all" points.
- Points start at 0.5 (``point_init="center"``, fidelity); ``"spread"`` spaces them evenly in [0.25, 0.75] and
  ``"tiled"`` gives query i the points of [i, i + 1] / Nq, so the queries start as segments tiling the window —
  documented variants that avoid the zero-length first update (and, for "tiled", the identical start of all queries).
- Xavier-uniform goes on every parameter with dim > 1 of PointTAD's own modules; the Mamba-MHSA block keeps its own
  initialisation (xavier on A_log would destroy the S4D-real init the selective scan relies on; torch's MHSA already
  uses xavier for its input projection).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from mglib.models.matcher import cl_to_se

NUM_SUB = 4  # sub-points per query point (paper eq. 9–11)
NUM_BOUNDARY = 4  # the first 4 points form the "boundary" group with their own offset/weight projections


@dataclass
class PointTADConfig:
    num_classes: int = 17
    in_dim: int = 1856  # cached snippet features (I3D: 832 + 1024)
    hidden: int = 512
    num_queries: int = 48
    num_points: int = 30
    num_layers: int = 4
    n_heads: int = 8
    ffn: int = 2048
    dropout: float = 0.1
    mix_dim: int = 64  # D' of the channel mix
    dense_hidden: int = 256
    query_mixer: str = "mamba_mhsa"  # "mhsa" (PointTAD) or "mamba_mhsa" (paper 000)
    num_mamba: int = 2
    d_state: int = 16
    d_conv: int = 4
    expand: int = 2
    point_init: str = "center"  # "center" (all 0.5, PointTAD), "spread" or "tiled"


def points_to_segments(points: torch.Tensor) -> torch.Tensor:
    """(..., Ns) point positions → (..., 2) segments (centre, length).

    start/end are min/max of the first Ns − Ns//3 points (the rest are free "semantic" points), clamped to [0, 1].
    """
    ns = points.shape[-1]
    bound = points[..., : ns - ns // 3]
    start = bound.min(dim=-1).values.clamp(0.0, 1.0)
    end = bound.max(dim=-1).values.clamp(0.0, 1.0)
    return torch.stack([(start + end) / 2, end - start], dim=-1)


def pseudo_length(points: torch.Tensor) -> torch.Tensor:
    """(..., Ns) → (..., 1): length of the pseudo-segment (unclamped), the step size s of eq. 1."""
    ns = points.shape[-1]
    bound = points[..., : ns - ns // 3]
    return (bound.max(dim=-1).values - bound.min(dim=-1).values).unsqueeze(-1)


def update_points(points: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """Eq. 1: p' = p + Δ · 0.5 · s, s = pseudo-segment length. No sigmoid, no detach (PointTAD)."""
    return points + delta * 0.5 * pseudo_length(points)


def sample_linear(feats: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Linear interpolation of (B, T, D) features at fractional positions pos (B, K) in [0, 1] → (B, K, D).

    Position p reads index p·(T−1) (PointTAD's grid_sample with align_corners=True along time); out-of-range positions
    are clamped to the ends.
    """
    B, T, D = feats.shape
    x = pos.clamp(0.0, 1.0) * (T - 1)  # (B, K)
    i0 = x.floor().long().clamp(0, T - 1)
    i1 = (i0 + 1).clamp(max=T - 1)
    w1 = (x - i0.to(x.dtype)).unsqueeze(-1)  # (B, K, 1)
    # whole rows of the flattened features: index_select (backward: index_add_) moves D floats per index, about
    # twice as fast as an element-wise gather over an expanded (B, K, D) index; the same values, and gradients equal
    # up to float rounding (in a whole model the accumulation order differs, so training does not repeat bit for bit)
    rows = feats.reshape(B * T, D)
    base = torch.arange(0, B * T, T, device=feats.device)[:, None]  # (B, 1): first row of each batch item
    f0 = rows.index_select(0, (i0 + base).view(-1)).view(B, -1, D)
    f1 = rows.index_select(0, (i1 + base).view(-1)).view(B, -1, D)
    return f0 * (1 - w1) + f1 * w1


class PointSampler(nn.Module):
    """Point-level deformable sampling (eq. 9–11): 4 sub-points per point with offsets and softmax weights from q."""

    def __init__(self, hidden: int):
        super().__init__()
        # two groups (boundary: first 4 points; centre: the rest), each with its own 4 shared offsets and weights
        self.offset = nn.ModuleList([nn.Linear(hidden, NUM_SUB) for _ in range(2)])
        self.weight = nn.ModuleList([nn.Linear(hidden, NUM_SUB) for _ in range(2)])

    def reset_offset_bias(self):
        for lin in self.offset:  # offsets start 1, 2, 3, 4 frames (token positions) to the right of the point
            with torch.no_grad():
                lin.bias.copy_(torch.arange(1, NUM_SUB + 1, dtype=lin.bias.dtype))

    def forward(self, feats: torch.Tensor, q: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        # feats (B, T, D), q (B, Nq, D), points (B, Nq, Ns) → (B, Nq, Ns, D)
        B, T, D = feats.shape
        Nq, Ns = points.shape[1:]
        nb = min(NUM_BOUNDARY, Ns)
        out = []
        for g, pts in enumerate((points[..., :nb], points[..., nb:])):
            if pts.shape[-1] == 0:
                continue
            off = self.offset[g](q) / T  # (B, Nq, 4) in window units
            w = self.weight[g](q).softmax(dim=-1)  # (B, Nq, 4)
            pos = pts.unsqueeze(-1) + off.unsqueeze(2)  # (B, Nq, n, 4)
            f = sample_linear(feats, pos.reshape(B, -1)).view(B, Nq, pts.shape[-1], NUM_SUB, D)
            out.append((f * w[:, :, None, :, None]).sum(dim=3))  # (B, Nq, n, D)
        return torch.cat(out, dim=2)


class DynamicMixing(nn.Module):
    """Instance-level semantic mixing (eq. 12–15): dynamic point (frame) mix and channel mix, generated from q."""

    def __init__(self, hidden: int, num_points: int, mix_dim: int):
        super().__init__()
        self.D, self.Ns, self.Dm = hidden, num_points, mix_dim
        self.channel_params = nn.Linear(hidden, 2 * hidden * mix_dim)
        self.point_params = nn.Linear(hidden, num_points * num_points)
        self.ln_c1 = nn.LayerNorm(mix_dim)
        self.ln_c2 = nn.LayerNorm(hidden)
        self.ln_p = nn.LayerNorm(num_points)
        self.out = nn.Linear(num_points * 2 * hidden, hidden)
        self.ln_out = nn.LayerNorm(hidden)

    def forward(self, x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        # x (B, Nq, Ns, D) sampled point features, q (B, Nq, D) → (B, Nq, D)
        B, Nq, Ns, D = x.shape
        x = x.reshape(B * Nq, Ns, D)
        cp = self.channel_params(q).reshape(B * Nq, 2, D * self.Dm)
        w1 = cp[:, 0].view(-1, D, self.Dm)  # (BNq, D, D')
        w2 = cp[:, 1].view(-1, self.Dm, D)  # (BNq, D', D)
        xc = F.relu(self.ln_c1(torch.bmm(x, w1)))  # (BNq, Ns, D')
        xc = F.relu(self.ln_c2(torch.bmm(xc, w2)))  # (BNq, Ns, D)
        m = self.point_params(q).reshape(B * Nq, Ns, Ns)
        xf = F.relu(self.ln_p(torch.bmm(x.transpose(1, 2), m)))  # (BNq, D, Ns)
        mixed = torch.cat([xf.transpose(1, 2), xc], dim=-1)  # (BNq, Ns, 2D)
        return F.relu(self.ln_out(self.out(mixed.reshape(B, Nq, Ns * 2 * D))))


class SelfAttention(nn.Module):
    """PointTAD's query self-attention: 8-head MHSA, dropout, residual, LayerNorm."""

    def __init__(self, hidden: int, n_heads: int, dropout: float):
        super().__init__()
        self.attn = nn.MultiheadAttention(hidden, n_heads, dropout=dropout, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(hidden)

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        return self.norm(q + self.drop(self.attn(q, q, q, need_weights=False)[0]))


def _mlp(hidden: int, depth: int, out: int) -> nn.Sequential:
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(hidden, hidden, bias=False), nn.LayerNorm(hidden), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, nn.Linear(hidden, out))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: PointTADConfig):
        super().__init__()
        D = cfg.hidden
        self.sampler = PointSampler(D)
        if cfg.query_mixer == "mhsa":
            self.mixer = SelfAttention(D, cfg.n_heads, cfg.dropout)
        elif cfg.query_mixer == "mamba_mhsa":
            from mglib.models.mamba import MambaMHSA  # lazy: the Mamba module is optional for the PointTAD path

            self.mixer = MambaMHSA(D, n_heads=cfg.n_heads, num_mamba=cfg.num_mamba, dropout=cfg.dropout,
                                   d_state=cfg.d_state, d_conv=cfg.d_conv, expand=cfg.expand)
        else:
            raise ValueError(f"query_mixer {cfg.query_mixer!r}: expected 'mhsa' or 'mamba_mhsa'")
        self.mixing = DynamicMixing(D, cfg.num_points, cfg.mix_dim)
        self.drop_mix = nn.Dropout(cfg.dropout)
        self.norm_mix = nn.LayerNorm(D)
        self.ffn = nn.Sequential(nn.Linear(D, cfg.ffn), nn.ReLU(inplace=True), nn.Dropout(cfg.dropout),
                                 nn.Linear(cfg.ffn, D))
        self.drop_ffn = nn.Dropout(cfg.dropout)
        self.norm_ffn = nn.LayerNorm(D)
        self.cls_head = _mlp(D, 1, cfg.num_classes + 1)
        self.point_head = _mlp(D, 3, cfg.num_points)

    def forward(self, feats, q, points):
        # feats (B, T, D), q (B, Nq, D), points (B, Nq, Ns)
        sampled = self.sampler(feats, q, points)  # offsets from the layer-input queries (§8.1 #4)
        q = self.mixer(q)
        q = self.norm_mix(q + self.drop_mix(self.mixing(sampled, q)))
        q = self.norm_ffn(q + self.drop_ffn(self.ffn(q)))
        logits = self.cls_head(q)  # (B, Nq, C+1)
        points = update_points(points, self.point_head(q))  # (B, Nq, Ns)
        return q, points, logits


class PointTAD(nn.Module):
    """Input (B, T, C_in) snippet features; output dict with ``layers`` = [(logits (B, Nq, C+1), segments (B, Nq, 2)
    as (centre, length) in window units)] for every decoder layer, ``points`` (B, Nq, Ns) of the last layer and
    ``dense`` (B, T, C) frame-level logits."""

    def __init__(self, cfg: PointTADConfig):
        super().__init__()
        self.cfg = cfg
        D = cfg.hidden
        self.input_proj = nn.Linear(cfg.in_dim, D)
        self.query_feat = nn.Embedding(cfg.num_queries, D)  # N(0, 1) init, no positional encoding
        self.query_points = nn.Embedding(cfg.num_queries, cfg.num_points)
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.num_layers))
        # dense head: no activation between the two convolutions (PointTAD)
        self.dense = nn.Sequential(nn.Conv1d(D, cfg.dense_hidden, 3, padding=1), nn.Dropout(0.5),
                                   nn.Conv1d(cfg.dense_hidden, cfg.num_classes, 1))
        self._init_weights()

    def _init_weights(self):
        keep_mixer = self.cfg.query_mixer == "mamba_mhsa"  # MambaMHSA keeps its own init (see module docstring)
        for name, p in self.layers.named_parameters():
            if p.dim() > 1 and not (keep_mixer and name.split(".")[1] == "mixer"):
                nn.init.xavier_uniform_(p)
        for layer in self.layers:
            layer.sampler.reset_offset_bias()
        with torch.no_grad():
            if self.cfg.point_init == "center":
                self.query_points.weight.fill_(0.5)
            elif self.cfg.point_init == "spread":
                self.query_points.weight.copy_(torch.linspace(0.25, 0.75, self.cfg.num_points).expand_as(
                    self.query_points.weight))
            elif self.cfg.point_init == "tiled":  # query i spans [i, i + 1] / Nq: the queries tile the window
                nq, ns = self.query_points.weight.shape
                lo = torch.arange(nq, dtype=torch.float32)[:, None] / nq
                self.query_points.weight.copy_(lo + torch.linspace(0.0, 1.0, ns)[None, :] / nq)
            else:
                raise ValueError(f"point_init {self.cfg.point_init!r}: expected 'center', 'spread' or 'tiled'")

    def forward(self, feats: torch.Tensor) -> dict:
        B = feats.shape[0]
        x = self.input_proj(feats)  # (B, T, D)
        q = self.query_feat.weight.unsqueeze(0).expand(B, -1, -1)  # (B, Nq, D)
        points = self.query_points.weight.unsqueeze(0).expand(B, -1, -1)  # (B, Nq, Ns)
        outs = []
        for layer in self.layers:
            q, points, logits = layer(x, q, points)
            outs.append((logits, points_to_segments(points)))
        dense = self.dense(x.transpose(1, 2)).transpose(1, 2)  # (B, T, C)
        return {"layers": outs, "points": points, "dense": dense}


@torch.no_grad()
def detections(out: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One detection per query (no NMS): best non-background class of the softmax, its probability, the segment.

    Returns labels (B, Nq), scores (B, Nq), segments (B, Nq, 2) as (start, end) in window units.
    """
    logits, seg = out["layers"][-1]
    prob = logits.softmax(-1)[..., :-1]
    scores, labels = prob.max(-1)
    return labels, scores, cl_to_se(seg)
