"""Wall time of building the book of a profile one notebook after another and with the parallel runner, in one run.

    python benchmarks/bench_book.py [--profile smoke|cpu] [--jobs N]
    python benchmarks/bench_book.py --profile cpu --from-build WALL_S   # record a parallel build already made
    python benchmarks/bench_book.py --profile cpu --keep DIR  # keep both modes' project roots (results, notebooks)

Each mode is ``python -m mglib book`` (every notebook, then the HTML of Jupyter Book: what ``make book`` does once the
environment and the data are there) in a fresh project root of its own (the notebooks, mglib, profiles.yml and book
sources of this checkout, the synthetic data already generated, EMPTY results and caches), so both train everything
from scratch. The data is generated (or checked) once before both, and that time is recorded too. The script
checks that both modes record identical metrics (every value, bit for bit, apart from measured times and speeds:
``records.without_timings``), then writes the record to
``benchmarks/records/bench_book_<profile>.json`` (tracked, because a run this long is not repeated by every build;
the "Building this book" page shows it with the commit and machine it was measured on) and to
``results/bench_book/<profile>/``.

``--from-build WALL_S`` records a build that ``make book`` has just made in this checkout instead of running one: the
per-notebook times from its execution records and WALL_S, the build's measured wall time. It has no sequential run
(``sequential_s`` is null), so use it only where the two runs do not fit the time at hand, and say so.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

import mglib as mg  # noqa: E402
from mglib import data, paths, records, runner  # noqa: E402


def _run_mode(profile: str, jobs: int, workdir: Path) -> dict:
    root = workdir / f"jobs{jobs}"
    root.mkdir()
    # benchmarks/: the runner orders a first build by the tracked record, as in a fresh clone
    for name in ("notebooks", "mglib", "profiles.yml", "benchmarks", "_config.yml", "_toc.yml"):
        (root / name).symlink_to(ROOT / name)
    (root / "book").mkdir()  # the book's sources; its executed notebooks and HTML are this mode's own
    for entry in (ROOT / "book").iterdir():
        if entry.name != "executed":
            (root / "book" / entry.name).symlink_to(entry)
    (root / "data").symlink_to(paths.DATA)
    env = {**os.environ, "MGLIB_ROOT": str(root), "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "mglib", "book", "--profile", profile, "--jobs", str(jobs)], env=env,
                          cwd=root)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"bench_book: the {jobs}-worker run failed (exit {proc.returncode})")
    notebooks = {}
    for nb in runner.list_notebooks():
        rec = root / "results" / nb / profile
        notebooks[nb] = {"wall_time_s": json.loads((rec / "execution.json").read_text())["wall_time_s"],
                         "metrics": (records.without_timings(json.loads((rec / "metrics.json").read_text()))
                                     if (rec / "metrics.json").exists() else None)}
    return {"wall_s": round(wall, 1), "notebooks": notebooks}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu", choices=("smoke", "cpu"))
    ap.add_argument("--jobs", type=int, default=runner.default_jobs())
    ap.add_argument("--from-build", type=float, metavar="WALL_S", help="record the build made in this checkout")
    ap.add_argument("--keep", type=Path, metavar="DIR",
                    help="run in DIR (a new folder) and keep it: each mode's results and executed notebooks")
    args = ap.parse_args(argv)
    if args.from_build is not None:
        return _record(args.profile, _from_build(args.profile, args.from_build))
    t0 = time.perf_counter()
    data.ensure(args.profile)
    data_s = time.perf_counter() - t0
    if args.keep:
        if args.keep.exists():  # a kept run is never overwritten
            raise SystemExit(f"bench_book: --keep {args.keep}: the folder exists; expected a new one")
        args.keep.mkdir(parents=True)
    with (contextlib.nullcontext(args.keep) if args.keep else tempfile.TemporaryDirectory()) as tmp:
        # the parallel build first: it is the one the budget is about, known an hour sooner
        par = _run_mode(args.profile, args.jobs, Path(tmp))
        seq = _run_mode(args.profile, 1, Path(tmp))
    identical = all(seq["notebooks"][nb]["metrics"] == par["notebooks"][nb]["metrics"] for nb in seq["notebooks"])
    result = {"profile": args.profile, "jobs": args.jobs, "sequential_s": seq["wall_s"], "parallel_s": par["wall_s"],
              "speedup": round(seq["wall_s"] / par["wall_s"], 2), "identical_metrics": identical,
              "data_check_s": round(data_s, 1),
              "notebooks": {nb: {"sequential_s": seq["notebooks"][nb]["wall_time_s"],
                                 "parallel_s": par["notebooks"][nb]["wall_time_s"]} for nb in seq["notebooks"]},
              "env": records.env_info(device="cpu")}
    _record(args.profile, result)
    print(f"{args.profile}: sequential {seq['wall_s']:.0f} s, {args.jobs} workers {par['wall_s']:.0f} s "
          f"({result['speedup']}x); recorded metrics identical: {identical}")
    if not identical:
        raise SystemExit("bench_book: the parallel run recorded different metrics from the sequential one")
    return result


def _from_build(profile: str, wall_s: float) -> dict:
    notebooks, jobs = {}, set()
    for nb in runner.list_notebooks():
        rec = json.loads((paths.results_dir(nb, profile) / "execution.json").read_text())
        notebooks[nb] = {"sequential_s": None, "parallel_s": rec["wall_time_s"]}
        jobs.add(rec.get("jobs", 1))
    return {"profile": profile, "jobs": max(jobs), "sequential_s": None, "parallel_s": round(wall_s, 1),
            "speedup": None, "identical_metrics": None, "notebooks": notebooks, "env": records.env_info(device="cpu")}


def _record(profile: str, result: dict) -> dict:
    records.write_json_atomic(ROOT / "benchmarks" / "records" / f"bench_book_{profile}.json", result)
    run = mg.Run("bench_book", profile, {"jobs": result["jobs"]})
    run.log(**{k: result[k] for k in ("sequential_s", "parallel_s", "speedup", "identical_metrics")
               if result[k] is not None})
    run.save("notebooks", result["notebooks"])
    run.finish()
    return result


if __name__ == "__main__":
    main()
