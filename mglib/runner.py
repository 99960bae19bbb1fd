"""Execute notebooks with papermill (``mglib run``) and build the book (``mglib book``).

Executed notebooks go to ``book/executed/`` (git-ignored), which the table of contents points at. A notebook is
re-executed only when its cache key changes: the hash of its cells, its resolved parameters, the mglib source and
the keys of the notebooks it depends on (so a re-run of chapter 10 makes chapter 11 stale).

Independent notebooks run concurrently (``--jobs``), each in its own worker process with one torch thread, so the
results are those of a sequential run. The scheduler starts, among the notebooks whose dependencies are done, the
one with the longest remaining chain of recorded run times first (from the last run, else from the tracked book
benchmark). Ctrl-C stops every worker and leaves no partial notebook behind.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from mglib import paths, profiles, records
from mglib.errors import InputError

# Which notebook needs another's results first (all of them need the synthetic data, generated before any runs).
# A study that adds a chapter adds its edges here.
DEPENDS: dict[str, tuple[str, ...]] = {
    "11_classification_analysis": ("10_classification",),
    "20_online": ("04_video_encoder",),
    # the ablations' and sweeps' default-value runs are chapter 20's (the same cache entries, never trained twice)
    "21_online_ablations": ("20_online",),
    "22_online_sweeps": ("20_online",),
    "31_mmad_errors": ("30_mmad",),
}

# Every notebook kernel takes the AVX2 kernels of torch, MKL and oneDNN on x86 unless the caller chose others:
# - the same floats on every x86 CPU (an AVX-512 machine rounds differently, enough for chaotic training to diverge);
# - MKL's default dispatch skips AVX2 on AMD CPUs: pinned, a width-192 transformer's training step ran 1.35x faster
#   on the AMD EPYC that times this book (a micro-benchmark; the book's models are narrower and gain less per step).
X86_KERNELS = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}


def kernel_env() -> dict[str, str]:
    """The environment a notebook kernel gets on top of ours: the x86 kernel pins, where not already set."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return {}
    return {k: v for k, v in X86_KERNELS.items() if k not in os.environ}


# The page on building the book reports every other notebook's execution, so it runs after all of them.
LAST = "90_building_the_book"


def dependencies(notebook: str) -> tuple[str, ...]:
    if notebook == LAST:
        return tuple(n for n in list_notebooks() if n != LAST)
    return DEPENDS.get(notebook, ())


# Notebooks whose parameters a study validates in full before any run: ``mglib.studies.<study>.config(params)``
# builds the study's config from a notebook's resolved parameters and refuses a bad nested key, list item or value
# in one line. The notebooks call the same function, so the runner and the chapter cannot disagree.
STUDY_OF: dict[str, str] = {
    "05_mma52_real": "real",
    "04_video_encoder": "online", "20_online": "online", "21_online_ablations": "online", "22_online_sweeps": "online",
    "10_classification": "classification", "11_classification_analysis": "classification",
    "12_classification_sweeps": "classification",
    "30_mmad": "detection", "31_mmad_errors": "detection",
}

# Parameters that name files or folders: ``data_root`` and names ending in ``weights`` or ``_ckpt``.
_GUIDE = "data/README.md"


def is_path_parameter(name: str) -> bool:
    return name == "data_root" or name.endswith("weights") or name.endswith("_ckpt")


def check_study_parameters(notebook: str, params: dict) -> None:
    study = STUDY_OF.get(notebook)
    if study:
        import importlib

        importlib.import_module(f"mglib.studies.{study}").config(params)


def check_paths(notebook: str, params: dict) -> None:
    """Refuse, before any work, a run whose data or weights are missing. The gpu profile is the papers' setting on
    the real datasets, so there an empty ``data_root`` is refused too rather than falling back to synthetic data."""
    for name, value in params.items():
        if not is_path_parameter(name) or not isinstance(value, str):
            continue
        if not value:
            if name == "data_root" and params.get("profile") == "gpu":
                raise InputError(f"{notebook}: the gpu profile runs on the real dataset, but 'data_root' is empty; "
                                 f"set it in profiles.yml or with -p data_root=PATH (how to obtain it: {_GUIDE})")
            continue
        if not paths.user_path(value).exists():
            raise InputError(f"{notebook}: {name} {value!r} does not exist (resolved against the project root); "
                             f"how to obtain it: {_GUIDE}")


def list_notebooks() -> list[str]:
    return sorted(p.stem for p in paths.NOTEBOOKS.glob("*.ipynb"))


def _source_digest() -> str:
    """Hash of the library's code and data files; any change to mglib invalidates executed notebooks."""
    h = hashlib.sha256()
    pkg = paths.ROOT / "mglib"
    for f in sorted(pkg.rglob("*")):
        if f.suffix in (".py", ".yml", ".json") and "__pycache__" not in f.parts:
            h.update(str(f.relative_to(pkg)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def cache_key(notebook: str, params: dict, source_digest: str | None = None, upstream: dict | None = None,
              kernels: dict | None = None) -> str:
    """``upstream``: the cache keys of the executed notebooks this one depends on; ``kernels``: the worker's
    ``records.KERNEL_ENV`` variables (other kernels give other floats, so a notebook run under others is stale)."""
    with open(paths.NOTEBOOKS / f"{notebook}.ipynb") as f:
        nb = json.load(f)
    cells = [(c["cell_type"], "".join(c["source"])) for c in nb["cells"]]  # outputs do not matter
    blob = {"cells": cells, "params": params, "mglib": source_digest or _source_digest()}
    if kernels:
        blob["kernels"] = kernels
    if upstream:
        blob["upstream"] = upstream
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()


def _stored_key(path: Path) -> str | None:
    try:
        with open(path) as f:
            return json.load(f).get("metadata", {}).get("mglib", {}).get("cache_key")
    except (OSError, ValueError):  # missing or damaged: not current
        return None


def _show_only_injected_parameters(nb: dict, profile: str) -> None:
    """In the book, show the values this run used (papermill's injected cell, collapsed behind a one-line summary),
    not the smoke defaults."""
    for cell in nb["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        if "parameters" in tags:
            cell["metadata"]["tags"] = tags + ["remove-cell"]
        elif "injected-parameters" in tags:
            src = "".join(cell["source"]).replace("# Parameters", f"# Parameters of this run (profile {profile})", 1)
            cell["source"] = src
            cell["metadata"]["tags"] = tags + ["hide-input"]
            cell["metadata"]["mystnb"] = {"code_prompt_show": f"Parameters of this run (profile {profile})",
                                          "code_prompt_hide": "Hide the parameters"}


def _running_path(notebook: str) -> Path:
    return paths.EXECUTED / f".{notebook}.running.ipynb"


# ------------------------------------------------------------------------------------------------ the worker
def _worker(job: dict) -> int:
    """Execute one notebook (in its own process): papermill into a hidden temp file, then rename into place."""
    import papermill as pm

    tmp, out = Path(job["tmp"]), Path(job["out"])

    def stop(signum, frame):  # the parent asked us to stop: leave nothing partial; the kernel follows its parent
        tmp.unlink(missing_ok=True)
        os._exit(130)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        pm.execute_notebook(job["input"], str(tmp), parameters=job["params"], cwd=job["cwd"], kernel_name="python3",
                            progress_bar=False, report_mode=False)
    except pm.PapermillExecutionError as e:
        failed = out.with_name(f"{out.stem}.failed.ipynb")
        os.replace(tmp, failed)
        print(f"notebook {out.stem} failed in cell {e.exec_count}: {e.ename}: {e.evalue} "
              f"(executed copy: {paths.relative(failed)})", file=sys.stderr)
        return 1
    except Exception as e:  # a kernel that died or would not start: one line, nothing partial
        tmp.unlink(missing_ok=True)
        print(f"notebook {out.stem} could not be executed: {type(e).__name__}: {e}".splitlines()[0], file=sys.stderr)
        return 1
    with open(tmp) as f:
        nb = json.load(f)
    _show_only_injected_parameters(nb, job["profile"])
    nb.setdefault("metadata", {})["mglib"] = {"cache_key": job["key"], "profile": job["profile"],
                                              "parameters": job["params"]}
    with open(tmp, "w") as f:
        json.dump(nb, f, indent=1)
    os.replace(tmp, out)
    return 0


# ------------------------------------------------------------------------------------------------ the scheduler
@dataclass
class _Task:
    name: str
    params: dict
    deps: tuple
    estimate: float  # seconds, from the last recorded run of this profile
    proc: subprocess.Popen | None = None
    log: object = None
    t0: float = 0.0
    force: bool = False  # re-execute even when current (the notebooks named on the command line, not their deps)
    state: str = "waiting"  # waiting | running | done | cached | failed | skipped
    priority: float = 0.0
    key: str = ""


def _estimate(notebook: str, profile: str) -> float:
    """The notebook's last run time here; on a first build, its time in the tracked book benchmark (so a fresh
    clone starts the longest chain first, not the alphabetically first notebooks); else a minute."""
    try:
        return float(json.loads((paths.results_dir(notebook, profile) / "execution.json").read_text())["wall_time_s"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        times = json.loads(paths.bench_record(profile).read_text())["notebooks"][notebook]
        return float(times.get("sequential_s") or times["parallel_s"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return 60.0


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}m{s:02d}s" if m else f"{s}s"


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


class _Scheduler:
    def __init__(self, tasks: dict[str, _Task], profile: str, jobs: int, digest: str):
        self.tasks, self.profile, self.jobs, self.digest = tasks, profile, jobs, digest
        self.t0 = time.perf_counter()
        self.errors: list[str] = []
        self.executed: list[str] = []
        for t in tasks.values():  # longest chain of estimated run times from each notebook to the end
            t.priority = self._chain(t.name)

    def _chain(self, name: str) -> float:
        below = [self._chain(t.name) for t in self.tasks.values() if name in t.deps]
        return self.tasks[name].estimate + max(below, default=0.0)

    def _log(self, msg: str) -> None:
        print(f"[mglib] {msg}", file=sys.stderr, flush=True)

    def _upstream_keys(self, task: _Task) -> dict:
        return {d: _stored_key(paths.EXECUTED / f"{d}.ipynb") for d in dependencies(task.name)}

    def _start(self, task: _Task) -> None:
        env = {**os.environ, **kernel_env()}
        if self.jobs > 1:  # one torch thread per worker: no oversubscription, and a sequential run's floats
            env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        kernels = records.kernel_env(env)
        key = cache_key(task.name, task.params, self.digest, self._upstream_keys(task), kernels)
        out = paths.EXECUTED / f"{task.name}.ipynb"
        if not task.force and _stored_key(out) == key:
            task.state = "cached"
            self._log(f"{task.name}: up to date ({self.profile})")
            return
        paths.EXECUTED.mkdir(parents=True, exist_ok=True)
        job = {"input": str(paths.NOTEBOOKS / f"{task.name}.ipynb"), "tmp": str(_running_path(task.name)),
               "out": str(out), "params": task.params, "profile": self.profile, "key": key,
               "cwd": str(paths.NOTEBOOKS)}
        task.log = tempfile.TemporaryFile(mode="w+")
        # a session of its own: Ctrl-C reaches only this process, which then stops the workers cleanly
        task.proc = subprocess.Popen([sys.executable, "-c", "import json, sys; from mglib import runner; "
                                      "sys.exit(runner._worker(json.loads(sys.argv[1])))", json.dumps(job)],
                                     stderr=task.log, stdout=subprocess.DEVNULL, env=env, start_new_session=True)
        task.t0, task.state, task.key = time.perf_counter(), "running", key
        running = sum(t.state == "running" for t in self.tasks.values())
        self._log(f"{task.name}: started ({self.profile}; {running} running, {_clock(self._elapsed())} elapsed)")

    def _elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def _finish(self, task: _Task, rc: int) -> None:
        wall = time.perf_counter() - task.t0
        task.log.seek(0)
        lines = [ln for ln in task.log.read().splitlines() if ln.strip()]
        task.log.close()
        if rc == 0:
            task.state = "done"
            self.executed.append(task.name)
            # the notebook's own record may cover only part of it; the whole execution is recorded here
            records.write_json_atomic(paths.results_dir(task.name, self.profile) / "execution.json",
                                      {"notebook": task.name, "profile": self.profile, "parameters": task.params,
                                       "wall_time_s": round(wall, 3), "cache_key": task.key, "jobs": self.jobs,
                                       "env": records.env_info()})
            done = sum(t.state in ("done", "cached") for t in self.tasks.values())
            self._log(f"{task.name}: done in {_clock(wall)} ({done}/{len(self.tasks)} notebooks, "
                      f"{_clock(self._elapsed())} elapsed)")
        else:
            task.state = "failed"
            self.errors.append(lines[-1] if lines else f"notebook {task.name} failed (exit {rc})")
            self._log(f"{task.name}: FAILED after {_clock(wall)}")

    def _ready(self) -> list[_Task]:
        ready = []
        for t in self.tasks.values():
            if t.state != "waiting":
                continue
            states = [self.tasks[d].state for d in t.deps if d in self.tasks]
            if any(s in ("failed", "skipped") for s in states):
                t.state = "skipped"
                self._log(f"{t.name}: not run, a notebook it needs failed")
            elif all(s in ("done", "cached") for s in states):
                ready.append(t)
        return sorted(ready, key=lambda t: (-t.priority, t.name))

    def run(self) -> None:
        try:
            while True:
                for t in self._ready():
                    if sum(x.state == "running" for x in self.tasks.values()) >= self.jobs:
                        break
                    self._start(t)
                running = [t for t in self.tasks.values() if t.state == "running"]
                if not running:
                    if not self._ready():
                        break
                    continue
                for t in running:
                    rc = t.proc.poll()
                    if rc is not None:
                        self._finish(t, rc)
                time.sleep(0.2)
        except KeyboardInterrupt:
            self.stop()
            raise InputError(f"interrupted after {_clock(self._elapsed())}: stopped the running notebooks; no "
                             "partial notebook was kept (finished notebooks stay cached)") from None

    def stop(self) -> None:
        running = [t for t in self.tasks.values() if t.state == "running"]
        for t in running:
            try:
                t.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.time() + 10
        for t in running:
            try:
                t.proc.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                os.killpg(t.proc.pid, signal.SIGKILL)
                t.proc.wait()
            _running_path(t.name).unlink(missing_ok=True)
            t.state = "failed"


def _with_missing_dependencies(names: list[str], available: list[str]) -> list[str]:
    """``names`` plus the notebooks they depend on that have never been executed. A dependency that has an executed
    copy is used as it stands (even if run with other parameters): its cache key enters the dependent's key."""
    out, todo = [], list(names)
    while todo:
        n = todo.pop()
        if n in out:
            continue
        out.append(n)
        todo += [d for d in dependencies(n) if d in available and not (paths.EXECUTED / f"{d}.ipynb").exists()]
    return sorted(out)


def run(profile: str, only: list[str] | None = None, overrides: dict | None = None, force: bool = False,
        jobs: int | None = None) -> list[str]:
    """Execute the stale notebooks of ``profile`` (or ``only`` these, with their dependencies); returns the
    executed ones. Every notebook's parameters are validated before any work."""
    names = list_notebooks()
    if jobs is not None and jobs < 1:
        raise InputError(f"--jobs {jobs}: expected a positive number of workers")
    jobs = jobs or default_jobs()
    if only:
        only = [Path(o).stem for o in only]
        missing = [o for o in only if o not in names]
        if missing:
            raise InputError(f"--only {missing[0]!r}: no such notebook (have: {', '.join(names)})")
    if overrides and not only:
        raise InputError("-p needs --only: parameter overrides apply to named notebooks")
    selected = _with_missing_dependencies(only, names) if only else names
    tasks = {}
    for nb in selected:  # validate every notebook's parameters before running any of them
        params = profiles.resolve(nb, profile, overrides if only and nb in only else None)
        check_study_parameters(nb, params)
        check_paths(nb, params)
        tasks[nb] = _Task(nb, params, tuple(d for d in dependencies(nb) if d in selected), _estimate(nb, profile),
                          force=force and (not only or nb in only))
    from mglib import data

    data.ensure(profile)
    # a run interrupted earlier may have left hidden temp files; they are never read, but do not keep them
    for stale in paths.EXECUTED.glob(".*.running.ipynb") if paths.EXECUTED.exists() else []:
        stale.unlink(missing_ok=True)
    sched = _Scheduler(tasks, profile, jobs, _source_digest())
    sched.run()
    if sched.errors:
        raise InputError(sched.errors[0] + (f" (and {len(sched.errors) - 1} more failed)" if len(sched.errors) > 1
                                            else ""))
    sched._log(f"{len(sched.executed)} executed, {len(tasks) - len(sched.executed)} up to date, "
               f"{_clock(sched._elapsed())} in all ({jobs} worker{'s' if jobs > 1 else ''})")
    return sched.executed


def execute(notebook: str, profile: str, overrides: dict | None = None, force: bool = False) -> bool:
    """Run one notebook (and what it depends on) unless current. Returns True if it was executed."""
    return notebook in run(profile, only=[notebook], overrides=overrides, force=force, jobs=1)


def build(profile: str, force: bool = False, jobs: int | None = None) -> Path:
    run(profile, force=force, jobs=jobs)
    jb = Path(sys.executable).parent / "jupyter-book"  # the console script of the same environment
    cmd = [str(jb), "build", str(paths.ROOT), "-W", "-n", "--keep-going"]
    proc = subprocess.run(cmd, cwd=paths.ROOT)
    if proc.returncode != 0:
        raise InputError(f"jupyter-book build failed (exit {proc.returncode}); see the messages above")
    index = paths.ROOT / "_build" / "html" / "index.html"
    print(index)
    return index
