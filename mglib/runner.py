"""Execute notebooks with papermill (``mglib run``) and build the book (``mglib book``).

Executed notebooks go to ``book/executed/`` (git-ignored), which the table of contents points at. A notebook is
re-executed only when its cache key changes: the hash of its cells, its resolved parameters and the mglib source.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from mglib import paths, profiles, records
from mglib.errors import InputError


# Which notebook needs another's results first (all of them need the synthetic data, generated before any runs).
# A study that adds a chapter adds its edges here.
DEPENDS: dict[str, tuple[str, ...]] = {
    "11_classification_analysis": ("10_classification",),
    "20_online": ("04_video_encoder",),
    "21_online_ablations": ("04_video_encoder",),
    "31_mmad_errors": ("30_mmad",),
}

# Notebooks whose parameters a study validates in full before any run: ``mglib.studies.<study>.config(params)``
# builds the study's config from a notebook's resolved parameters and refuses a bad nested key, list item or value
# in one line. The notebooks call the same function, so the runner and the chapter cannot disagree.
STUDY_OF: dict[str, str] = {"10_classification": "classification", "11_classification_analysis": "classification",
                             "12_classification_sweeps": "classification"}


def check_study_parameters(notebook: str, params: dict) -> None:
    study = STUDY_OF.get(notebook)
    if study:
        import importlib

        importlib.import_module(f"mglib.studies.{study}").config(params)


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


def cache_key(notebook: str, params: dict, source_digest: str | None = None) -> str:
    with open(paths.NOTEBOOKS / f"{notebook}.ipynb") as f:
        nb = json.load(f)
    cells = [(c["cell_type"], "".join(c["source"])) for c in nb["cells"]]  # outputs do not matter
    blob = json.dumps({"cells": cells, "params": params, "mglib": source_digest or _source_digest()},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _stored_key(path: Path) -> str | None:
    if not path.exists():
        return None
    with open(path) as f:
        return json.load(f).get("metadata", {}).get("mglib", {}).get("cache_key")


def _show_only_injected_parameters(nb: dict, profile: str) -> None:
    """In the book, show the values this run used (papermill's injected cell), not the smoke defaults."""
    for cell in nb["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        if "parameters" in tags:
            cell["metadata"]["tags"] = tags + ["remove-cell"]
        elif "injected-parameters" in tags:
            src = "".join(cell["source"]).replace("# Parameters", f"# Parameters of this run (profile {profile})", 1)
            cell["source"] = src


def execute(notebook: str, profile: str, overrides: dict | None = None, force: bool = False,
            source_digest: str | None = None) -> bool:
    """Run one notebook unless its cached output is current. Returns True if it was executed."""
    import papermill as pm

    params = profiles.resolve(notebook, profile, overrides)
    key = cache_key(notebook, params, source_digest)
    out = paths.EXECUTED / f"{notebook}.ipynb"
    if not force and _stored_key(out) == key:
        print(f"[mglib] {notebook}: up to date ({profile})", file=sys.stderr)
        return False
    paths.EXECUTED.mkdir(parents=True, exist_ok=True)
    tmp = paths.EXECUTED / f".{notebook}.running.ipynb"
    print(f"[mglib] {notebook}: executing ({profile})", file=sys.stderr)
    t0 = time.perf_counter()
    try:
        pm.execute_notebook(str(paths.NOTEBOOKS / f"{notebook}.ipynb"), str(tmp), parameters=params,
                            cwd=str(paths.NOTEBOOKS), kernel_name="python3", progress_bar=False,
                            report_mode=False)
    except pm.PapermillExecutionError as e:
        failed = paths.EXECUTED / f"{notebook}.failed.ipynb"
        os.replace(tmp, failed)
        raise InputError(f"notebook {notebook} failed in cell {e.exec_count}: {e.ename}: {e.evalue} "
                         f"(executed copy: {paths.relative(failed)})") from None
    with open(tmp) as f:
        nb = json.load(f)
    _show_only_injected_parameters(nb, profile)
    nb.setdefault("metadata", {})["mglib"] = {"cache_key": key, "profile": profile, "parameters": params}
    with open(tmp, "w") as f:
        json.dump(nb, f, indent=1)
    os.replace(tmp, out)
    wall = time.perf_counter() - t0
    # the notebook's own record may cover only part of it; the whole execution is recorded here
    records.write_json_atomic(paths.results_dir(notebook, profile) / "execution.json",
                              {"notebook": notebook, "profile": profile, "parameters": params,
                               "wall_time_s": round(wall, 3), "cache_key": key, "env": records.env_info()})
    print(f"[mglib] {notebook}: done in {wall:.1f} s", file=sys.stderr)
    return True


def run(profile: str, only: list[str] | None = None, overrides: dict | None = None, force: bool = False) -> None:
    names = list_notebooks()
    if only:
        only = [Path(o).stem for o in only]
        missing = [o for o in only if o not in names]
        if missing:
            raise InputError(f"--only {missing[0]!r}: no such notebook (have: {', '.join(names)})")
        names = only
    if overrides and not only:
        raise InputError("-p needs --only: parameter overrides apply to named notebooks")
    for nb in names:  # validate every notebook's parameters before running any of them
        check_study_parameters(nb, profiles.resolve(nb, profile, overrides))
    from mglib import data

    data.ensure(profile)
    digest = _source_digest()
    for nb in names:
        execute(nb, profile, overrides, force=force, source_digest=digest)


def build(profile: str, force: bool = False) -> Path:
    run(profile, force=force)
    jb = Path(sys.executable).parent / "jupyter-book"  # the console script of the same environment
    cmd = [str(jb), "build", str(paths.ROOT), "-W", "-n", "--keep-going"]
    proc = subprocess.run(cmd, cwd=paths.ROOT)
    if proc.returncode != 0:
        raise InputError(f"jupyter-book build failed (exit {proc.returncode}); see the messages above")
    index = paths.ROOT / "_build" / "html" / "index.html"
    print(index)
    return index
