"""Training configuration: the optimisation settings every task shares, and ``--set key=value`` overrides.

A task's config is a dataclass with a field ``optim: OptimConfig`` plus its own fields. Overrides address nested
fields with dots (``optim.lr=0.01``), are parsed like YAML scalars and are checked against the dataclass
annotations before any work starts, so a typo fails in a second rather than after an hour of training.
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
import types
import typing
from dataclasses import dataclass, field

import yaml

from mglib.errors import InputError


def _choice(default: str, *choices: str):
    """A ``str`` field restricted to ``choices`` (checked by :func:`apply_overrides` and :func:`check`)."""
    return field(default=default, metadata={"choices": choices})


def bounded(default, lo=None, hi=None, *, lo_open: bool = False, hi_open: bool = False):
    """A numeric field (or a tuple of numbers: each element) restricted to ``lo <= value <= hi`` (``<`` when open)."""
    return field(default=default, metadata={"range": (lo, hi, lo_open, hi_open)})


def positive(default):
    """A number > 0 (an int field: >= 1)."""
    return bounded(default, 0, lo_open=True)


def non_negative(default):
    return bounded(default, 0)


def pattern(default: str, regex: str, what: str):
    """A ``str`` field that must match ``regex`` entirely (``what`` describes it in the error)."""
    return field(default=default, metadata={"pattern": (regex, what)})


@dataclass
class OptimConfig:
    epochs: int = positive(10)
    batch_size: int = positive(8)  # global batch: split evenly across ranks under torchrun
    optimizer: str = _choice("adamw", "adamw", "sgd")
    lr: float = non_negative(1e-3)
    weight_decay: float = non_negative(1e-4)
    momentum: float = bounded(0.9, 0, 1)  # sgd only
    nesterov: bool = False  # sgd only
    schedule: str = _choice("cosine", "cosine", "step", "constant")
    warmup_epochs: float = non_negative(0.0)  # linear warm-up, may be fractional
    milestones: tuple[int, ...] = non_negative(())  # epochs at which "step" multiplies the lr by gamma
    gamma: float = non_negative(0.1)
    grad_clip: float = non_negative(0.0)  # 0 = off (max-norm)
    # gradient norm of every step in the history. Always on when grad_clip > 0 (clipping computes it anyway) or
    # nonfinite=skip (a non-finite gradient must be caught before the step); otherwise it costs a few % per step
    log_grad_norm: bool = False
    ema_decay: float = bounded(0.0, 0, 1, hi_open=True)  # 0 = off; evaluation and the best checkpoint use EMA weights
    accumulate: int = positive(1)  # micro-batches per optimizer step
    amp: bool = True  # only acts on CUDA: bf16 where supported, else fp16 with a gradient scaler
    eval_every: int = positive(1)  # epochs; the last epoch is always evaluated
    # wall seconds between two writes of checkpoint.pt (the last epoch is always written; 0 = every epoch): a
    # short run pays for one write, not one per epoch (about 5 % of a 20-s detector run), and a killed long run
    # loses at most this much
    checkpoint_every_s: float = non_negative(60.0)
    nonfinite: str = _choice("stop", "stop", "skip")
    num_workers: int = non_negative(0)
    seed: int = bounded(0, 0, 2**63 - 1)  # torch.manual_seed takes a signed 64-bit integer
    device: str = pattern("auto", r"auto|cpu|cuda(:[0-9]+)?", "auto, cpu, cuda or cuda:N")
    progress: bool = False  # tqdm on rank 0
    find_unused_parameters: bool = False  # DDP option for models with branches unused in some steps


def to_dict(cfg) -> dict:
    """Plain JSON-ready dict of a config (tuples become lists), as stored in ``config.json``."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def check(cfg, prefix: str = "") -> None:
    """Validate a (nested) config; raises InputError naming the field and what was expected.

    Every config gets, whatever its fields: floats finite (no nan/inf), integers within signed 64 bits (what torch
    and numpy take), nested sections checked. Fields declared with :func:`_choice`, :func:`bounded` (and
    :func:`positive`, :func:`non_negative`) or :func:`pattern` are also held to their rule.
    """
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            check(value, prefix + f.name + ".")
        else:
            _check_field(f, value, f"config field {prefix + f.name!r}")


def _check_field(f: dataclasses.Field, value, label: str) -> None:
    meta = f.metadata
    for v in value if isinstance(value, (list, tuple)) else (value,):
        if isinstance(v, float) and not math.isfinite(v):
            raise InputError(f"{label}: expected a finite number, got {v}")
        if isinstance(v, int) and not isinstance(v, bool) and not -2**63 <= v < 2**63:
            raise InputError(f"{label}: expected an integer within signed 64 bits, got {v}")
        if "range" in meta and isinstance(v, (int, float)) and not isinstance(v, bool):
            lo, hi, lo_open, hi_open = meta["range"]
            if (lo is not None and (v <= lo if lo_open else v < lo)) or \
                    (hi is not None and (v >= hi if hi_open else v > hi)):
                parts = [] if lo is None else [f"{'>' if lo_open else '>='} {lo}"]
                parts += [] if hi is None else [f"{'<' if hi_open else '<='} {hi}"]
                raise InputError(f"{label}: expected a value {' and '.join(parts)}, got {v}")
    if "choices" in meta and value not in meta["choices"]:
        raise InputError(f"{label}: expected one of {', '.join(meta['choices'])}, got {value!r}")
    if "pattern" in meta:
        regex, what = meta["pattern"]
        if not isinstance(value, str) or not re.fullmatch(regex, value):
            raise InputError(f"{label}: expected {what}, got {value!r}")


def apply_overrides(cfg, items: list[str] | None, source: str = "--set"):
    """Return a copy of ``cfg`` with ``key=value`` overrides applied; unknown keys and bad values raise InputError.

    >>> apply_overrides(ToyConfig(), ["optim.lr=0.01", "hidden=64"]).optim.lr
    0.01
    """
    cfg = _deepcopy(cfg)
    for item in items or []:
        if "=" not in item:
            raise InputError(f"{source} {item!r}: expected key=value")
        key, raw = (s.strip() for s in item.split("=", 1))
        *parents, leaf = key.split(".")
        node = cfg
        for i, part in enumerate(parents):
            sub = getattr(node, part, None) if _has_field(node, part) else None
            if not dataclasses.is_dataclass(sub):
                raise InputError(f"{source} {key}: unknown key {'.'.join(parents[:i + 1])!r} "
                                 f"(known: {', '.join(_field_names(node))})")
            node = sub
        if not _has_field(node, leaf):
            raise InputError(f"{source} {key}: unknown key {key!r} (known: {', '.join(_field_names(node))})")
        f = next(f for f in dataclasses.fields(node) if f.name == leaf)
        tp = typing.get_type_hints(type(node))[leaf]
        if dataclasses.is_dataclass(getattr(node, leaf)):
            raise InputError(f"{source} {key}: {key!r} is a section; set its fields as {key}.NAME=VALUE")
        value = _convert(raw, tp, key, source)
        _check_field(f, value, f"{source} {key}={raw}")
        setattr(node, leaf, value)
    check(cfg)
    return cfg


def _deepcopy(cfg):
    changes = {f.name: _deepcopy(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)
               if dataclasses.is_dataclass(getattr(cfg, f.name))}
    return dataclasses.replace(cfg, **changes)


def _has_field(node, name: str) -> bool:
    return dataclasses.is_dataclass(node) and name in {f.name for f in dataclasses.fields(node)}


def _field_names(node) -> list[str]:
    return [f.name for f in dataclasses.fields(node)]


_TRUE, _FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}
_NONE = {"none", "null", "~", ""}


def _convert(raw, tp, key: str, source: str):
    """Convert a raw string (or an already parsed YAML element) to annotation ``tp``."""
    def bad(expected: str):
        return InputError(f"{source} {key}={raw}: expected {expected}")

    origin, args = typing.get_origin(tp), typing.get_args(tp)
    text = raw if isinstance(raw, str) else None
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if type(None) in args and (raw is None or (text is not None and text.lower() in _NONE)):
            return None
        for a in inner:
            try:
                return _convert(raw, a, key, source)
            except InputError:
                continue
        raise bad(" or ".join(_type_name(a) for a in args))
    if origin is typing.Literal:
        value = raw if text is None else (text if all(isinstance(a, str) for a in args) else yaml.safe_load(text))
        if value not in args:
            raise bad("one of " + ", ".join(map(str, args)))
        return value
    if tp is bool:
        if isinstance(raw, bool):
            return raw
        if text is not None and text.lower() in _TRUE | _FALSE:
            return text.lower() in _TRUE
        raise bad("a bool (true/false)")
    if tp is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if text is None or not re.fullmatch(r"\s*[-+]?[0-9]+\s*", text):  # int() would also take "1_0" or "٣"
            raise bad("an int")
        return int(text)
    if tp is float:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return float(raw)
        try:  # float(), not YAML: "1e-3" is a float here
            return float(text) if text is not None and text.isascii() and "_" not in text else _fail()
        except (TypeError, ValueError):
            raise bad("a float") from None
    if tp is str:
        if text is None:
            raise bad("a string")
        return text
    if origin in (tuple, list):
        if text is not None:
            try:
                parsed = yaml.safe_load(text) if text.strip() else []
            except yaml.YAMLError:
                parsed = None
            if not isinstance(parsed, list):  # "1,2,3" or a single scalar
                parsed = [s.strip() for s in text.split(",") if s.strip()]
        elif isinstance(raw, (list, tuple)):
            parsed = list(raw)
        else:
            raise bad(_type_name(tp))
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(parsed) != len(args):
                raise bad(f"{len(args)} values")
            elem_types = list(args)
        else:
            elem_types = [args[0] if args else str] * len(parsed)
        values = [_convert(v if not isinstance(v, (int, float, bool)) or t is not str else str(v), t, key, source)
                  for v, t in zip(parsed, elem_types)]
        return tuple(values) if origin is tuple else values
    raise bad(_type_name(tp))


def _fail():
    raise ValueError


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")
