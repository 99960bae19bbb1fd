"""The building page and the chapters' runtime line read the benchmark records; a record without a sequential run
(bench_book.py --from-build) is shown as such, never as a speed-up."""
import json

import pytest

from mglib import build_report, paths

ENV = {"git_commit": "abcdef1234567", "cpu_count": 2, "cpu_model": "Some CPU"}


@pytest.fixture
def records_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "BENCH_RECORDS", tmp_path)
    return tmp_path


def _write(folder, profile, **rec):
    (folder / f"bench_book_{profile}.json").write_text(json.dumps({"profile": profile, "env": ENV, **rec}))


def test_side_by_side_record(records_dir):
    _write(records_dir, "smoke", jobs=2, sequential_s=120.0, parallel_s=70.0, speedup=1.71, identical_metrics=True,
           notebooks={"02_metrics": {"sequential_s": 20.0, "parallel_s": 24.0},
                      "03_mamba": {"sequential_s": 40.0, "parallel_s": 48.0}})
    text = repr(build_report.benchmark_table("smoke"))
    assert "one after another" in text and "2.0 min" in text and "70 s" in text
    assert "Summed over the notebooks: 60 s one after another, 72 s with 2 workers." in text
    assert "1.71×" in build_report.benchmark_summary("smoke")[0]
    assert build_report.runtime("02_metrics").endswith("20 s at `smoke`; the `gpu` profile needs a CUDA machine.")


def test_side_by_side_record_adds_the_data_to_the_budget(records_dir):
    # bench_book.py generates the data once, then builds in each mode: `make book` is the data plus the parallel build
    _write(records_dir, "cpu", jobs=2, sequential_s=3500.0, parallel_s=1750.0, speedup=2.0, identical_metrics=True,
           data_check_s=70.0, notebooks={})
    text = repr(build_report.benchmark_table("cpu"))
    assert "notebooks + HTML (wall)" in text and "`make book` (wall)" in text and "30.3 min" in text
    summary = build_report.benchmark_summary("cpu")
    assert "`make book` takes 30.3 min after installing" in summary[0]
    assert summary[-1].startswith("The 2-worker build is over the 30.0 min budget")


def test_parallel_build_only(records_dir):
    _write(records_dir, "cpu", jobs=2, sequential_s=None, parallel_s=1500.0, speedup=None, identical_metrics=None,
           notebooks={"02_metrics": {"sequential_s": None, "parallel_s": 300.0}})
    text = repr(build_report.benchmark_table("cpu"))
    assert "not measured" in text and "25.0 min" in text and "speed-up" not in text
    assert "`make book` (wall)" in text  # the whole build, not the notebooks alone
    summary = build_report.benchmark_summary("cpu")
    assert "`make book` took 25.0 min" in summary[0] and "no speed-up to report" in summary[0] and len(summary) == 2
    assert summary[1] == ("The 2-worker build is within the 30.0 min budget of the cpu book on the 2-core machine it "
                          "was measured on (Some CPU).")
    assert "5.0 min at `cpu`" in build_report.runtime("02_metrics")


def test_no_record(records_dir):
    assert build_report.benchmark("cpu") is None
    assert build_report.benchmark_summary("cpu") == ["No benchmark of the cpu build is recorded."]
    assert build_report.runtime("02_metrics") == "Runtime: not yet benchmarked."


def test_a_build_over_budget_says_so(records_dir):
    _write(records_dir, "cpu", jobs=2, sequential_s=4000.0, parallel_s=2400.0, speedup=1.67, identical_metrics=True,
           notebooks={})
    assert build_report.benchmark_summary("cpu")[-1].startswith("The 2-worker build is over the 30.0 min budget")
