"""The interface between a study and the training engine.

A study subclasses :class:`Task`: it says how to build the model, which data to train and validate on, how to
compute the loss of a batch and how to evaluate. The engine (:func:`mglib.train.engine.fit`) owns everything else —
optimiser, schedule, precision, checkpoints, resume, distributed training and the run record.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import Dataset
from torch.utils.data import default_collate


class Task:
    """Base class. Subclasses set ``name`` and ``Config`` (a dataclass with a field ``optim: OptimConfig``).

    While training, the engine sets ``self.device`` (a torch.device), ``self.epoch`` and ``self.step`` (1-based:
    the epoch and the optimizer step being computed) so a task can, e.g., anneal a loss weight.
    """

    name: str = "task"
    Config: type = None

    def __init__(self, cfg):
        self.cfg = cfg
        self.device = torch.device("cpu")
        self.epoch = 0
        self.step = 0

    def build_model(self) -> nn.Module:
        raise NotImplementedError

    def datasets(self) -> tuple[Dataset, Dataset]:
        """(train, val) datasets."""
        raise NotImplementedError

    def collate(self, items):
        return default_collate(items)

    def loss(self, model: nn.Module, batch) -> tuple[torch.Tensor, dict[str, float]]:
        """Scalar loss (mean over the batch) and a dict of floats to log.

        ``batch`` is already on ``self.device``. Call ``model(...)`` (not its submodules) so DDP can sync
        gradients.
        """
        raise NotImplementedError

    def evaluate(self, model: nn.Module, loader) -> tuple[dict[str, float], object]:
        """Metrics (must include ``"score"``, higher is better) and JSON-serialisable raw predictions.

        Runs on rank 0 over the whole validation set, in eval mode under ``torch.no_grad``; the loader yields
        batches already on ``self.device``.
        """
        raise NotImplementedError

    def param_groups(self, model: nn.Module) -> list[dict] | None:
        """Optimizer parameter groups (e.g. adapters only, no weight decay on norms); None = all trainable."""
        return None

    def on_step_end(self, model: nn.Module, step: int) -> None:
        """Called after every optimizer step with the unwrapped model."""

    def on_fit_end(self, model: nn.Module, rank: int) -> None:
        """Called on every rank after training, with the unwrapped final model."""
