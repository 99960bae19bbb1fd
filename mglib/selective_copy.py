"""Selective copying: the toy task that separates a selective SSM (Mamba) from a time-invariant one.

Taught in chapter 03 (``notebooks/03_mamba.ipynb``), after Gu & Dao {cite}`gu2023mamba` (section 3.1).
A sequence of ``length`` positions holds ``n_tokens`` data tokens at random positions, blanks elsewhere; then
``n_tokens`` marker tokens ask the model to emit the data tokens in order. Where the tokens sit changes from
sequence to sequence, so a fixed (time-invariant) convolution kernel cannot know what to keep; an input-dependent
step size Delta can (large Delta on a data token: store it; Delta near 0 on a blank: ignore it).

Token ids: 0 = blank, 1..vocab = data, vocab + 1 = marker.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from mglib.models.mamba import Mamba


@dataclass
class CopyTask:
    length: int = 16  # positions holding data tokens and blanks
    n_tokens: int = 4  # data tokens to memorise
    vocab: int = 8  # distinct data tokens; chance accuracy per token = 1 / vocab

    @property
    def chance(self) -> float:
        return 1.0 / self.vocab

    def batch(self, size: int, generator: torch.Generator):
        """(inputs (size, length + n_tokens) int64, targets (size, n_tokens) int64)."""
        tokens = torch.randint(1, self.vocab + 1, (size, self.n_tokens), generator=generator)
        # random distinct positions, kept in order: sort the first n_tokens of a random permutation
        pos = torch.rand(size, self.length, generator=generator).argsort(dim=1)[:, :self.n_tokens].sort(dim=1).values
        x = torch.zeros(size, self.length + self.n_tokens, dtype=torch.long)
        x.scatter_(1, pos, tokens)
        x[:, self.length:] = self.vocab + 1
        return x, tokens


class TimeInvariantMamba(Mamba):
    """The Mamba block with selection switched off: Delta, B, C are learned constants, not functions of the input.

    Everything else (projections, causal conv, gate z, A, D) is the same, so the comparison isolates selectivity.
    This is the "S4-style LTI SSM inside the Mamba architecture" ablation; with these parameters the SSM could be
    run as one long convolution (seed paper eq. 8).
    """

    def __init__(self, d_model, **kw):
        super().__init__(d_model, **kw)
        del self.x_proj  # no input-dependent dt, B, C
        self.dt_proj.weight.requires_grad_(False)  # unused: Delta = softplus(dt_proj.bias), one per channel
        self.B_lti = nn.Parameter(torch.randn(self.d_inner, self.d_state) * self.d_state ** -0.5)
        self.C_lti = nn.Parameter(torch.randn(self.d_inner, self.d_state) * self.d_state ** -0.5)

    def ssm_params(self, x):
        return torch.zeros_like(x), self.B_lti, self.C_lti  # dt (B, E, L) before the bias; B, C (E, N)


class CopyModel(nn.Module):
    """Embedding -> n_layers x [q <- q + block(LN(q))] -> LN -> logits over data tokens (read at marker positions)."""

    def __init__(self, task: CopyTask, d_model=32, n_layers=2, d_state=8, selective=True):
        super().__init__()
        self.task = task
        block = Mamba if selective else TimeInvariantMamba
        self.embed = nn.Embedding(task.vocab + 2, d_model)
        self.norms = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(n_layers))
        self.blocks = nn.ModuleList(block(d_model, d_state=d_state) for _ in range(n_layers))
        self.norm_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, task.vocab)

    def forward(self, x):  # x: (B, L_total) token ids
        h = self.embed(x)  # (B, L_total, D)
        for norm, block in zip(self.norms, self.blocks):
            h = h + block(norm(h))
        return self.head(self.norm_f(h[:, -self.task.n_tokens:]))  # (B, n_tokens, vocab), class = token - 1


def accuracy(model: CopyModel, x, y) -> float:
    with torch.no_grad():
        return (model(x).argmax(-1) == (y - 1)).float().mean().item()


def train(task: CopyTask, selective: bool, steps=300, batch=64, lr=3e-3, d_model=32, n_layers=2, d_state=8,
          seed=0, eval_size=512, log_every=25) -> dict:
    """Train one model; return its learning curve and its accuracy on a fixed held-out batch.

    Runs on one thread: the ops are tiny, and on a shared 2-core machine thread hand-offs cost more than they save.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(task, selective, steps, batch, lr, d_model, n_layers, d_state, seed, eval_size, log_every)
    finally:
        torch.set_num_threads(threads)


def _train(task, selective, steps, batch, lr, d_model, n_layers, d_state, seed, eval_size, log_every):
    torch.manual_seed(seed)
    model = CopyModel(task, d_model=d_model, n_layers=n_layers, d_state=d_state, selective=selective)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    g = torch.Generator().manual_seed(seed + 1)
    xe, ye = task.batch(eval_size, torch.Generator().manual_seed(10_000 + seed))
    curve = []
    for step in range(1, steps + 1):
        x, y = task.batch(batch, g)
        loss = F.cross_entropy(model(x).flatten(0, 1), (y - 1).flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % log_every == 0 or step == steps:
            curve.append({"step": step, "loss": loss.item(), "eval_acc": accuracy(model, xe, ye)})
    return {"model": model, "curve": curve, "eval_acc": curve[-1]["eval_acc"], "chance": task.chance,
            "n_params": sum(p.numel() for p in model.parameters() if p.requires_grad)}


def compare(results: dict, margin: float = 0.05) -> str:
    """One sentence on the selective vs time-invariant outcome of :func:`train` runs, for the chapter's text.

    ``results`` maps a model name to a :func:`train` result, the selective model first. A gap of less than
    ``margin`` (accuracy, absolute) is called a tie, and a model counts as learning only ``margin`` above chance.
    """
    (sel_name, sel), (lti_name, lti) = results.items()
    chance = sel["chance"]
    gap = sel["eval_acc"] - lti["eval_acc"]
    head = (f"{sel_name}: {sel['eval_acc']:.1%}, {lti_name}: {lti['eval_acc']:.1%} held-out token accuracy "
            f"(chance {chance:.1%}).")
    if max(sel["eval_acc"], lti["eval_acc"]) < chance + margin:
        return f"{head} Neither model is above chance yet: too few steps to tell them apart."
    if abs(gap) < margin:
        return f"{head} The two are within {margin:.0%} of each other: selection made no clear difference here."
    if gap > 0:
        return f"{head} The selective block is {100 * gap:.0f} points ahead, the direction of Gu & Dao's Table 1."
    return (f"{head} The time-invariant block is {-100 * gap:.0f} points ahead: Gu & Dao's finding does not "
            f"reproduce at this setting.")
