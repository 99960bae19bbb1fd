"""Where things live in the project tree. Everything is relative to the repository root."""
from __future__ import annotations

import os
from pathlib import Path

# The package sits at <root>/mglib; MGLIB_ROOT lets an installed copy point at a checkout.
ROOT = Path(os.environ.get("MGLIB_ROOT", Path(__file__).resolve().parent.parent))
DATA = ROOT / "data"
RESULTS = ROOT / "results"
NOTEBOOKS = ROOT / "notebooks"
BOOK = ROOT / "book"
EXECUTED = BOOK / "executed"  # papermill output, git-ignored; the toc points here
CACHE = RESULTS / "cache"  # checkpoints and feature caches shared across runs
PROFILES_FILE = ROOT / "profiles.yml"
BENCH_RECORDS = ROOT / "benchmarks" / "records"  # tracked timings of whole-book runs (bench_book.py)

DATASETS = ("smg", "imigue", "mma52")


def synthetic_dir(dataset: str, profile: str) -> Path:
    """Folder of the synthetic stand-in for ``dataset`` at ``profile`` size."""
    return DATA / "synthetic" / profile / dataset


def results_dir(notebook: str, profile: str) -> Path:
    return RESULTS / notebook / profile


def bench_record(profile: str) -> Path:
    """The tracked sequential-vs-parallel timing of a whole ``profile`` build (benchmarks/bench_book.py)."""
    return BENCH_RECORDS / f"bench_book_{profile}.json"


def relative(path) -> str:
    """Path shown relative to the project root, so printed output is the same on every machine."""
    p = Path(path).resolve()
    try:
        return str(p.relative_to(ROOT))
    except ValueError:
        return str(path)


def user_path(value) -> Path:
    """A path given by a user or a profile: absolute as is, relative against the project root (notebooks run with
    their own folder as working directory, so the root is the one place both agree on)."""
    p = Path(value).expanduser()
    return p if p.is_absolute() else ROOT / p
