"""Notebook execution is cached by (cells, parameters, mglib source); overrides are validated first."""
import json

import pytest

from mglib import data, paths, records, runner
from mglib.errors import InputError
from tests.test_profiles import _write_notebook


@pytest.fixture
def project(tmp_path, monkeypatch):
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    _write_notebook(nbdir / "01_demo.ipynb", 'profile = "smoke"\nx = 1\n')
    nb = json.loads((nbdir / "01_demo.ipynb").read_text())
    nb["cells"].append({"id": "c3", "cell_type": "code", "metadata": {}, "source": ["print(profile, x * 2)"], "outputs": [],
                        "execution_count": None})
    nb["metadata"]["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (nbdir / "01_demo.ipynb").write_text(json.dumps(nb))
    (tmp_path / "profiles.yml").write_text("notebooks:\n  01_demo:\n    smoke: {}\n    cpu: {x: 5}\n    gpu: {}\n")
    monkeypatch.setattr(paths, "NOTEBOOKS", nbdir)
    monkeypatch.setattr(paths, "PROFILES_FILE", tmp_path / "profiles.yml")
    monkeypatch.setattr(paths, "EXECUTED", tmp_path / "executed")
    monkeypatch.setattr(paths, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(data, "ensure", lambda profile: None)
    return tmp_path


def _stdout(path):
    nb = json.loads(path.read_text())
    texts = [o.get("text", "") for c in nb["cells"] for o in c.get("outputs", [])]
    return "".join("".join(t) if isinstance(t, list) else t for t in texts)


def test_execute_once_then_cached(project):
    assert runner.execute("01_demo", "cpu") is True
    out = project / "executed" / "01_demo.ipynb"
    assert _stdout(out).strip() == "cpu 10"
    cells = json.loads(out.read_text())["cells"]
    tags = [c["metadata"].get("tags", []) for c in cells]
    assert ["parameters", "remove-cell"] in tags  # the smoke defaults are hidden in the book...
    injected = [c for c, t in zip(cells, tags) if "injected-parameters" in t]
    assert "# Parameters of this run (profile cpu)" in "".join(injected[0]["source"])  # ...the used values shown
    execution = json.loads((project / "results" / "01_demo" / "cpu" / "execution.json").read_text())
    assert execution["parameters"] == {"profile": "cpu", "x": 5} and execution["wall_time_s"] > 0
    assert runner.execute("01_demo", "cpu") is False  # unchanged: cached
    assert runner.execute("01_demo", "cpu", {"x": 2}) is True  # new parameters: re-executed
    assert _stdout(out).strip() == "cpu 4"


def test_kernels_are_pinned_on_x86_and_part_of_the_cache_key(project, monkeypatch):
    monkeypatch.setattr(runner.platform, "machine", lambda: "x86_64")
    for name in ("MKL_CBWR", "ONEDNN_MAX_CPU_ISA"):  # `make test` sets them
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "default")  # the caller's choice wins
    assert runner.kernel_env() == {"MKL_CBWR": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
    monkeypatch.setattr(runner.platform, "machine", lambda: "aarch64")
    assert runner.kernel_env() == {}
    assert runner.execute("01_demo", "cpu") is True
    assert runner.execute("01_demo", "cpu") is False
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")  # other kernels, other floats: not current any more
    assert runner.execute("01_demo", "cpu") is True


def test_run_validates_before_any_work(project):
    with pytest.raises(InputError, match="unknown parameter 'y'"):
        runner.run("cpu", only=["01_demo"], overrides={"y": 1})
    assert not (project / "executed").exists()
    with pytest.raises(InputError, match="-p needs --only"):
        runner.run("cpu", overrides={"x": 1})


def test_failing_cell_is_reported_with_the_notebook(project):
    nb_path = project / "notebooks" / "01_demo.ipynb"
    nb = json.loads(nb_path.read_text())
    nb["cells"][-1]["source"] = ["raise ValueError('boom')"]
    nb_path.write_text(json.dumps(nb))
    with pytest.raises(InputError, match="notebook 01_demo failed in cell .*ValueError: boom"):
        runner.execute("01_demo", "smoke")


def _code_notebook(path, params_src, body_src):
    _write_notebook(path, params_src)
    nb = json.loads(path.read_text())
    nb["cells"].append({"id": "c3", "cell_type": "code", "metadata": {}, "source": [body_src], "outputs": [],
                        "execution_count": None})
    nb["metadata"]["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.write_text(json.dumps(nb))


_LOGGING = ("import time\nopen(log, 'a').write(f'{name}-start {time.time()}\\n')\ntime.sleep(pause)\n"
            "open(log, 'a').write(f'{name}-end {time.time()}\\n')\n")


def test_dependencies_first_independent_notebooks_at_once(project, monkeypatch):
    log = project / "log.txt"
    for name in ("a", "b", "c"):
        _code_notebook(project / "notebooks" / f"0{'abc'.index(name) + 2}_{name}.ipynb",
                       f'profile = "smoke"\nname = "{name}"\nlog = ""\npause = 2.0\n', _LOGGING)
    yml = "".join(f"  0{i + 2}_{n}:\n    smoke: {{log: {str(log)!r}}}\n" for i, n in enumerate("abc"))
    (project / "profiles.yml").write_text("notebooks:\n  01_demo:\n    smoke: {}\n" + yml)
    monkeypatch.setattr(runner, "DEPENDS", {"03_b": ("02_a",)})
    executed = runner.run("smoke", only=["03_b", "04_c"], jobs=2)
    assert sorted(executed) == ["02_a", "03_b", "04_c"]  # 02_a is pulled in as 03_b's dependency
    t = {k: float(v) for k, v in (line.split() for line in log.read_text().splitlines())}
    assert t["a-end"] <= t["b-start"]  # the dependency finished first
    assert t["c-start"] < t["a-end"] and t["a-start"] < t["c-end"]  # the independent one ran alongside
    # a re-run of the dependency makes the dependent stale: its key holds the dependency's key
    assert runner.run("smoke", only=["03_b"], jobs=2) == []
    runner.run("smoke", only=["02_a"], overrides={"pause": 0.1}, jobs=2)
    assert runner.run("smoke", only=["03_b"], jobs=2) == ["03_b"]  # 02_a is used as it stands, not reverted
    assert runner.run("smoke", only=["03_b"], jobs=2) == []


def test_study_config_and_paths_are_checked_before_any_work(project, monkeypatch):
    import sys
    import types

    fake = types.ModuleType("mglib.studies.fake")

    def config(params):
        if params["x"] > 3:
            raise InputError("parameter 'x': expected at most 3")

    fake.config = config
    monkeypatch.setitem(sys.modules, "mglib.studies.fake", fake)
    monkeypatch.setattr(runner, "STUDY_OF", {"01_demo": "fake"})
    with pytest.raises(InputError, match="'x': expected at most 3"):
        runner.run("cpu")
    assert not (project / "executed").exists()
    monkeypatch.setattr(runner, "STUDY_OF", {})
    _write_notebook(project / "notebooks" / "01_demo.ipynb", 'profile = "smoke"\ndata_root = ""\nenc_weights = ""\n')
    with pytest.raises(InputError, match="gpu profile runs on the real dataset.*data/README.md"):
        runner.run("gpu")
    with pytest.raises(InputError, match="enc_weights 'nowhere/w.pt' does not exist.*data/README.md"):
        runner.run("smoke", only=["01_demo"], overrides={"enc_weights": "nowhere/w.pt"})
    assert not (project / "executed").exists()


def test_jobs_must_be_positive(project):
    with pytest.raises(InputError, match="--jobs 0"):
        runner.run("smoke", jobs=0)


def _fake_root(tmp_path, notebooks: dict, yml: str):
    """A project root for a `python -m mglib` subprocess: its own notebooks and results, the real smoke data."""
    root = tmp_path / "root"
    (root / "notebooks").mkdir(parents=True)
    for name, (params, body) in notebooks.items():
        _code_notebook(root / "notebooks" / f"{name}.ipynb", params, body)
    (root / "profiles.yml").write_text(yml)
    (root / "mglib").symlink_to(paths.ROOT / "mglib")
    (root / "data").symlink_to(paths.DATA)
    return root


def test_ctrl_c_stops_every_worker_and_keeps_no_partial_notebook(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    def body(name):  # the marker says the kernel has started and is running the notebook's cells
        return f"import pathlib, time\npathlib.Path({str(tmp_path / name)!r}).touch()\ntime.sleep(600)\n"

    root = _fake_root(tmp_path, {"01_x": ('profile = "smoke"\n', body("01_x.busy")),
                                 "02_y": ('profile = "smoke"\n', body("02_y.busy"))},
                      "notebooks:\n  01_x:\n    smoke: {}\n  02_y:\n    smoke: {}\n")
    env = {**os.environ, "MGLIB_ROOT": str(root)}
    # a shell that starts a job in the background (CI scripts, nohup) hands it SIGINT ignored; a terminal does not
    proc = subprocess.Popen([sys.executable, "-m", "mglib", "run", "--profile", "smoke", "--jobs", "2"], env=env,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    executed = root / "book" / "executed"
    # a fresh virtual environment compiles ipykernel's modules on the first start: allow for it
    deadline = time.time() + 180
    while time.time() < deadline and not all((tmp_path / m).exists() for m in ("01_x.busy", "02_y.busy")):
        time.sleep(0.2)
    assert proc.poll() is None, "the runner ended before both kernels were busy"
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "interrupted" in errors[0]
    assert list(executed.glob("*.ipynb")) == [] and list(executed.glob(".*")) == []


# Real chapters that train models at the smoke profile, one of them depending on another.
_IDENTITY_NOTEBOOKS = ("03_mamba", "10_classification", "11_classification_analysis")


@pytest.mark.slow
def test_parallel_and_sequential_runs_record_identical_metrics(tmp_path):
    import os
    import subprocess
    import sys

    metrics = {}
    for jobs in (1, 2):
        root = tmp_path / f"jobs{jobs}"
        root.mkdir()
        for name in ("notebooks", "mglib", "profiles.yml"):
            (root / name).symlink_to(paths.ROOT / name)
        (root / "data").symlink_to(paths.DATA)
        cmd = [sys.executable, "-m", "mglib", "run", "--profile", "smoke", "--jobs", str(jobs)]
        for nb in _IDENTITY_NOTEBOOKS:
            cmd += ["--only", nb]
        proc = subprocess.run(cmd, env={**os.environ, "MGLIB_ROOT": str(root)}, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-2000:]
        metrics[jobs] = {nb: records.without_timings(json.loads((root / "results" / nb / "smoke" /
                                                                 "metrics.json").read_text()))
                         for nb in _IDENTITY_NOTEBOOKS}
    assert all(metrics[1][nb] for nb in _IDENTITY_NOTEBOOKS)
    assert metrics[1] == metrics[2]  # parsed JSON floats compare exactly: bit for bit


def test_timing_metrics_are_left_out_of_comparisons():
    m = {"bench": {"reference_s": 0.1, "identical": True}, "PointTAD/f1_mean": 0.3, "latency_ms": 3.0,
         "rows": [{"speedup": 4.0, "L": 64}], "train_time": 2, "timestamp_count": 1}
    assert records.without_timings(m) == {"bench": {"identical": True}, "PointTAD/f1_mean": 0.3, "rows": [{"L": 64}],
                                          "timestamp_count": 1}


@pytest.mark.parametrize("notebook, override, message", [
    ("10_classification", 'config={"optim.lrr": 0.1}', "parameter 'config'"),
    ("11_classification_analysis", 'variants=["cmf_time", "bogus"]', "parameter 'variants': item 1"),
    ("20_online", "seeds=[0, nan]", "parameter 'seeds': item 1"),
    ("20_online", "lr=.nan", "lr"),
    ("20_online", "profile=cpu", "profile"),
])
def test_cli_refuses_bad_overrides_of_the_real_chapters_in_one_line(tmp_path, monkeypatch, capsys, notebook,
                                                                   override, message):
    from mglib import cli

    def no_work(*args, **kwargs):
        raise AssertionError("work started before the parameters were validated")

    monkeypatch.setattr(paths, "EXECUTED", tmp_path / "executed")
    monkeypatch.setattr(paths, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(data, "ensure", no_work)
    rc = cli.main(["run", "--profile", "smoke", "--only", notebook, "-p", override])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert not (tmp_path / "executed").exists() and not (tmp_path / "results").exists()


def test_a_first_build_orders_by_the_tracked_benchmark(project, monkeypatch):
    """With no run recorded here, the scheduler's estimates come from the tracked book benchmark, so the longest
    chain starts first; a notebook that it does not list counts a minute, and a local record wins."""
    bench = project / "records"
    bench.mkdir()
    (bench / "bench_book_cpu.json").write_text(json.dumps({"notebooks": {
        "01_demo": {"sequential_s": 30.0, "parallel_s": 40.0},
        "02_long": {"sequential_s": None, "parallel_s": 900.0}}}))
    monkeypatch.setattr(paths, "BENCH_RECORDS", bench)
    assert runner._estimate("01_demo", "cpu") == 30.0  # the sequential time, the notebook alone
    assert runner._estimate("02_long", "cpu") == 900.0  # an older, parallel-only record
    assert runner._estimate("03_new", "cpu") == 60.0
    assert runner._estimate("01_demo", "smoke") == 60.0  # no record for that profile
    records.write_json_atomic(project / "results" / "01_demo" / "cpu" / "execution.json", {"wall_time_s": 12.5})
    assert runner._estimate("01_demo", "cpu") == 12.5
    tasks = {n: runner._Task(n, {}, deps, runner._estimate(n, "cpu"))
             for n, deps in (("01_demo", ()), ("02_long", ()), ("03_new", ("01_demo",)))}
    order = runner._Scheduler(tasks, "cpu", 1, "")._ready()
    assert [t.name for t in order] == ["02_long", "01_demo"]  # 900 s alone beats 12.5 + 60 s
