"""A tiny built-in task (CLI name ``toy``) that makes the training engine testable in seconds.

Gaussian class clusters in ``dim`` dimensions, a two-layer MLP. Its extra options exist for the engine's tests:
``sleep_per_step`` slows training so a test can kill it mid-run, ``nan_at_step`` forces a NaN loss,
``nan_grad_at_step`` NaN gradients behind a finite loss, ``dump_rank_weights`` writes each rank's final weights so
a test can check DDP ranks agree.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from mglib.train.config import OptimConfig, bounded, non_negative, positive
from mglib.train.task import Task


@dataclass
class ToyConfig:
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(epochs=4, batch_size=8, lr=1e-2))
    n_train: int = positive(96)
    n_val: int = positive(48)
    dim: int = positive(16)
    classes: int = bounded(4, 2)
    hidden: int = positive(32)
    noise: float = non_negative(4.0)  # cluster spread: accuracy ends near 0.85, so metrics move between epochs
    data_seed: int = bounded(0, 0, 2**63 - 1)  # the data do not change with the training seed
    sleep_per_step: float = non_negative(0.0)
    nan_at_step: int = bounded(-1, -1)  # make the loss NaN at this optimizer step (1-based); -1 = never
    nan_grad_at_step: int = bounded(-1, -1)  # keep the loss finite but make the gradients NaN at this step; -1 = never
    dump_rank_weights: str | None = None  # folder for rank<R>.pt with each rank's final weights


class ToyMLP(nn.Module):
    def __init__(self, dim: int, hidden: int, classes: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, classes)

    def forward(self, x):  # (B, dim) -> (B, classes)
        return self.fc2(F.gelu(self.fc1(x)))


class ToyTask(Task):
    name = "toy"
    Config = ToyConfig

    def build_model(self) -> nn.Module:
        return ToyMLP(self.cfg.dim, self.cfg.hidden, self.cfg.classes)

    def datasets(self):
        c = self.cfg
        g = torch.Generator().manual_seed(c.data_seed)
        centers = torch.randn(c.classes, c.dim, generator=g) * 2.0  # (C, dim)

        def sample(n):
            y = torch.arange(n) % c.classes
            x = centers[y] + c.noise * torch.randn(n, c.dim, generator=g)
            return TensorDataset(x, y)

        return sample(c.n_train), sample(c.n_val)

    def loss(self, model, batch):
        x, y = batch
        loss = F.cross_entropy(model(x), y)
        if self.step == self.cfg.nan_at_step:
            loss = loss * float("nan")
        if self.step == self.cfg.nan_grad_at_step:  # sqrt'(0) = inf, times the zero upstream gradient = NaN
            loss = loss + 0.0 * torch.sqrt(0.0 * model.fc1.weight.sum())
        if self.cfg.sleep_per_step > 0:
            time.sleep(self.cfg.sleep_per_step)
        return loss, {}

    def evaluate(self, model, loader):
        preds, labels = [], []
        for x, y in loader:
            preds.append(model(x).argmax(1))
            labels.append(y)
        pred, label = torch.cat(preds), torch.cat(labels)
        acc = (pred == label).float().mean().item()
        return {"score": acc, "accuracy": acc, "chance": 1.0 / self.cfg.classes}, \
            {"pred": pred.tolist(), "label": label.tolist()}

    def on_fit_end(self, model, rank):
        if self.cfg.dump_rank_weights:
            out = Path(self.cfg.dump_rank_weights)
            out.mkdir(parents=True, exist_ok=True)
            torch.save(model.state_dict(), out / f"rank{rank}.pt")
