"""Two-process DDP (gloo, CPU) through torchrun: ranks agree and match one process with the same global batch."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ["n_train=32", "n_val=16", "noise=2", "optim.epochs=2", "optim.batch_size=8", "optim.lr=0.01"]


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}


def _sets(items):
    return [a for item in items for a in ("--set", item)]


@pytest.mark.slow
def test_two_gloo_ranks_match_one_process(tmp_path):
    dump = tmp_path / "ranks"
    ddp = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                            "-m", "mglib", "train", "toy", *_sets(SETTINGS + [f"dump_rank_weights={dump}"]),
                            "--out", str(tmp_path / "ddp")], env=_env(), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    single = subprocess.run([sys.executable, "-m", "mglib", "train", "toy",
                             *_sets(SETTINGS + [f"dump_rank_weights={tmp_path / 'single'}"]),
                             "--out", str(tmp_path / "one")], env=_env(), capture_output=True, text=True, timeout=120)
    log = ddp.communicate(timeout=180)[0]
    assert ddp.returncode == 0, log[-3000:]
    assert single.returncode == 0, single.stderr[-3000:]
    r0, r1 = torch.load(dump / "rank0.pt", weights_only=True), torch.load(dump / "rank1.pt", weights_only=True)
    one = torch.load(tmp_path / "single" / "rank0.pt", weights_only=True)
    assert set(r0) == set(one)
    for k in r0:
        assert torch.equal(r0[k], r1[k]), k  # DDP ranks hold bit-identical weights
        assert torch.allclose(r0[k], one[k], atol=1e-6, rtol=0), (k, (r0[k] - one[k]).abs().max())
    m = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    m1 = json.loads((tmp_path / "one" / "metrics.json").read_text())
    assert m["world_size"] == 2 and m1["world_size"] == 1 and m["steps"] == m1["steps"] == 8
    assert m["history"][-1]["train_loss"] == pytest.approx(m1["history"][-1]["train_loss"], abs=1e-5)
    assert m["score"] == m1["score"]
