"""A VideoMAE-style video ViT: tubelet embedding, joint space-time attention, optional per-block adapters.

Chapter: notebooks/30_mmad.ipynb (backbone and pretraining).

The encoder follows VideoMAE (Tong et al. 2022): a Conv3d tubelet embedding (tubelet 2 × patch 16 × 16 by
default), a fixed sinusoidal position table over the flattened (T', H', W') token grid, pre-norm blocks whose
attention has a q and a v bias but no k bias (so VideoMAE checkpoints load key for key), and no class token.

Detection follows AdaTAD: a long clip is cut into chunks of ``num_frames`` frames, each chunk is encoded on its
own (attention never crosses chunks), but the adapters see the whole window (their temporal convolutions run over
all chunks). Features are mean-pooled over space and concatenated over time: one feature per tubelet.

``VideoMAEPretrainer`` adds the masked-autoencoding decoder with tube masking for self-supervised pretraining.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from mglib.errors import InputError


@dataclass
class ViTConfig:
    img_size: int = 64
    patch_size: int = 16
    tubelet: int = 2
    num_frames: int = 16  # frames per chunk: attention is joint over the chunk's space-time tokens
    in_chans: int = 3
    dim: int = 96
    depth: int = 4
    heads: int = 3
    mlp_ratio: float = 4.0
    drop_path: float = 0.0
    checkpoint: bool = False  # activation checkpointing per block (used on CUDA)

    @property
    def grid(self) -> tuple[int, int, int]:
        return self.num_frames // self.tubelet, self.img_size // self.patch_size, self.img_size // self.patch_size


# VideoMAE sizes; "tiny" is this project's CPU stand-in.
PRESETS = {
    "tiny": dict(dim=96, depth=4, heads=3),
    "small": dict(dim=384, depth=12, heads=6),
    "base": dict(dim=768, depth=12, heads=12),
}


def vit_config(size: str = "tiny", **overrides) -> ViTConfig:
    if size not in PRESETS:
        raise InputError(f"ViT size {size!r}: expected one of {', '.join(PRESETS)}")
    return ViTConfig(**{**PRESETS[size], **overrides})


def sinusoid_table(n: int, dim: int) -> torch.Tensor:
    """VideoMAE's fixed 1-D sinusoid table over the flattened token index: (n, dim)."""
    pos = torch.arange(n, dtype=torch.float64)[:, None]
    j = torch.arange(dim, dtype=torch.float64)[None]
    angle = pos / torch.pow(10000.0, 2 * torch.div(j, 2, rounding_mode="floor") / dim)
    table = torch.where(j % 2 == 0, torch.sin(angle), torch.cos(angle))
    return table.float()


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        # VideoMAE keeps q and v biases only (a k bias cancels in the softmax)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):  # (B, N, C)
        B, N, C = x.shape
        bias = torch.cat([self.q_bias, torch.zeros_like(self.v_bias), self.v_bias])
        qkv = F.linear(x, self.qkv.weight, bias).view(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])  # (B, h, N, C/h)
        return self.proj(y.transpose(1, 2).reshape(B, N, C))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block; ``adapter`` (if set) is applied after both residuals, as in AdaTAD."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, drop_path: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = drop_path
        self.adapter: nn.Module | None = None

    def _drop(self, y):
        if not self.training or self.drop_path == 0.0:
            return y
        keep = torch.rand(y.shape[0], 1, 1, device=y.device) >= self.drop_path
        return y * keep / (1 - self.drop_path)

    def forward(self, x, grid: tuple[int, int, int, int, int] | None = None):  # (B·n, N, C)
        x = x + self._drop(self.attn(self.norm1(x)))
        x = x + self._drop(self.mlp(self.norm2(x)))
        if self.adapter is not None:
            x = self.adapter(x, grid)
        return x


class VideoViT(nn.Module):
    """VideoMAE-style encoder. ``forward`` gives tokens; ``features`` gives one pooled vector per tubelet."""

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        if cfg.dim % cfg.heads or cfg.img_size % cfg.patch_size or cfg.num_frames % cfg.tubelet:
            raise InputError(f"ViT config {cfg}: dim must divide by heads, img_size by patch_size, "
                             "num_frames by tubelet")
        self.cfg = cfg
        self.patch_embed = nn.Conv3d(cfg.in_chans, cfg.dim, (cfg.tubelet, cfg.patch_size, cfg.patch_size),
                                     stride=(cfg.tubelet, cfg.patch_size, cfg.patch_size))
        self.register_buffer("pos_embed", sinusoid_table(math.prod(cfg.grid), cfg.dim)[None], persistent=False)
        dpr = [cfg.drop_path * i / max(cfg.depth - 1, 1) for i in range(cfg.depth)]
        self.blocks = nn.ModuleList(Block(cfg.dim, cfg.heads, cfg.mlp_ratio, dpr[i]) for i in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.apply(_init_weights)

    def embed(self, x):  # (B, 3, T, H, W) → (B·n, N, C), grid
        cfg = self.cfg
        B, _, T, H, W = x.shape
        if T % cfg.num_frames or H != cfg.img_size or W != cfg.img_size:
            raise InputError(f"ViT input {tuple(x.shape)}: expected (B, 3, k·{cfg.num_frames}, "
                             f"{cfg.img_size}, {cfg.img_size})")
        n = T // cfg.num_frames
        x = x.view(B, 3, n, cfg.num_frames, H, W).transpose(1, 2).reshape(B * n, 3, cfg.num_frames, H, W)
        tok = self.patch_embed(x).flatten(2).transpose(1, 2)  # (B·n, T'·H'·W', C)
        return tok + self.pos_embed.to(tok.dtype), (B, n, *cfg.grid)

    def run_blocks(self, tok, grid):
        for blk in self.blocks:
            # not `self.training`: a frozen ViT with adapters is in eval mode, and still backpropagates to them
            if self.cfg.checkpoint and torch.is_grad_enabled():
                tok = checkpoint(blk, tok, grid, use_reentrant=False)
            else:
                tok = blk(tok, grid)
        return self.norm(tok)

    def forward(self, x):  # (B, 3, T, H, W) → tokens (B·n, N, C), grid (B, n, T', H', W')
        tok, grid = self.embed(x)
        return self.run_blocks(tok, grid), grid

    def features(self, x):  # (B, 3, T, H, W) → (B, C, T / tubelet), spatially mean-pooled
        tok, (B, n, t, h, w) = self(x)
        f = tok.view(B, n, t, h * w, -1).mean(3)  # (B, n, T', C)
        return f.reshape(B, n * t, -1).transpose(1, 2)


def _init_weights(m):
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


# --- masked-autoencoding pretraining (VideoMAE) --------------------------------------------------------------

def tube_mask(batch: int, grid: tuple[int, int, int], ratio: float, generator=None) -> torch.Tensor:
    """Tube masking: one random spatial mask, repeated over all T' positions. (batch, T'·H'·W') bool, True = hidden."""
    t, h, w = grid
    n_mask = int(round(ratio * h * w))
    noise = torch.rand(batch, h * w, generator=generator)
    spatial = torch.zeros(batch, h * w, dtype=torch.bool)
    spatial.scatter_(1, noise.argsort(1)[:, :n_mask], True)
    return spatial[:, None, :].expand(batch, t, h * w).reshape(batch, t * h * w)


def patchify(x, cfg: ViTConfig):  # (B, 3, T, H, W) → (B, N, tubelet·p·p·3) in token order
    B, C, T, H, W = x.shape
    p, u = cfg.patch_size, cfg.tubelet
    x = x.view(B, C, T // u, u, H // p, p, W // p, p)
    return x.permute(0, 2, 4, 6, 3, 5, 7, 1).reshape(B, (T // u) * (H // p) * (W // p), u * p * p * C)


class VideoMAEPretrainer(nn.Module):
    """Encoder on visible tokens + a light decoder that regresses normalised pixels of the hidden tubes."""

    def __init__(self, cfg: ViTConfig, decoder_dim: int = 64, decoder_depth: int = 2, decoder_heads: int = 2,
                 mask_ratio: float = 0.9, norm_pix: bool = True):
        super().__init__()
        self.encoder = VideoViT(cfg)
        self.mask_ratio, self.norm_pix = mask_ratio, norm_pix
        self.enc_to_dec = nn.Linear(cfg.dim, decoder_dim, bias=False)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        self.register_buffer("dec_pos", sinusoid_table(math.prod(cfg.grid), decoder_dim)[None], persistent=False)
        self.dec_blocks = nn.ModuleList(Block(decoder_dim, decoder_heads, 4.0) for _ in range(decoder_depth))
        self.dec_norm = nn.LayerNorm(decoder_dim, eps=1e-6)
        self.dec_head = nn.Linear(decoder_dim, cfg.tubelet * cfg.patch_size ** 2 * cfg.in_chans)
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        for m in (self.enc_to_dec, self.dec_head, self.dec_blocks, self.dec_norm):
            m.apply(_init_weights)

    def forward(self, x, mask=None):  # x (B, 3, num_frames, H, W) → scalar loss
        cfg = self.encoder.cfg
        B = x.shape[0]
        tok, _ = self.encoder.embed(x)  # (B, N, C); one chunk per clip
        if mask is None:
            mask = tube_mask(B, cfg.grid, self.mask_ratio).to(x.device)
        C = tok.shape[-1]
        vis = tok[~mask].view(B, -1, C)  # every row hides the same number of tokens
        enc = self.encoder.run_blocks(vis, None)
        dec_vis = self.enc_to_dec(enc) + self.dec_pos.expand(B, -1, -1)[~mask].view(B, -1, self.dec_pos.shape[-1])
        dec_msk = self.mask_token + self.dec_pos.expand(B, -1, -1)[mask].view(B, -1, self.dec_pos.shape[-1])
        y = torch.cat([dec_vis, dec_msk], 1)
        for blk in self.dec_blocks:
            y = blk(y)
        pred = self.dec_head(self.dec_norm(y[:, dec_vis.shape[1]:]))  # predictions for the hidden tokens
        target = patchify(x, cfg)[mask].view(B, -1, pred.shape[-1])
        if self.norm_pix:  # VideoMAE: per-tube normalised pixels (per channel, over the tube's pixels)
            t = target.view(*target.shape[:2], -1, cfg.in_chans)
            t = (t - t.mean(2, keepdim=True)) / (t.var(2, unbiased=True, keepdim=True).sqrt() + 1e-6)
            target = t.view_as(target)
        return F.mse_loss(pred, target)


# --- loading VideoMAE checkpoints --------------------------------------------------------------------------

def load_videomae(vit: VideoViT, path):
    """Load a local VideoMAE checkpoint (pretraining, fine-tuned, or mmaction2's) into ``vit``; returns the
    :class:`~mglib.models.checkpoints.LoadReport`. Key maps and readings: :mod:`mglib.models.checkpoints`."""
    from mglib.models.checkpoints import load_videomae as load

    return load(vit, path)
