"""Run records: every result in the book comes from a folder written here.

A record holds ``metrics.json``, ``params.json`` (resolved parameters), ``env.json`` (versions, device, git
commit, threads) and the wall time. Book tables are built from these files with :func:`load`.
"""
from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

from mglib import paths

PACKAGES = ("torch", "numpy", "scipy", "pandas", "av", "matplotlib", "papermill", "jupyter-book",
            "torchvision", "mamba-ssm")


def write_json_atomic(path, obj, indent: int | None = 2) -> None:
    """Write JSON through a temp file and a rename, so a reader never sees a half-written file. ``indent=None``
    writes it compact (for machine-read files of megabytes, where indentation costs seconds)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        # dumps, not dump: only a one-shot compact encode takes json's C encoder
        f.write(json.dumps(obj, indent=indent, sort_keys=True, allow_nan=False, default=_jsonable) + "\n")
    os.replace(tmp, path)


def _jsonable(o):
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# Metric names that hold measured times or speeds: they differ from run to run by nature, so comparisons of two
# runs' results (e.g. parallel against sequential) leave them out. Name timing metrics accordingly.
_TIMING = re.compile(r"(_s|_ms|seconds|speedup|per_s|latency|throughput|wall_time)$|(^|_)time(_|$)", re.IGNORECASE)


def without_timings(obj):
    """``obj`` (parsed metrics JSON) minus every entry whose key names a time or a speed, at any depth."""
    if isinstance(obj, dict):
        return {k: without_timings(v) for k, v in obj.items() if not _TIMING.search(str(k).split("/")[-1])}
    if isinstance(obj, list):
        return [without_timings(v) for v in obj]
    return obj


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=paths.ROOT, capture_output=True, text=True,
                             timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=paths.ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("+dirty" if dirty else "")


KERNEL_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "ATEN_CPU_CAPABILITY", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA")


def kernel_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The :data:`KERNEL_ENV` variables set in ``env`` (default: this process's environment). They change the last
    bits of training, so the training caches key their folders by them: a run trained under other kernels is trained
    anew, never reused as if equal."""
    env = os.environ if env is None else env
    return {k: env[k] for k in KERNEL_ENV if k in env}


def cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), None)
    except OSError:
        return platform.processor() or None


def env_info(device: str | None = None) -> dict:
    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    info = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),  # timings differ by CPU generation: a record names the machine it was taken on
        # these select torch's, MKL's and oneDNN's kernels and thread count, which change the last bits of training
        # (enough for chaotic runs to diverge), so a record keeps them
        "kernel_env": kernel_env(),
        "packages": versions,
        "git_commit": git_commit(),
        "device": device,
    }
    if "torch" in sys.modules:  # never import torch just to describe the environment
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.version.cuda if torch.cuda.is_available() else None
        if device is None:
            info["device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return info


class Run:
    """Record of one notebook run under ``results/<notebook>/<profile>/``.

    >>> run = Run("02_metrics", profile="smoke", params={"seed": 0})
    >>> run.log(top1=0.5)
    >>> run.finish()
    """

    def __init__(self, notebook: str, profile: str, params: dict | None = None, out: Path | None = None):
        self.notebook, self.profile = notebook, profile
        self.params = dict(params or {})
        self.params.setdefault("profile", profile)
        self.dir = Path(out) if out else paths.results_dir(notebook, profile)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.metrics: dict = {}
        self._t0 = time.perf_counter()

    def log(self, **metrics) -> None:
        self.metrics.update(metrics)

    def save(self, name: str, obj) -> Path:
        """Save an extra JSON artefact (predictions, curves) beside the metrics."""
        path = self.dir / (name if name.endswith(".json") else f"{name}.json")
        write_json_atomic(path, obj)
        return path

    def finish(self) -> Path:
        wall = time.perf_counter() - self._t0
        write_json_atomic(self.dir / "params.json", self.params)
        write_json_atomic(self.dir / "env.json", {**env_info(), "wall_time_s": round(wall, 3)})
        write_json_atomic(self.dir / "metrics.json", self.metrics)
        return self.dir


def load(notebook: str, profile: str, name: str = "metrics") -> dict:
    """Read one file of a record; a missing record is an error that says which run to execute."""
    path = paths.results_dir(notebook, profile) / f"{name}.json"
    if not path.exists():
        from mglib.errors import InputError

        raise InputError(f"{paths.relative(path)}: no such record; run `python -m mglib run --profile {profile} "
                         f"--only {notebook}` first")
    with open(path) as f:
        return json.load(f)
