"""Datasets: readers for the real on-disk formats and a synthetic generator that writes the same formats."""
from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

from mglib import paths


# Files that only read, summarise or benchmark data: editing them never regenerates anything.
_NOT_GENERATOR = {"__init__.py", "summary.py", "bench.py", "commands.py", "fetch.py"}


def _generator_digest(dataset: str) -> str:
    """Hash of the code that writes the synthetic ``dataset``: the shared modules plus its own ``synth_<dataset>.py``
    (another dataset's generator is left out, so calibrating one stand-in does not regenerate the others)."""
    h = hashlib.sha256()
    for f in sorted(Path(__file__).parent.glob("*.py")):
        if f.name in _NOT_GENERATOR or (f.name.startswith("synth_") and f.stem != f"synth_{dataset}"):
            continue
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()[:16]


def fetch_real() -> bool:
    """Fetch the real MMA-52 annotations into data/real/mma52 unless valid copies are there: from the mirror
    (``$MGLIB_DATA_MIRROR``, resolved against the current directory now) or the network. Without either, one line
    says that synthetic MMA-52 falls back to parametric timelines."""
    from mglib.data import fetch

    if fetch.verified_dir("mma52-annotations") is not None:
        return True  # quietly: notebooks call ensure() and compare their stored output
    try:
        fetch.fetch("mma52-annotations", mirror=fetch.mirror_root())
        return True
    except fetch.FetchError as e:
        print(f"[mglib] synthetic MMA-52 falls back to parametric timelines: no real annotations ({e})",
              file=sys.stderr)
        return False


def _marker_key(dataset: str, profile: str, seed: int) -> dict:
    from mglib.data import synth_mma52

    key = {"dataset": dataset, "profile": profile, "seed": seed, "generator": _generator_digest(dataset)}
    if dataset == "mma52":
        key["timelines"] = synth_mma52.timeline_source()
    return key


def _is_current(out: Path, key: dict) -> bool:
    marker = out / ".complete"
    return marker.exists() and json.loads(marker.read_text()) == key


def ensure(profile: str, seed: int = 0) -> None:
    """Fetch the real MMA-52 annotations, then generate the synthetic datasets of ``profile`` under data/ unless an
    identical copy is already there (for MMA-52: made from the same timelines, real or parametric). The time each
    generation took goes to ``.generation.json`` beside the data, for the data benchmark."""
    from mglib.data import synthetic

    fetch_real()
    for dataset in paths.DATASETS:
        out = paths.synthetic_dir(dataset, profile)
        key = _marker_key(dataset, profile, seed)
        if _is_current(out, key):
            continue
        if out.exists():
            shutil.rmtree(out)  # stale or half-written: never mix two generator versions
        print(f"[mglib] generating synthetic {dataset} ({profile}) -> {paths.relative(out)}", file=sys.stderr)
        info = synthetic.generate(dataset, profile, out, seed=seed)
        (out / ".generation.json").write_text(json.dumps({"seconds": info["seconds"], "frames": info["frames"],
                                                          "workers": synthetic.workers()}))
        (out / ".complete").write_text(json.dumps(key))


def generation_record(dataset: str, profile: str, seed: int = 0) -> dict | None:
    """How long :func:`ensure` took to write the current synthetic ``dataset`` of ``profile`` (seconds, frames,
    workers); None when that copy is missing or stale, or was written before ensure kept such records."""
    out = paths.synthetic_dir(dataset, profile)
    rec = out / ".generation.json"
    if not rec.exists() or not _is_current(out, _marker_key(dataset, profile, seed)):
        return None
    return json.loads(rec.read_text())
