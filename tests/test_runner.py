"""Notebook execution is cached by (cells, parameters, mglib source); overrides are validated first."""
import json

import pytest

from mglib import data, paths, runner
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
