"""The data benchmark reuses the generation times that ``data ensure`` recorded, and times afresh otherwise."""
import json

from mglib import paths
from mglib.data import bench, ensure, fetch, generation_record

from tests.real_data import require_mirror


def _sources(table) -> dict:
    """{dataset: where its generation time came from}, read from the rows "generate <dataset> (<source>)"."""
    gen = [w.removeprefix("generate ") for w in table["what"] if w.startswith("generate ")]
    return dict(w.removesuffix(")").split(" (") for w in gen)


def test_benchmark_reuses_the_recorded_generation_and_regenerates_a_stale_copy(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "DATA", tmp_path / "data")
    monkeypatch.setattr(paths, "RESULTS", tmp_path / "results")
    monkeypatch.setenv(fetch.MIRROR_ENV, str(require_mirror()))
    ensure("smoke")
    rec = generation_record("smg", "smoke")
    assert rec["seconds"] > 0 and rec["frames"] > 0

    table = bench.main(["--profile", "smoke"])
    assert _sources(table) == {"smg": "data ensure", "imigue": "data ensure", "mma52": "data ensure"}
    assert table.loc[table["what"] == "generate smg (data ensure)", "seconds"].item() == rec["seconds"]

    marker = paths.synthetic_dir("imigue", "smoke") / ".complete"
    marker.write_text(json.dumps(json.loads(marker.read_text()) | {"generator": "older"}))
    assert generation_record("imigue", "smoke") is None
    assert _sources(bench.main(["--profile", "smoke"]))["imigue"] == "timed now"
    assert set(_sources(bench.main(["--profile", "smoke", "--regenerate"])).values()) == {"timed now"}
