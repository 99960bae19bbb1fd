"""Parameter validation: unknown names and wrong types are refused with one line, before any work."""
import json

import pytest

from mglib import paths, profiles
from mglib.errors import InputError


def _write_notebook(path, source):
    nb = {"cells": [{"id": "c1", "cell_type": "markdown", "metadata": {}, "source": ["# T"]},
                    {"id": "c2", "cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": [source],
                     "outputs": [], "execution_count": None}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "notebooks").mkdir()
    _write_notebook(tmp_path / "notebooks" / "01_demo.ipynb",
                    'profile = "smoke"\nseed = 0\nlr = 0.1\nnum_epochs = 2\nuse_amp = False\nsizes = [1, 2]\n')
    (tmp_path / "profiles.yml").write_text(
        "notebooks:\n  01_demo:\n    smoke: {}\n    cpu: {num_epochs: 5, lr: 1}\n    gpu: {num_epochs: 30}\n")
    monkeypatch.setattr(paths, "NOTEBOOKS", tmp_path / "notebooks")
    monkeypatch.setattr(paths, "PROFILES_FILE", tmp_path / "profiles.yml")
    return tmp_path


def test_schema_reads_parameters_cell(project):
    schema = profiles.notebook_schema(project / "notebooks" / "01_demo.ipynb")
    assert schema == {"profile": "smoke", "seed": 0, "lr": 0.1, "num_epochs": 2, "use_amp": False, "sizes": [1, 2]}


def test_resolve_layers_profile_then_overrides(project):
    p = profiles.resolve("01_demo", "cpu", {"seed": 3})
    assert p["num_epochs"] == 5 and p["seed"] == 3 and p["profile"] == "cpu"
    assert isinstance(p["lr"], float) and p["lr"] == 1.0  # an int given for a float parameter is accepted
    assert profiles.resolve("01_demo", "smoke")["num_epochs"] == 2


@pytest.mark.parametrize("override, needle", [
    ({"nmu_epochs": 3}, "unknown parameter 'nmu_epochs'"),
    ({"num_epochs": "three"}, "parameter 'num_epochs' of notebook 01_demo expects int, got str"),
    ({"num_epochs": 2.5}, "expects int, got float"),
    ({"use_amp": 1}, "expects bool, got int"),
])
def test_bad_overrides_are_one_line_errors(project, override, needle):
    with pytest.raises(InputError) as e:
        profiles.resolve("01_demo", "cpu", override)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_bad_profile_file_entry_names_the_file(project):
    (project / "profiles.yml").write_text("notebooks:\n  01_demo:\n    cpu: {lr: fast}\n")
    with pytest.raises(InputError, match=r"profiles.yml \[01_demo.cpu\]: parameter 'lr'"):
        profiles.resolve("01_demo", "cpu")


def test_unknown_profile_and_notebook(project):
    with pytest.raises(InputError, match="expected one of smoke, cpu, gpu"):
        profiles.resolve("01_demo", "laptop")
    with pytest.raises(InputError, match="not found"):
        profiles.resolve("99_nope", "cpu")


def test_parse_overrides_reads_yaml_scalars():
    assert profiles.parse_overrides(["a=3", "b=0.5", "c=true", "d=hello", "e=[1, 2]"]) == \
        {"a": 3, "b": 0.5, "c": True, "d": "hello", "e": [1, 2]}
    with pytest.raises(InputError, match="expected key=value"):
        profiles.parse_overrides(["novalue"])


def test_project_profiles_match_notebooks():
    """Every notebook has a profiles.yml entry whose values validate against its parameters cell."""
    table = profiles.load()
    notebooks = sorted(p.stem for p in paths.NOTEBOOKS.glob("*.ipynb"))
    assert sorted(table) == notebooks
    for nb in notebooks:
        for profile in profiles.PROFILES:
            params = profiles.resolve(nb, profile)
            assert params["profile"] == profile


@pytest.mark.parametrize("overrides,needle", [({"lr": float("nan")}, "'lr'"), ({"sizes": [1, float("inf")]},
                                                                                "'sizes[1]'"),
                                              ({"profile": "gpu"}, "--profile")])
def test_non_finite_values_and_profile_are_refused(project, overrides, needle):
    with pytest.raises(InputError) as e:
        profiles.resolve("01_demo", "cpu", overrides)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_parameters_reads_the_names_of_the_parameters_cell(project):
    ns = {"profile": "cpu", "seed": 3, "lr": 1, "num_epochs": 5, "use_amp": False, "sizes": [1], "other": 9}
    params = profiles.parameters("01_demo", ns)
    assert params == {"profile": "cpu", "seed": 3, "lr": 1.0, "num_epochs": 5, "use_amp": False, "sizes": [1]}
    assert isinstance(params["lr"], float)
    del ns["seed"]
    with pytest.raises(InputError, match="'seed' is not defined"):
        profiles.parameters("01_demo", ns)
    with pytest.raises(InputError, match="expects int"):
        profiles.parameters("01_demo", {**ns, "seed": "3"})
