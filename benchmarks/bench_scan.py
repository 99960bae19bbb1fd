"""Chunked selective scan vs the sequential reference on CPU (chapter 03).

    python benchmarks/bench_scan.py [--profile smoke|cpu] [--threads N]

Shapes: batch 1, d_inner 256, N 16, input-dependent B and C, delta bias + softplus, D and z (the configuration
the Mamba block uses). For each L: best-of-`reps` wall time of the forward pass and of forward + backward, for both
implementations, in the same process, plus the largest output difference. Writes results/bench_scan/<profile>/.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

import torch  # noqa: E402

import mglib as mg  # noqa: E402
from mglib.models.mamba import selective_scan, selective_scan_ref  # noqa: E402

SETTINGS = {"smoke": {"lengths": [64, 256], "reps": 2}, "cpu": {"lengths": [64, 256, 1024], "reps": 5}}
SETTINGS["gpu"] = SETTINGS["cpu"]


def _inputs(L, batch=1, E=256, N=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    A = -torch.arange(1, N + 1.0).repeat(E, 1)  # Mamba's initial A
    return [r(batch, E, L), r(batch, E, L), A, r(batch, N, L), r(batch, N, L), torch.ones(E)], \
        dict(z=r(batch, E, L), delta_bias=torch.full((E,), -4.0) + r(E), delta_softplus=True)


def best_time(fn, reps, backward=False, leaves=()):
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        if backward:
            torch.autograd.grad(out.sum(), leaves)
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="smoke", choices=sorted(SETTINGS))
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = SETTINGS[args.profile]
    run = mg.Run("bench_scan", args.profile, {**cfg, "d_inner": 256, "d_state": 16, "batch": 1,
                                               "threads": torch.get_num_threads()})
    rows = []
    for L in cfg["lengths"]:
        pos, kw = _inputs(L)
        leaves = [pos[0].requires_grad_(), pos[1].requires_grad_(), pos[3].requires_grad_()]
        row = {"L": L}
        for name, fn in (("sequential", selective_scan_ref), ("chunked", selective_scan)):
            with torch.no_grad():
                row[f"{name}_fwd_ms"] = 1e3 * best_time(lambda: fn(*pos, **kw), cfg["reps"])
            row[f"{name}_fwd_bwd_ms"] = 1e3 * best_time(lambda: fn(*pos, **kw), cfg["reps"], True, leaves)
        with torch.no_grad():
            row["max_abs_diff"] = (selective_scan(*pos, **kw) - selective_scan_ref(*pos, **kw)).abs().max().item()
        row["speedup_fwd"] = row["sequential_fwd_ms"] / row["chunked_fwd_ms"]
        row["speedup_fwd_bwd"] = row["sequential_fwd_bwd_ms"] / row["chunked_fwd_bwd_ms"]
        rows.append({k: v if k == "max_abs_diff" or not isinstance(v, float) else round(v, 3) for k, v in row.items()})
        print(" ".join(f"{k}={v}" for k, v in rows[-1].items()), flush=True)
    run.log(rows=rows, speedup_fwd_at_max_L=rows[-1]["speedup_fwd"], goal_speedup_at_1024=5.0)
    run.finish()
    print(f"record: {mg.paths.relative(run.dir)}")


if __name__ == "__main__":
    main()
