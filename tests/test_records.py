import json

from mglib import paths, records


def test_run_writes_metrics_params_env(tmp_path):
    run = records.Run("07_demo", "smoke", {"seed": 1}, out=tmp_path / "rec")
    run.log(top1=0.5)
    run.save("predictions", {"a": [1, 2]})
    out = run.finish()
    metrics = json.loads((out / "metrics.json").read_text())
    params = json.loads((out / "params.json").read_text())
    env = json.loads((out / "env.json").read_text())
    assert metrics == {"top1": 0.5}
    assert params == {"seed": 1, "profile": "smoke"}
    assert {"python", "packages", "git_commit", "wall_time_s"} <= set(env)
    assert json.loads((out / "predictions.json").read_text()) == {"a": [1, 2]}


def test_atomic_write_leaves_no_temp_files(tmp_path):
    records.write_json_atomic(tmp_path / "x.json", {"v": 1})
    records.write_json_atomic(tmp_path / "x.json", {"v": 2})
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]
    assert json.loads((tmp_path / "x.json").read_text()) == {"v": 2}


def test_compact_write_reads_back_the_same(tmp_path):
    obj = {"b": [1.5, {"c": None}], "a": "x"}
    records.write_json_atomic(tmp_path / "x.json", obj, indent=None)
    text = (tmp_path / "x.json").read_text()
    assert "\n" not in text.rstrip("\n") and json.loads(text) == obj


def test_nan_is_refused(tmp_path):
    import pytest

    with pytest.raises(ValueError):
        records.write_json_atomic(tmp_path / "x.json", {"v": float("nan")})


def test_relative_paths_hide_the_machine():
    assert paths.relative(paths.ROOT / "results" / "x") == "results/x"


def test_env_names_the_cpu_and_the_kernel_settings(monkeypatch):
    """Runs under other kernel settings differ in their last bits, so the environment record keeps them."""
    monkeypatch.setenv("MKL_CBWR", "AVX2")
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    env = records.env_info()
    assert env["kernel_env"]["MKL_CBWR"] == "AVX2" and "ATEN_CPU_CAPABILITY" not in env["kernel_env"]
    assert env["cpu_model"] is None or isinstance(env["cpu_model"], str)


def test_training_caches_are_keyed_by_the_kernel_variables(monkeypatch):
    from mglib.studies.classification.config import RunConfig
    from mglib.studies.classification.task import run_dir as cls_dir
    from mglib.studies.online.config import OnlineConfig
    from mglib.studies.online.task import run_dir as online_dir

    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    before = online_dir("mhsa", OnlineConfig()), cls_dir(RunConfig())
    assert (online_dir("mhsa", OnlineConfig()), cls_dir(RunConfig())) == before  # same kernels: reused
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx512")  # other floats: another folder, the first one kept
    after = online_dir("mhsa", OnlineConfig()), cls_dir(RunConfig())
    assert after[0] != before[0] and after[1] != before[1]
    assert records.env_info()["kernel_env"]["ATEN_CPU_CAPABILITY"] == "avx512"
