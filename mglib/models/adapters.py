"""Parameter-efficient adapters for a frozen video ViT: standard (eq. 1), AdaTAD's TIA (eq. 2), DSTA (eq. 3).

Chapter: notebooks/30_mmad.ipynb (Table 4 analogue).

Every adapter sits after a ViT block's two residuals (AdaTAD) and maps tokens (B·n, T'·H'·W', C) to the same
shape. The down-projection ratio is r = 4; the up-projection is zero-initialised, so each adapter starts as the
identity and training starts from the frozen backbone's features.

Readings of the MMAD paper's open points (architectures.md §8.3), chosen here and stated in the book:
  #1  eqs. 2–3 apply the convs to X̂ on their own right-hand side; we read X̄ (the down-projected tokens), as
      OpenTAD's TIA does.
  #2  "S-DWConv with kernel 1×1": ``kernel_s=1`` (default) is the literal per-channel depthwise conv; ``kernel_s=3``
      makes it a per-frame depthwise conv over the (H', W') token grid.
  #3  one W_down per path (``separate_down=True``, default) or one shared W_down as eq. 3 writes it.
      The default (#2 literal, #3 separate) is the reading whose count on VideoMAE-S, 1,895,076 = 1.807·2²⁰, gives
      Table 4's 1.80M; this project's own reading (shared W_down, 3×3 spatial kernel) is the ablation "DSTA-ours".
  #4  W_up maps the concatenation 2·C/r → C, zero-initialised.
  #5  the temporal path is TIA's: depthwise conv k = 3 then pointwise, over the whole window (all chunks).
  #6  α = β = γ = 1 at initialisation, all learnable.
  #9  "group size r" for T-DWConv: depthwise means groups = channels (C/r).
  #12 the paper's "M" is 2²⁰; :func:`param_report` prints both units.
The standard adapter is eq. 1 literally (no α): its count on VideoMAE-S, 890,496, is Table 4's 0.85M.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from mglib.errors import InputError

KINDS = ("standard", "tia", "dsta")


@dataclass
class AdapterConfig:
    kind: str = "dsta"  # standard | tia | dsta
    ratio: int = 4
    kernel_t: int = 3
    kernel_s: int = 1  # DSTA spatial depthwise kernel (ambiguity #2): 1 = the paper's literal 1×1
    separate_down: bool = True  # DSTA: one W_down per path (ambiguity #3); False = eq. 3's shared W_down
    alpha_standard: bool = False  # give the standard adapter a learnable α too (eq. 1 has none)


def _down(dim, hidden):
    lin = nn.Linear(dim, hidden)
    nn.init.trunc_normal_(lin.weight, std=0.02)
    nn.init.zeros_(lin.bias)
    return lin


def _up(hidden, dim):
    lin = nn.Linear(hidden, dim)
    nn.init.zeros_(lin.weight)  # identity at initialisation
    nn.init.zeros_(lin.bias)
    return lin


class TemporalPath(nn.Module):
    """TIA's temporal context: depthwise Conv1d over all T' of the window at each (h, w), then pointwise."""

    def __init__(self, hidden: int, k: int = 3):
        super().__init__()
        self.dw = nn.Conv1d(hidden, hidden, k, padding=k // 2, groups=hidden)
        self.pw = nn.Conv1d(hidden, hidden, 1)
        nn.init.normal_(self.dw.weight, 0.0, math.sqrt(2.0 / k))
        nn.init.normal_(self.pw.weight, 0.0, math.sqrt(2.0 / hidden))
        nn.init.zeros_(self.dw.bias)
        nn.init.zeros_(self.pw.bias)

    def forward(self, h, grid):  # h (B·n, t·hh·ww, D) → same; convolves over n·t
        B, n, t, hh, ww = grid
        D = h.shape[-1]
        z = h.view(B, n * t, hh * ww, D).permute(0, 2, 3, 1).reshape(B * hh * ww, D, n * t)
        z = self.pw(self.dw(z))
        return z.view(B, hh * ww, D, n * t).permute(0, 3, 1, 2).reshape(B * n, t * hh * ww, D)


class SpatialPath(nn.Module):
    """DSTA's spatial context: a per-frame depthwise Conv2d over the (H', W') token grid."""

    def __init__(self, hidden: int, k: int = 3):
        super().__init__()
        self.dw = nn.Conv2d(hidden, hidden, k, padding=k // 2, groups=hidden)
        nn.init.normal_(self.dw.weight, 0.0, math.sqrt(2.0 / (k * k)))
        nn.init.zeros_(self.dw.bias)

    def forward(self, h, grid):  # (B·n, t·hh·ww, D) → same
        B, n, t, hh, ww = grid
        D = h.shape[-1]
        z = h.reshape(B * n * t, hh, ww, D).permute(0, 3, 1, 2)
        z = self.dw(z)
        return z.permute(0, 2, 3, 1).reshape(B * n, t * hh * ww, D)


class StandardAdapter(nn.Module):
    """Eq. 1 (Houlsby): X' = W_upᵀ σ(W_downᵀ X) + X."""

    def __init__(self, dim: int, cfg: AdapterConfig):
        super().__init__()
        hidden = dim // cfg.ratio
        self.down, self.up = _down(dim, hidden), _up(hidden, dim)
        self.alpha = nn.Parameter(torch.ones(())) if cfg.alpha_standard else None

    def forward(self, x, grid=None):
        y = self.up(F.gelu(self.down(x)))
        return x + (self.alpha * y if self.alpha is not None else y)


class TIA(nn.Module):
    """Eq. 2 (AdaTAD): X̄ = σ(W_downᵀ X); X̂ = T-DWConv(X̄) + X̄; X' = α W_upᵀ X̂ + X."""

    def __init__(self, dim: int, cfg: AdapterConfig):
        super().__init__()
        hidden = dim // cfg.ratio
        self.down, self.up = _down(dim, hidden), _up(hidden, dim)
        self.temporal = TemporalPath(hidden, cfg.kernel_t)
        self.alpha = nn.Parameter(torch.ones(()))

    def forward(self, x, grid):
        h = F.gelu(self.down(x))
        h = self.temporal(h, grid) + h
        return x + self.alpha * self.up(h)


class DSTA(nn.Module):
    """Eq. 3 (MMAD): X̂_s = S-DWConv(X̄) + X̄; X̂_t = T-DWConv(X̄) + X̄; X' = α W_upᵀ [β X̂_s; γ X̂_t] + X."""

    def __init__(self, dim: int, cfg: AdapterConfig):
        super().__init__()
        hidden = dim // cfg.ratio
        self.down = _down(dim, hidden)
        self.down_t = _down(dim, hidden) if cfg.separate_down else None
        self.spatial = SpatialPath(hidden, cfg.kernel_s)
        self.temporal = TemporalPath(hidden, cfg.kernel_t)
        self.up = _up(2 * hidden, dim)
        self.alpha = nn.Parameter(torch.ones(()))
        self.beta = nn.Parameter(torch.ones(()))
        self.gamma = nn.Parameter(torch.ones(()))

    def forward(self, x, grid):
        hs = F.gelu(self.down(x))
        ht = F.gelu(self.down_t(x)) if self.down_t is not None else hs
        xs = self.spatial(hs, grid) + hs
        xt = self.temporal(ht, grid) + ht
        return x + self.alpha * self.up(torch.cat([self.beta * xs, self.gamma * xt], -1))


def make_adapter(dim: int, cfg: AdapterConfig) -> nn.Module:
    if cfg.kind == "standard":
        return StandardAdapter(dim, cfg)
    if cfg.kind == "tia":
        return TIA(dim, cfg)
    if cfg.kind == "dsta":
        return DSTA(dim, cfg)
    raise InputError(f"adapter kind {cfg.kind!r}: expected one of {', '.join(KINDS)}")


def add_adapters(vit: nn.Module, cfg: AdapterConfig, blocks=None) -> nn.Module:
    """Put one adapter after every block of ``vit`` (or only the ``blocks`` indices); returns ``vit``."""
    idx = range(len(vit.blocks)) if blocks is None else blocks
    for i in idx:
        vit.blocks[i].adapter = make_adapter(vit.cfg.dim, cfg)
    return vit


def freeze_except_adapters(vit: nn.Module) -> None:
    """Frozen backbone: only parameters inside an ``adapter`` submodule keep requires_grad."""
    for name, p in vit.named_parameters():
        p.requires_grad_(".adapter." in f".{name}")


def count_params(module: nn.Module, trainable_only: bool = True) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def param_report(n: int) -> dict:
    """A parameter count in both units: the paper's "M" is 2²⁰ (ambiguity #12)."""
    return {"params": int(n), "M_2^20": n / 2 ** 20, "M_10^6": n / 1e6,
            "text": f"{n:,} = {n / 2 ** 20:.3f}·2²⁰ = {n / 1e6:.3f}·10⁶"}


def adapter_params(dim: int, depth: int, cfg: AdapterConfig) -> int:
    """Parameters of ``depth`` adapters of width ``dim`` (e.g. VideoMAE-S: 384, 12)."""
    return depth * sum(p.numel() for p in make_adapter(dim, cfg).parameters())
