"""How long the book takes to build: the execution records of this build and the recorded sequential-vs-parallel
benchmark (benchmarks/bench_book.py). Chapter: notebooks/90_building_the_book; each chapter's runtime line comes
from :func:`runtime`."""
from __future__ import annotations

import json

import pandas as pd

from mglib import book, paths, runner

# The wall-time budget of a whole build (profiles.yml's header states it; the study issues hold every chapter to it).
BUDGET_S = {"cpu": 30 * 60}


def benchmark(profile: str) -> dict | None:
    """The recorded sequential-vs-parallel run of ``profile``, or None when it was never measured."""
    path = paths.bench_record(profile)
    return json.loads(path.read_text()) if path.exists() else None


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "not measured"
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def execution_table(profile: str):
    """Per-notebook wall time of the executions recorded in this checkout (the runner writes execution.json)."""
    rows = []
    for nb in runner.list_notebooks():
        path = paths.results_dir(nb, profile) / "execution.json"
        if path.exists():
            rec = json.loads(path.read_text())
            rows.append({"notebook": nb, "wall time": _minutes(rec["wall_time_s"]),
                         "workers": rec.get("jobs", 1), "needs": "every other notebook" if nb == runner.LAST
                         else ", ".join(runner.dependencies(nb)) or "—"})
    if not rows:
        return book.result_box(f"No notebook of the {profile} profile has been executed in this checkout yet.",
                               "Execution records")
    return book.table(pd.DataFrame(rows), f"Wall time of each notebook in this build ({profile} profile), from "
                      "`results/<notebook>/<profile>/execution.json`.", "executions")


def benchmark_table(profile: str):
    rec = benchmark(profile)
    if rec is None:
        return book.result_box(f"The {profile} build has not been benchmarked; run `python benchmarks/bench_book.py "
                               f"--profile {profile}`.", "Benchmark")
    rows = [{"notebook": nb, "one after another": _minutes(t["sequential_s"]),
             f"{rec['jobs']} workers": _minutes(t["parallel_s"])} for nb, t in rec["notebooks"].items()]
    # a --from-build record times the whole `make book`: data check, notebooks and the HTML build; a side-by-side
    # record times `mglib book` (notebooks and HTML) in each mode, after generating the data once
    if rec["sequential_s"] is None:
        rows.append({"notebook": "**`make book` (wall)**", "one after another": _minutes(None),
                     f"{rec['jobs']} workers": _minutes(rec["parallel_s"])})
    else:
        rows.append({"notebook": "**notebooks + HTML (wall)**", "one after another": _minutes(rec["sequential_s"]),
                     f"{rec['jobs']} workers": _minutes(rec["parallel_s"])})
        if rec.get("data_check_s") is not None:
            rows.append({"notebook": "**with the data: `make book` (wall)**",
                         "one after another": _minutes(rec["data_check_s"] + rec["sequential_s"]),
                         f"{rec['jobs']} workers": _minutes(make_book_s(rec))})
    commit = (rec["env"].get("git_commit") or "unknown")[:10]
    if rec["sequential_s"] is None:  # bench_book.py --from-build: one parallel build, no sequential run
        return book.table(pd.DataFrame(rows), f"Executing every {profile} notebook from empty caches with "
                          f"{rec['jobs']} workers, recorded from a `make book` build (commit {commit}, "
                          f"{rec['env'].get('cpu_count')} cores). The sequential run was not measured at this "
                          "profile.", f"bench-{profile}")
    summed = {m: _minutes(sum(t[f"{m}_s"] for t in rec["notebooks"].values())) for m in ("sequential", "parallel")}
    return book.table(pd.DataFrame(rows), f"Building the {profile} book from empty caches (every notebook, then the "
                      f"HTML), one notebook after another and with {rec['jobs']} workers, in one run of "
                      f"`benchmarks/bench_book.py` (commit {commit}, {rec['env'].get('cpu_count')} cores), after "
                      f"generating the data once. Summed over the notebooks: {summed['sequential']} one after "
                      f"another, {summed['parallel']} with {rec['jobs']} workers.", f"bench-{profile}")


def make_book_s(rec: dict) -> float:
    """What ``make book`` takes once the environment is installed: the parallel build, plus the data generation of
    a side-by-side record (a --from-build record timed ``make book`` itself)."""
    data_s = rec.get("data_check_s") if rec["sequential_s"] is not None else None
    return rec["parallel_s"] + (data_s or 0.0)


def benchmark_summary(profile: str) -> list[str]:
    rec = benchmark(profile)
    if rec is None:
        return [f"No benchmark of the {profile} build is recorded."]
    if rec["sequential_s"] is None:
        lines = [f"At the {profile} profile `make book` took {_minutes(rec['parallel_s'])} with {rec['jobs']} "
                 "workers, from a fresh clone (data, notebooks and the HTML build); no sequential run was measured in "
                 "the same session, so there is no speed-up to report."]
    else:
        lines = [f"At the {profile} profile the book (notebooks and HTML) took {_minutes(rec['sequential_s'])} one "
                 f"notebook after another and {_minutes(rec['parallel_s'])} with {rec['jobs']} workers, a speed-up of "
                 f"{rec['speedup']:.2f}×; with the data generated first ({_minutes(rec.get('data_check_s'))}), "
                 f"`make book` takes {_minutes(make_book_s(rec))} after installing.",
                 "Both runs recorded the same metrics, bit for bit, apart from measured times and speeds."
                 if rec["identical_metrics"] else
                 "The two runs recorded DIFFERENT metrics: the parallel runner is broken."]
    budget = BUDGET_S.get(profile)
    if budget:
        verdict = "within" if make_book_s(rec) <= budget else "over"
        cpu = rec["env"].get("cpu_model") or "CPU model not recorded"
        lines.append(f"The {rec['jobs']}-worker build is {verdict} the {_minutes(budget)} budget of the {profile} book "
                     f"on the {rec['env'].get('cpu_count')}-core machine it was measured on ({cpu}).")
    return lines


def runtime(notebook: str) -> str:
    """One line for a chapter's header: its recorded run time at each benchmarked profile."""
    parts = []
    for profile in ("smoke", "cpu"):
        rec = benchmark(profile)
        if rec and notebook in rec["notebooks"]:
            t = rec["notebooks"][notebook]
            # a notebook in a parallel build still runs on one core, so its time there stands in for a missing
            # sequential one
            parts.append(f"{_minutes(t['sequential_s'] if t['sequential_s'] is not None else t['parallel_s'])} "
                         f"at `{profile}`")
    if not parts:
        return "Runtime: not yet benchmarked."
    return ("Runtime on one core of a 2-core CPU machine, from empty caches: " + ", ".join(parts) + "; the `gpu` "
            "profile needs a CUDA machine.")


def dependency_table():
    rows = [{"notebook": nb, "runs after": ", ".join(runner.dependencies(nb))}
            for nb in runner.list_notebooks() if runner.dependencies(nb) and nb != runner.LAST]
    rows.append({"notebook": runner.LAST, "runs after": "every other notebook"})
    return book.table(pd.DataFrame(rows), "Notebooks that need another's results (`mglib.runner.DEPENDS`); all the "
                      "others can run at any time.", "dependencies")
