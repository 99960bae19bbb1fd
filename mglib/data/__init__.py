"""Datasets: readers for the real on-disk formats and a synthetic generator that writes the same formats."""
from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

from mglib import paths


def _generator_digest() -> str:
    """Hash of the code that writes the synthetic data: a change to it regenerates the data (the chapter helpers,
    the benchmark and the CLI glue are left out, so editing them does not)."""
    h = hashlib.sha256()
    for f in sorted(Path(__file__).parent.glob("*.py")):
        if f.name in ("__init__.py", "summary.py", "bench.py", "commands.py"):
            continue
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()[:16]


def ensure(profile: str, seed: int = 0) -> None:
    """Generate the synthetic datasets of ``profile`` under data/ unless an identical copy is already there."""
    from mglib.data import synthetic

    digest = _generator_digest()
    for dataset in paths.DATASETS:
        out = paths.synthetic_dir(dataset, profile)
        marker = out / ".complete"
        key = {"dataset": dataset, "profile": profile, "seed": seed, "generator": digest}
        if marker.exists() and json.loads(marker.read_text()) == key:
            continue
        if out.exists():
            shutil.rmtree(out)  # stale or half-written: never mix two generator versions
        print(f"[mglib] generating synthetic {dataset} ({profile}) -> {paths.relative(out)}", file=sys.stderr)
        synthetic.generate(dataset, profile, out, seed=seed)
        marker.write_text(json.dumps(key))
