"""The training loop every study uses: one ``fit(task, out_dir)``.

What it does, in order: seed, build the model, optimiser and schedule, then per epoch train (mixed precision on
CUDA, gradient accumulation, clipping, EMA, a non-finite guard), evaluate on rank 0, keep the best weights and
write an atomic checkpoint (after the last epoch, and after any epoch that ends ``optim.checkpoint_every_s`` after
the previous write). Killed at any moment, ``fit(..., resume=True)`` continues from the last checkpoint and
ends with the same ``metrics.json`` as an uninterrupted run (bitwise on CPU with the same seed and thread count).

Under ``torchrun`` (RANK/WORLD_SIZE/LOCAL_RANK in the environment) the same call trains with DDP: NCCL on GPUs,
gloo on CPU; ``optim.batch_size`` is the *global* batch, split evenly across ranks, so a run with N processes
follows the same trajectory as one process (up to float rounding). Evaluation runs on rank 0 over the whole
validation set and its metrics are broadcast; only rank 0 writes files.

Run folder: ``config.json`` (resolved config), ``env.json``, ``checkpoint.pt`` (last, full state),
``best.safetensors`` (weights that scored best), ``metrics.json`` and ``predictions.json``.
"""
from __future__ import annotations

import contextlib
import copy
import logging
import math
import os
import shutil
import time
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from mglib import records, seeding
from mglib.data.csvio import read_json
from mglib.errors import InputError
from mglib.train.config import OptimConfig, check, to_dict
from mglib.train.task import Task

log = logging.getLogger("mglib.train")

CHECKPOINT, BEST = "checkpoint.pt", "best.safetensors"
RUN_FILES = ("config.json", "env.json", "metrics.json", "predictions.json", CHECKPOINT, BEST)
REPLACED = ".replaced-run"  # an earlier run's files while a new run replaces it (see _Replaced)
RESERVED = ("task", "best_score", "best_epoch", "epochs", "steps", "skipped_steps", "world_size", "history",
            "timing")


class NonFiniteLossError(RuntimeError):
    """A NaN/Inf loss or gradient stopped training (``optim.nonfinite="stop"``); the message names the step."""


# --- distributed ---------------------------------------------------------------------------------------------

class _Dist:
    """Rank, world size and device; initialises the process group when launched by torchrun."""

    def __init__(self, device: str):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        want_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
        if want_cuda and not torch.cuda.is_available():
            raise InputError(f"optim.device={device!r}: CUDA is not available on this machine")
        if want_cuda:
            index = self.local_rank if self.world > 1 or ":" not in device else int(device.split(":")[1])
            self.device = torch.device("cuda", index)
            torch.cuda.set_device(self.device)
        else:
            self.device = torch.device("cpu")
        self.owns_group = False
        if self.world > 1 and not torch.distributed.is_initialized():
            torch.distributed.init_process_group("nccl" if want_cuda else "gloo")
            self.owns_group = True

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self):
        if self.world > 1:
            torch.distributed.barrier()

    def broadcast(self, obj):
        if self.world == 1:
            return obj
        box = [obj]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def all_sum(self, values: list[float]) -> list[float]:
        if self.world == 1:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(t)
        return t.tolist()

    def all_true(self, flag: bool) -> bool:
        if self.world == 1:
            return flag
        t = torch.tensor([int(flag)], device=self.device)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MIN)
        return bool(t.item())

    def gather(self, obj) -> list:
        if self.world == 1:
            return [obj]
        out = [None] * self.world
        torch.distributed.all_gather_object(out, obj)
        return out

    def close(self):
        if self.owns_group:
            torch.distributed.destroy_process_group()


# --- schedule, EMA, precision ----------------------------------------------------------------------------------

class Schedule:
    """Learning-rate factor per optimizer step: linear warm-up, then cosine / step / constant.

    Stateless apart from the step counter, so resuming only needs ``step``.
    """

    def __init__(self, optimizer, oc: OptimConfig, steps_per_epoch: int):
        self.optimizer, self.oc, self.spe = optimizer, oc, steps_per_epoch
        self.total = oc.epochs * steps_per_epoch
        self.warmup = round(oc.warmup_epochs * steps_per_epoch)
        self.base = [g["initial_lr"] for g in optimizer.param_groups]
        self.step_count = 0

    def factor(self, s: int) -> float:
        """Factor applied to the lr of optimizer step ``s`` (0-based)."""
        if s < self.warmup:
            return (s + 1) / self.warmup
        if self.oc.schedule == "cosine":
            progress = (s - self.warmup) / max(1, self.total - self.warmup)
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
        if self.oc.schedule == "step":
            return self.oc.gamma ** sum(s >= m * self.spe for m in self.oc.milestones)
        return 1.0

    def apply(self) -> float:
        f = self.factor(self.step_count)
        for g, base in zip(self.optimizer.param_groups, self.base):
            g["lr"] = base * f
        return self.optimizer.param_groups[0]["lr"]

    def state_dict(self) -> dict:
        return {"step": self.step_count}

    def load_state_dict(self, state: dict) -> None:
        self.step_count = int(state["step"])


class EMA:
    """Exponential moving average of a model's parameters and float buffers (integer buffers are copied)."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for e, m in zip(self.module.state_dict().values(), model.state_dict().values()):
            if e.dtype.is_floating_point:
                e.lerp_(m, 1.0 - self.decay)
            else:
                e.copy_(m)


def _precision(oc: OptimConfig, device: torch.device):
    """(autocast dtype or None, GradScaler): bf16 where supported, fp16 + scaler otherwise, fp32 on CPU."""
    dtype = None
    if oc.amp and device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)
    return dtype, scaler


_NO_CONTEXT = contextlib.nullcontext()  # stateless: one instance serves every use, nested ones included


def _autocast(device: torch.device, dtype):
    if dtype is None:
        return _NO_CONTEXT
    return torch.autocast(device.type, dtype=dtype)


def _grad_norm(params: list[torch.Tensor], max_norm: float) -> float:
    """Total 2-norm of the gradients (before clipping), clipping them to ``max_norm`` when it is > 0."""
    if max_norm > 0:
        return float(torch.nn.utils.clip_grad_norm_(params, max_norm))
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    # clip_grad_norm_(inf) would also rescale every gradient by 1.0; the norm alone is cheaper
    return float(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))))


def to_device(batch, device: torch.device):
    """Move every tensor in a (nested) batch to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        moved = [to_device(v, device) for v in batch]
        return type(batch)(*moved) if hasattr(batch, "_fields") else type(batch)(moved)
    return batch


class _DeviceLoader:
    """A DataLoader view whose batches are already on the device."""

    def __init__(self, loader: DataLoader, device: torch.device):
        self.loader, self.device = loader, device
        self.dataset = loader.dataset

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        for batch in self.loader:
            yield to_device(batch, self.device)


# --- files -----------------------------------------------------------------------------------------------------

def _save_atomic(obj, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _save_weights_atomic(state: dict, path: Path) -> None:
    from safetensors.torch import save_file

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    save_file({k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}, str(tmp))
    os.replace(tmp, path)


def _read_json(path: Path, what: str):
    """A JSON file of the run folder; a corrupt one is an InputError naming it (and how to start over)."""
    try:
        return read_json(path, what)
    except InputError as e:
        raise InputError(f"{e}; pass --overwrite to replace the run") from None


def run_folder(out_dir) -> Path:
    """``out_dir`` as a Path, refused before any work when it cannot be a run folder: an empty path (which would be
    the current folder), a file, or a place that is not writable."""
    if not str(out_dir).strip():
        raise InputError(f"--out {str(out_dir)!r}: expected a run folder path")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: is a file; expected a run folder")
    base = out
    while not base.exists() and base != base.parent:
        base = base.parent
    if not base.is_dir():
        raise InputError(f"{out}: {base} is a file; expected a run folder path")
    if not os.access(base, os.W_OK | os.X_OK):
        raise InputError(f"{out}: {base} is not writable; expected a writable run folder")
    return out


class _Replaced:
    """An earlier run's files, moved into ``OUT/.replaced-run/`` while a new run starts over them (``overwrite``).

    They are deleted only once the new run has written its first checkpoint; if it fails before (an exception,
    Ctrl-C), they are moved back, and if it is killed, :func:`_recover` moves them back at the next start."""

    def __init__(self, out: Path):
        self.out, self.folder, self.moved = out, out / REPLACED, False

    def move(self) -> None:
        self.folder.mkdir()
        for name in RUN_FILES:
            if (self.out / name).exists():
                os.replace(self.out / name, self.folder / name)
        self.moved = True

    def discard(self) -> None:
        if self.moved:
            shutil.rmtree(self.folder)
            self.moved = False

    def restore(self) -> None:
        if self.moved:
            _restore(self.out)
            self.moved = False


def _restore(out: Path) -> None:
    for name in RUN_FILES:  # the new run's partial files
        (out / name).unlink(missing_ok=True)
    for f in (out / REPLACED).iterdir():
        os.replace(f, out / f.name)
    (out / REPLACED).rmdir()


def _recover(out: Path) -> None:
    """Finish what a replacement killed in the middle left: its earlier run comes back unless it had already
    written its own first checkpoint."""
    if not (out / REPLACED).is_dir():
        return
    try:
        if (out / CHECKPOINT).exists():
            shutil.rmtree(out / REPLACED)
        else:
            _restore(out)
            log.info("%s: restored the run that an interrupted --overwrite had set aside", out)
    except OSError as e:
        raise InputError(f"{out / REPLACED}: cannot restore the set-aside run ({e.strerror})") from None


def _resolved(task: Task) -> dict:
    return {"task": task.name, "config": to_dict(task.cfg)}


def _config_diff(a: dict, b: dict, prefix="") -> list[str]:
    if not isinstance(a, dict) or not isinstance(b, dict):
        return [prefix.rstrip(".") or "the whole config"]
    keys = sorted(set(a) | set(b))
    out = []
    for k in keys:
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += _config_diff(va, vb, f"{prefix}{k}.")
        elif va != vb:
            out.append(f"{prefix}{k}")
    return out


def no_weight_decay_groups(groups: list[dict]) -> list[dict]:
    """Parameters flagged ``_no_weight_decay`` (Mamba's ``A_log`` and ``D``, flagged as mamba-ssm flags them) move
    to a sibling group with weight decay 0; groups without flagged parameters are returned unchanged."""
    out = []
    for g in groups:
        params = list(g["params"])
        flagged = [p for p in params if getattr(p, "_no_weight_decay", False)]
        rest = [p for p in params if not getattr(p, "_no_weight_decay", False)]
        out += [{**g, "params": rest}] if rest or not flagged else []
        out += [{**g, "params": flagged, "weight_decay": 0.0}] if flagged else []
    return out


# --- the loop --------------------------------------------------------------------------------------------------

def fit(task: Task, out_dir, resume: bool = False, reuse: bool = True, overwrite: bool = False) -> dict:
    """Train ``task`` into ``out_dir`` and return the final metrics (what ``metrics.json`` holds).

    The returned dict has the final evaluation's metrics at the top level (``score`` among them) plus
    ``best_score``, ``best_epoch``, ``epochs``, ``steps``, ``skipped_steps``, ``world_size``, ``history`` (one entry
    per epoch: train loss averaged over ranks, rank 0's task logs, lr, skipped steps, eval metrics, and the
    gradient norm of every step (None for a skipped step) with its mean and max -- when the norm is computed, i.e.
    with ``optim.grad_clip > 0``, ``optim.nonfinite=skip`` or ``optim.log_grad_norm``; else None) and
    ``timing`` (wall-clock figures, the only part that differs between identical runs).

    ``reuse``: a finished run in ``out_dir`` with the same resolved config is returned without training, and an
    interrupted one (a checkpoint, no metrics) with the same config is resumed.
    ``resume``: continue from ``out_dir/checkpoint.pt`` (a missing checkpoint starts from scratch).
    ``overwrite``: replace a run of another config. Without it (or ``resume``/``reuse`` applying) a folder holding
    a run is refused; with it, the earlier run's files are deleted only after the new run's first checkpoint.
    Everything that can be checked -- config values, the model, the optimiser, the checkpoint to resume -- is
    checked before the folder is touched.
    """
    if resume and overwrite:
        raise InputError("--resume and --overwrite: expected at most one of them")
    out = run_folder(out_dir)
    oc: OptimConfig = task.cfg.optim
    check(task.cfg)
    resolved = _resolved(task)
    _recover(out)
    metrics_path, config_path, ckpt_path = out / "metrics.json", out / "config.json", out / CHECKPOINT
    present = [n for n in RUN_FILES[2:] if (out / n).exists()]  # the files that make a run (not config/env)
    replace = bool(present) and not resume
    if present and not overwrite:
        same = config_path.exists() and _read_json(config_path, "resolved config of the run") == resolved
        if (reuse or resume) and metrics_path.exists() and same:
            metrics = _read_json(metrics_path, "metrics of the finished run")
            if not isinstance(metrics, dict) or "score" not in metrics:
                raise InputError(f"{metrics_path}: expected the metrics object of a finished run; pass --overwrite "
                                 "to replace the run")
            log.info("%s: finished run with the same config; reusing it", out)
            return metrics
        if ckpt_path.exists() and (resume or (reuse and same)):
            if not same:
                diff = (_config_diff(_read_json(config_path, "resolved config of the run"), resolved)
                        if config_path.exists() else ["config.json missing"])
                raise InputError(f"{ckpt_path}: cannot resume, the config differs from the run's config.json in "
                                 f"{', '.join(diff) or 'its structure'}")
            if not resume:
                log.info("%s: interrupted run with the same config; resuming it", out)
            resume, replace = True, False
        else:
            raise InputError(f"{out}: holds a run ({', '.join(present)}); pass --resume to continue it or "
                             "--overwrite to replace it")
    if resume and not ckpt_path.exists():
        log.info("%s: no checkpoint to resume from; starting from scratch", ckpt_path)
        resume = False

    dist = _Dist(oc.device)
    replaced = _Replaced(out) if replace and dist.main else None
    try:
        return _fit(task, out, oc, dist, resume, resolved, replaced)
    except BaseException:
        if replaced is not None:
            replaced.restore()
        raise
    finally:
        dist.close()


def _build_model(task: Task, device: torch.device) -> nn.Module:
    try:
        model = task.build_model()
    except (ValueError, TypeError, RuntimeError, ZeroDivisionError, AssertionError) as e:
        raise InputError(f"task {task.name}: the model cannot be built from this config "
                         f"({type(e).__name__}: {_first_line(e)})") from None
    for name, p in model.named_parameters():
        if p.numel() == 0:  # e.g. dim=0: torch builds it and trains nothing
            raise InputError(f"task {task.name}: parameter {name!r} has shape {tuple(p.shape)}; expected every size "
                             "in the config to be >= 1")
    return model.to(device)


def _build_optimizer(groups: list[dict], oc: OptimConfig):
    # foreach: for CPU parameters torch picks the per-tensor loop, one Python-dispatched update per tensor (9 ms of
    # each step of a chapter-20 detector); the grouped update gives bitwise the same weights
    try:
        if oc.optimizer == "adamw":
            return torch.optim.AdamW(groups, lr=oc.lr, weight_decay=oc.weight_decay, foreach=True)
        return torch.optim.SGD(groups, lr=oc.lr, momentum=oc.momentum, nesterov=oc.nesterov,
                               weight_decay=oc.weight_decay, foreach=True)
    except (ValueError, TypeError) as e:
        raise InputError(f"optim: the {oc.optimizer} optimiser refuses this config ({_first_line(e)})") from None


def _check_weights(part: str, state, module: nn.Module) -> None:
    """The tensors of ``state`` have exactly the names and shapes of ``module``'s, with finite values."""
    expected = module.state_dict()
    if not isinstance(state, dict) or set(state) != set(expected):
        names = set(state) if isinstance(state, dict) else set()
        odd = sorted(set(expected) - names)[:3] + sorted(names - set(expected))[:3]
        raise ValueError(f"{part} weights do not match the model (missing or unexpected: {', '.join(map(str, odd))})")
    for k, v in expected.items():
        w = state[k]
        if not torch.is_tensor(w) or w.shape != v.shape:
            raise ValueError(f"{part} tensor {k!r} has shape {tuple(w.shape) if torch.is_tensor(w) else type(w)}, "
                             f"expected {tuple(v.shape)}")
        if w.is_floating_point() and not torch.isfinite(w).all():
            raise ValueError(f"non-finite values in {part} tensor {k!r}")


def _torch_load(path: Path, hint: str):
    try:
        with warnings.catch_warnings():  # torch warns about the pickle protocol of foreign files before refusing them
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 -- torch raises many types (and multi-line messages) for a bad file
        raise InputError(f"{path}: not a readable checkpoint ({type(e).__name__}: {_first_line(e)}); {hint}") \
            from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return (text.splitlines()[0] if text else "")[:200]


def _load_checkpoint(path: Path, model, optimizer, schedule, scaler, ema, dist, oc: OptimConfig) -> dict:
    """Load ``checkpoint.pt`` into the built objects; anything but a checkpoint of this very run -- truncated,
    empty, foreign, wrong shapes, non-finite weights, a pickle of arbitrary objects -- is one InputError."""
    hint = "delete it or pass --overwrite to start the run again"
    ckpt = _torch_load(path, hint)
    try:
        missing = [k for k in ("model", "optimizer", "schedule", "scaler", "ema", "state", "rng")
                   if not isinstance(ckpt, dict) or k not in ckpt]
        if missing:
            raise ValueError(f"missing {', '.join(missing)}")
        for part, module in (("model", model), ("ema", ema.module if ema is not None else None)):
            if module is not None:
                _check_weights(part, ckpt[part], module)
                module.load_state_dict(ckpt[part])
        optimizer.load_state_dict(ckpt["optimizer"])
        for p in (p for g in optimizer.param_groups for p in g["params"]):
            for k, v in optimizer.state.get(p, {}).items():
                if torch.is_tensor(v) and v.ndim and v.shape != p.shape:
                    raise ValueError(f"optimizer state {k!r} of shape {tuple(v.shape)} for a parameter of shape "
                                     f"{tuple(p.shape)}")
                if torch.is_tensor(v) and v.is_floating_point() and not torch.isfinite(v).all():
                    raise ValueError(f"non-finite values in optimizer state {k!r}")
        schedule.load_state_dict(ckpt["schedule"])
        if ckpt["scaler"]:
            scaler.load_state_dict(ckpt["scaler"])
        state = ckpt["state"]
        if not (isinstance(state, dict) and isinstance(state.get("epoch"), int) and 0 <= state["epoch"] <= oc.epochs
                and isinstance(state.get("step"), int) and state["step"] >= 0
                and isinstance(state.get("history"), list) and len(state["history"]) == state["epoch"]
                and {"skipped", "best_score", "best_epoch", "timing"} <= set(state)):
            raise ValueError("state is not that of this run")
        rngs = ckpt["rng"]
        seeding.set_rng_state(rngs[dist.rank] if len(rngs) == dist.world else rngs[0])
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as e:
        raise InputError(f"{path}: not a checkpoint of this run ({type(e).__name__}: {_first_line(e)}); {hint}") \
            from None
    return state


def _fit(task: Task, out: Path, oc: OptimConfig, dist: _Dist, resume: bool, resolved: dict,
         replaced: _Replaced | None) -> dict:
    t_start = time.perf_counter()
    device = dist.device
    task.device = device
    if oc.batch_size % dist.world:
        raise InputError(f"optim.batch_size={oc.batch_size}: the global batch must be divisible by the "
                         f"{dist.world} processes")

    # Same seed on every rank: identical initial weights (DDP also broadcasts rank 0's). Afterwards each rank
    # draws its own random numbers (dropout, augmentation); rank 0 keeps the single-process stream.
    seeding.seed_everything(oc.seed)
    model = _build_model(task, device)
    if dist.world > 1:
        torch.manual_seed(oc.seed + 1_000_003 * dist.rank)
    train_set, val_set = task.datasets()
    per_rank = oc.batch_size // dist.world
    sampler = DistributedSampler(train_set, num_replicas=dist.world, rank=dist.rank, shuffle=True, seed=oc.seed)
    loader_gen = torch.Generator()
    train_loader = DataLoader(train_set, batch_size=per_rank, sampler=sampler, collate_fn=task.collate,
                              num_workers=oc.num_workers, worker_init_fn=seeding.worker_init_fn,
                              generator=loader_gen, pin_memory=device.type == "cuda", drop_last=False)
    val_loader = _DeviceLoader(DataLoader(val_set, batch_size=per_rank, shuffle=False, collate_fn=task.collate,
                                          num_workers=oc.num_workers, worker_init_fn=seeding.worker_init_fn,
                                          pin_memory=device.type == "cuda"), device)
    if len(train_loader) == 0:
        raise InputError(f"task {task.name}: the training set is empty")
    steps_per_epoch = math.ceil(len(train_loader) / oc.accumulate)

    groups = task.param_groups(model) or [{"params": [p for p in model.parameters() if p.requires_grad]}]
    groups = no_weight_decay_groups(groups)
    for g in groups:
        g.setdefault("initial_lr", g.get("lr", oc.lr))
    optimizer = _build_optimizer(groups, oc)
    params = [p for g in optimizer.param_groups for p in g["params"]]
    schedule = Schedule(optimizer, oc, steps_per_epoch)
    amp_dtype, scaler = _precision(oc, device)
    ema = EMA(model, oc.ema_decay) if oc.ema_decay > 0 else None
    train_model = model
    if dist.world > 1:
        train_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=oc.find_unused_parameters)

    state = {"epoch": 0, "step": 0, "skipped": 0, "best_score": None, "best_epoch": None, "history": [],
             "timing": {"train_time_s": 0.0, "eval_time_s": 0.0}}
    if resume:
        state = _load_checkpoint(out / CHECKPOINT, model, optimizer, schedule, scaler, ema, dist, oc)
        log.info("%s: resumed after epoch %d (step %d)", out, state["epoch"], state["step"])

    # Everything is checked: from here on the run folder is written.
    if dist.main:
        try:
            out.mkdir(parents=True, exist_ok=True)
            for tmp in out.glob(".*.tmp"):  # left by a process killed while writing
                tmp.unlink(missing_ok=True)
            if replaced is not None:  # a fresh run over an earlier one: set its files aside until our checkpoint
                replaced.move()
            records.write_json_atomic(out / "config.json", resolved)
            records.write_json_atomic(out / "env.json", {**records.env_info(device=str(device)),
                                                         "world_size": dist.world, "resumed": resume,
                                                         "torch_threads": torch.get_num_threads()})
        except OSError as e:
            raise InputError(f"{e.filename or out}: cannot write the run folder ({e.strerror or type(e).__name__})") \
                from None
    dist.barrier()

    eval_model = ema.module if ema is not None else model
    track_norm = oc.log_grad_norm or oc.grad_clip > 0 or oc.nonfinite == "skip"
    use_scaler = scaler.is_enabled()

    saved = {"epoch": state["epoch"], "at": time.monotonic()}  # the checkpoint on disk

    def kept_checkpoint() -> str:
        return (f"the last good checkpoint {out / CHECKPOINT} (epoch {saved['epoch']}) is left intact"
                if saved["epoch"] else "no checkpoint was written")

    last_eval = None  # (metrics, predictions) of the latest evaluation in this process
    for epoch in range(state["epoch"], oc.epochs):
        t0 = time.perf_counter()
        sampler.set_epoch(epoch)
        loader_gen.manual_seed(oc.seed * 1_000_003 + epoch)  # worker seeds depend on (seed, epoch) only
        task.epoch = epoch + 1
        train_model.train()
        n_batches = len(train_loader)
        loss_sum, loss_n, logs_sum, norms, lr = 0.0, 0, {}, [], optimizer.param_groups[0]["lr"]
        group_finite, skipped_epoch = True, 0
        bar = None
        if oc.progress and dist.main:
            from tqdm.auto import tqdm

            bar = tqdm(total=n_batches, desc=f"epoch {epoch + 1}/{oc.epochs}", leave=False)
        for i, batch in enumerate(train_loader):
            first = (i // oc.accumulate) * oc.accumulate
            group_n = min(oc.accumulate, n_batches - first)
            last_in_group = i - first == group_n - 1
            task.step = state["step"] + 1
            if device.type != "cpu":
                batch = to_device(batch, device)
            with train_model.no_sync() if not last_in_group and dist.world > 1 else _NO_CONTEXT:
                with _autocast(device, amp_dtype):
                    loss, logs = task.loss(train_model, batch)
                value = loss.item()
                if math.isfinite(value):
                    loss_sum, loss_n = loss_sum + value, loss_n + 1
                    for k, v in logs.items():
                        logs_sum[k] = logs_sum.get(k, 0.0) + float(v)
                else:
                    group_finite = False
                if group_n > 1:
                    loss = loss / group_n
                (scaler.scale(loss) if use_scaler else loss).backward()
            if bar is not None:
                bar.update(1)
            if not last_in_group:
                continue

            # one optimizer step
            lr = schedule.apply()
            if use_scaler:
                scaler.unscale_(optimizer)
            norm = _grad_norm(params, oc.grad_clip) if track_norm else 0.0
            # with fp16 the scaler itself skips steps whose gradients overflowed; otherwise a non-finite norm is an
            # error like a non-finite loss
            finite = dist.all_true(group_finite and (math.isfinite(norm) or use_scaler))
            state["step"] += 1
            schedule.step_count += 1
            if not finite:
                reason = ("non-finite loss" if not group_finite else
                          f"non-finite gradient norm ({norm})" if not math.isfinite(norm) else
                          "non-finite loss on another rank")
                what = f"{reason} at step {state['step']} (epoch {epoch + 1}, batch {i + 1})"
                if oc.nonfinite == "stop":
                    raise NonFiniteLossError(f"{what}: training stopped; {kept_checkpoint()}; "
                                             "set optim.nonfinite=skip to skip such steps instead")
                log.warning("%s: step skipped", what)
                optimizer.zero_grad(set_to_none=True)
                state["skipped"] += 1
                skipped_epoch += 1
                norms.append(None)
                group_finite = True
                continue
            if track_norm:
                norms.append(norm)
            if use_scaler:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if ema is not None:
                ema.update(model)
            task.on_step_end(model, state["step"])
        if bar is not None:
            bar.close()
        local_n = loss_n
        loss_sum, loss_n = dist.all_sum([loss_sum, float(loss_n)])
        state["timing"]["train_time_s"] += time.perf_counter() - t0

        if not all(torch.isfinite(p).all() for p in params):
            # a finite loss with non-finite gradients that no per-step norm caught, or an update that overflowed
            raise NonFiniteLossError(f"non-finite weights at the end of epoch {epoch + 1} (step {state['step']}) "
                                     f"although every loss was finite: training stopped; {kept_checkpoint()}; "
                                     "set optim.log_grad_norm=true to stop at the step that caused it")
        finite_norms = [v for v in norms if v is not None]
        entry = {"epoch": epoch + 1, "step": state["step"],
                 "train_loss": loss_sum / loss_n if loss_n else None,
                 "train_logs": {k: v / max(1, local_n) for k, v in logs_sum.items()},
                 "lr": lr, "skipped_steps": skipped_epoch,
                 "grad_norm": {"mean": sum(finite_norms) / len(finite_norms) if finite_norms else None,
                               "max": max(finite_norms) if finite_norms else None},
                 "grad_norms": norms if track_norm else None, "eval": None}
        if (epoch + 1) % oc.eval_every == 0 or epoch + 1 == oc.epochs:
            t1 = time.perf_counter()
            last_eval = _evaluate(task, eval_model, val_loader, device, amp_dtype, dist)
            state["timing"]["eval_time_s"] += time.perf_counter() - t1
            metrics = last_eval[0]
            entry["eval"] = metrics
            if state["best_score"] is None or metrics["score"] > state["best_score"]:
                state["best_score"], state["best_epoch"] = metrics["score"], epoch + 1
                if dist.main:
                    _save_weights_atomic(eval_model.state_dict(), out / BEST)
        state["history"].append(entry)
        state["epoch"] = epoch + 1
        log.info("epoch %d/%d loss %.4f score %s", epoch + 1, oc.epochs, math.nan if entry["train_loss"] is None else entry["train_loss"],
                 f"{entry['eval']['score']:.4f}" if entry["eval"] else "-")

        due = epoch + 1 == oc.epochs or time.monotonic() - saved["at"] >= oc.checkpoint_every_s
        if not dist.broadcast(due):  # rank 0's clock decides: every rank must join the gather below, or none
            continue
        rngs = dist.gather(seeding.rng_state())
        saved.update(epoch=epoch + 1, at=time.monotonic())
        if dist.main:
            _save_atomic({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                          "schedule": schedule.state_dict(), "scaler": scaler.state_dict(),
                          "ema": ema.module.state_dict() if ema is not None else None,
                          "state": state, "rng": rngs}, out / CHECKPOINT)
            if replaced is not None:  # our first checkpoint exists: the earlier run may go
                replaced.discard()

    if last_eval is None:  # resumed from the final checkpoint before metrics.json was written
        last_eval = _evaluate(task, eval_model, val_loader, device, amp_dtype, dist)
    task.on_fit_end(model, dist.rank)
    metrics, predictions = last_eval
    clash = sorted(set(metrics) & set(RESERVED))
    if clash:
        raise InputError(f"task {task.name}: evaluate() returned reserved metric name(s) {clash}")
    wall = time.perf_counter() - t_start
    timing = dict(state["timing"])
    timing["wall_time_s"] = wall
    timing["step_time_ms"] = 1000 * timing["train_time_s"] / max(1, state["step"] * oc.accumulate)
    result = {**metrics, "task": task.name, "best_score": state["best_score"], "best_epoch": state["best_epoch"],
              "epochs": state["epoch"], "steps": state["step"], "skipped_steps": state["skipped"],
              "world_size": dist.world, "history": state["history"], "timing": timing}
    if dist.main:
        records.write_json_atomic(out / "predictions.json", predictions, indent=None)
        records.write_json_atomic(out / "metrics.json", result)  # written last: its presence marks a finished run
    dist.barrier()
    return result


def _evaluate(task: Task, model: nn.Module, loader, device, amp_dtype, dist: _Dist):
    """Rank 0 evaluates the whole validation set; the metrics are broadcast. RNG states are saved and restored
    around it, so how often one evaluates never changes the training trajectory."""
    result = None
    if dist.main:
        rng = seeding.rng_state()
        was_training = model.training
        model.eval()
        with torch.no_grad(), _autocast(device, amp_dtype):
            metrics, predictions = task.evaluate(model, loader)
        model.train(was_training)
        seeding.set_rng_state(rng)
        if "score" not in metrics:
            raise InputError(f"task {task.name}: evaluate() must return a 'score' metric (higher is better)")
        metrics = {k: float(v) if isinstance(v, (int, float)) or hasattr(v, "item") else v
                   for k, v in metrics.items()}
        result = (metrics, predictions)
    metrics = dist.broadcast(result[0] if result else None)
    return metrics, (result[1] if result else None)


def load_model(task: Task, out_dir, which: str = "best") -> nn.Module:
    """The model of a run with the weights it was evaluated with (EMA weights when EMA was on).

    ``which``: "best" (``best.safetensors``) or "last" (``checkpoint.pt``).
    """
    out = Path(out_dir)
    model = task.build_model()
    if which == "best":
        path = out / BEST
        if not path.exists():
            raise InputError(f"{path}: no best checkpoint; train first with `python -m mglib train`")
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except Exception as e:  # noqa: BLE001 -- safetensors raises its own error types for a bad file
            raise InputError(f"{path}: not a readable safetensors file ({type(e).__name__}: {_first_line(e)}); "
                             "train again with `python -m mglib train`") from None
    elif which == "last":
        path = out / CHECKPOINT
        if not path.exists():
            raise InputError(f"{path}: no checkpoint; train first with `python -m mglib train`")
        ckpt = _torch_load(path, "train again with `python -m mglib train`")
        if not isinstance(ckpt, dict) or not isinstance(ckpt.get("model"), dict):
            raise InputError(f"{path}: expected a checkpoint with the model's weights")
        state = ckpt["ema"] if ckpt.get("ema") is not None else ckpt["model"]
    else:
        raise InputError(f"load_model which={which!r}: expected 'best' or 'last'")
    try:
        _check_weights("model", state, model)
    except ValueError as e:
        raise InputError(f"{path}: {e}") from None
    model.load_state_dict(state)
    return model.eval()
