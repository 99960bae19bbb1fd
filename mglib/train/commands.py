"""``python -m mglib train TASK --set key=value ... --out DIR [--resume | --overwrite]``."""
from __future__ import annotations

import importlib
import logging
import sys

from mglib.errors import InputError

# CLI name -> (module, class); imported lazily so a study that has not landed yet only fails when asked for.
TASKS = {
    "toy": ("mglib.train.toy", "ToyTask"),
    "classification": ("mglib.studies.classification.task", "ClassificationTask"),
    "online": ("mglib.studies.online.task", "OnlineTask"),
    "detection": ("mglib.studies.detection.task", "DetectionTask"),
}


def task_class(name: str):
    if name not in TASKS:
        raise InputError(f"task {name!r}: expected one of {', '.join(TASKS)}")
    module, cls = TASKS[name]
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name and module.startswith(e.name):
            raise InputError(f"task {name} is not available in this checkout ({module} is missing)") from None
        raise
    if not hasattr(mod, cls):
        raise InputError(f"task {name} is not available in this checkout ({module}.{cls} is missing)")
    return getattr(mod, cls)


def train(args) -> int:
    from mglib.train.config import apply_overrides
    from mglib.train.engine import NonFiniteLossError, fit

    cls = task_class(args.task)
    cfg = apply_overrides(cls.Config(), args.overrides)  # refuses bad keys/values before any work
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        metrics = fit(cls(cfg), args.out, resume=args.resume, overwrite=getattr(args, "overwrite", False))
    except NonFiniteLossError as e:
        raise InputError(str(e)) from None
    print(f"{args.task}: score {metrics['score']:.4f} (best {metrics['best_score']:.4f} at epoch "
          f"{metrics['best_epoch']}), {metrics['steps']} steps, {metrics['skipped_steps']} skipped -> {args.out}",
          file=sys.stderr)
    return 0
