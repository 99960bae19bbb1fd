"""Chunked selective scan vs the sequential reference on CPU (chapter 03).

    python benchmarks/bench_scan.py [--profile smoke|cpu] [--threads N ...]

Shapes: batch 1, d_inner 256, N 16, input-dependent B and C, delta bias + softplus, D and z (the configuration
the Mamba block uses). For each L and each thread count (default: 1 and every core of the machine): best-of-`reps`
wall time of the forward pass and of forward + backward, for both implementations, in the same process, plus the
largest output difference. Speed-ups divide by the sequential reference's best time at any thread count measured,
so extra threads only count where they help. Writes results/bench_scan/<profile>/.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

import torch  # noqa: E402

import mglib as mg  # noqa: E402
from mglib.models.mamba import selective_scan, selective_scan_ref  # noqa: E402

SETTINGS = {"smoke": {"lengths": [64, 256], "reps": 2}, "cpu": {"lengths": [64, 256, 1024], "reps": 2}}
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
    ap.add_argument("--threads", type=int, nargs="+", default=None,
                    help="torch thread counts to measure (default: 1 and the number of usable cores)")
    args = ap.parse_args(argv)
    threads = sorted(set(args.threads or [1, len(os.sched_getaffinity(0))]))
    cfg = SETTINGS[args.profile]
    run = mg.Run("bench_scan", args.profile, {**cfg, "d_inner": 256, "d_state": 16, "batch": 1, "threads": threads})
    rows = []
    for L in cfg["lengths"]:
        pos, kw = _inputs(L)
        leaves = [pos[0].requires_grad_(), pos[1].requires_grad_(), pos[3].requires_grad_()]
        with torch.no_grad():
            diff = (selective_scan(*pos, **kw) - selective_scan_ref(*pos, **kw)).abs().max().item()
        timed = []
        for n in threads:
            torch.set_num_threads(n)
            row = {"L": L, "threads": n}
            for name, fn in (("sequential", selective_scan_ref), ("chunked", selective_scan)):
                with torch.no_grad():
                    row[f"{name}_fwd_ms"] = 1e3 * best_time(lambda: fn(*pos, **kw), cfg["reps"])
                row[f"{name}_fwd_bwd_ms"] = 1e3 * best_time(lambda: fn(*pos, **kw), cfg["reps"], True, leaves)
            timed.append(row)
        for row in timed:
            for part in ("fwd", "fwd_bwd"):
                best_ref = min(r[f"sequential_{part}_ms"] for r in timed)
                row[f"speedup_{part}"] = best_ref / row[f"chunked_{part}_ms"]
            row["max_abs_diff"] = diff
            rows.append({k: round(v, 3) if isinstance(v, float) and k != "max_abs_diff" else v for k, v in row.items()})
            print(" ".join(f"{k}={v}" for k, v in rows[-1].items()), flush=True)
    at_max = [r for r in rows if r["L"] == cfg["lengths"][-1]]
    run.log(rows=rows, goal_speedup_at_1024=5.0,
            speedup_at_max_L={str(r["threads"]): {"fwd": r["speedup_fwd"], "fwd_bwd": r["speedup_fwd_bwd"]}
                              for r in at_max})
    run.finish()
    print(f"record: {mg.paths.relative(run.dir)}")


if __name__ == "__main__":
    main()
