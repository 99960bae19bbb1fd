"""Exact resume: a run killed with SIGKILL after its first checkpoint, then resumed, ends like an uninterrupted one."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
# 6 steps per epoch, 4 epochs; the sleep makes one epoch last about half a second so the kill lands mid-run
SETTINGS = ["n_train=48", "n_val=24", "optim.epochs=4", "optim.ema_decay=0.5", "optim.warmup_epochs=1",
            "sleep_per_step=0.08", "optim.checkpoint_every_s=0"]


def _cmd(out, resume=False):
    sets = [a for item in SETTINGS for a in ("--set", item)]
    return [sys.executable, "-m", "mglib", "train", "toy", *sets, "--out", str(out)] + (["--resume"] if resume else [])


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_sigkill_then_resume_equals_uninterrupted(tmp_path):
    ref = subprocess.Popen(_cmd(tmp_path / "ref"), env=_env(), stderr=subprocess.DEVNULL)
    run = tmp_path / "run"
    victim = subprocess.Popen(_cmd(run), env=_env(), stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (run / "checkpoint.pt").exists():
        assert victim.poll() is None and time.monotonic() < deadline, "run ended before its first checkpoint"
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert not (run / "metrics.json").exists()  # it really was interrupted
    killed_at = torch.load(run / "checkpoint.pt", weights_only=True)["state"]["epoch"]
    assert 1 <= killed_at < 4
    resumed = subprocess.run(_cmd(run, resume=True), env=_env(), capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert ref.wait(timeout=120) == 0

    a, b = (json.loads((d / "metrics.json").read_text()) for d in (run, tmp_path / "ref"))
    a.pop("timing"), b.pop("timing")
    assert a == b  # bitwise: every float in history, grad norms, eval metrics
    assert (run / "predictions.json").read_text() == (tmp_path / "ref" / "predictions.json").read_text()
    ca, cb = (torch.load(d / "checkpoint.pt", weights_only=True) for d in (run, tmp_path / "ref"))
    assert all(torch.equal(ca["ema"][k], cb["ema"][k]) for k in cb["ema"])
    assert json.loads((run / "env.json").read_text())["resumed"] is True
