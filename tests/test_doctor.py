"""``python -m mglib doctor``: the dry run on a CPU (CUDA checks skipped with a reason, CPU-side checks run), the
JSON contract of cli.md, and a failing check that does not stop the others."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mglib import doctor

ROOT = Path(__file__).resolve().parents[1]
CUDA_ONLY = ("mamba:", "checkpointing:memory", "ddp:nccl", "throughput:")


@pytest.mark.slow
def test_dry_run_json_on_a_cpu():
    r = subprocess.run([sys.executable, "-m", "mglib", "doctor", "--dry-run", "--json"], cwd=ROOT, text=True,
                       capture_output=True, timeout=300, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads(r.stdout)  # exactly one JSON object on stdout
    checks = {c["name"]: c for c in report["checks"]}
    assert report["dry_run"] is True and len(checks) == len(report["checks"])
    for c in report["checks"]:
        assert set(c) >= {"name", "status", "reason"} and c["status"] in ("pass", "fail", "skip") and c["reason"]
    for name, c in checks.items():
        if name.startswith(CUDA_ONLY):
            assert c["status"] == "skip" and "CUDA" in c["reason"], c
    ran = [n for n, c in checks.items() if c["status"] == "pass"]
    for prefix in ("environment", "loader:videomae-pretrain", "loader:videomae-mmaction", "loader:i3d",
                   "loader:pyskl-posec3d", "loader:pyskl-rgbpose", "paper_models", "checkpointing:gradients"):
        assert prefix in ran, checks.get(prefix)
    amp = [c for n, c in checks.items() if n.startswith("amp:")]
    assert len(amp) == 4 and all(c["status"] == "pass" and c["device"] == "cpu" for c in amp), amp
    assert checks["checkpointing:gradients"]["block_forwards_with"] == 2
    models = {row["model"]: row for row in checks["paper_models"]["models"]}
    assert models["30_mmad/tia"]["counted"] == 1_006_860 and models["30_mmad/tia"]["reported_M"] == 0.96
    saved = json.loads((ROOT / report["report_file"]).read_text())
    assert saved["checks"] == report["checks"]
    text = doctor.table(report)
    assert "amp:30_mmad/dsta" in text and "trainable, M" in text and "pass," in text.splitlines()[-1]


def test_a_failing_check_does_not_stop_the_others(tmp_path, monkeypatch):
    def broken(ctx):
        raise RuntimeError("kernel exploded\nsecond line")

    def fine(ctx):
        return [doctor.Check("fine", "pass", "ran")]

    monkeypatch.setattr(doctor, "CHECKS", (broken, fine))
    report = doctor.run(dry_run=True, out=tmp_path / "report.json")
    first, second = report["checks"]
    assert first["name"] == "broken" and first["status"] == "fail"
    assert first["reason"].startswith("RuntimeError: kernel exploded (") and "\n" not in first["reason"]
    assert second == {"name": "fine", "status": "pass", "reason": "ran"}
    assert json.loads((tmp_path / "report.json").read_text())["checks"] == report["checks"]


def test_exit_status_and_guard(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(doctor, "CHECKS", (lambda ctx: [doctor._guard("x", lambda: 1 / 0)],))
    monkeypatch.setattr(doctor.paths, "RESULTS", tmp_path)

    class Args:
        dry_run, json = True, True

    assert doctor.main(Args()) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["checks"][0]["status"] == "fail" and "ZeroDivisionError" in out["checks"][0]["reason"]
