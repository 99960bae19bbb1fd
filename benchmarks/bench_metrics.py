"""Benchmark: detection mAP on 100k predictions x 52 classes x 9 thresholds, vectorised vs per-prediction loop.

    python benchmarks/bench_metrics.py [--profile smoke|cpu]

Both implementations score the same random MMA-52-like problem in the same run, from the same already-read tables;
the per-prediction reference (``mglib.metrics.reference``) follows the official code path. Results must be identical
(compared exactly). ``vectorised_total_s`` adds reading the ActivityNet dicts (the <= 2 s goal is end to end);
``speedup_score`` compares the scoring alone, since reading is shared by both (best of 3 for the fast path,
one run of the reference).
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as the speed goal states

import numpy as np  # noqa: E402

import mglib as mg  # noqa: E402
from mglib.metrics import detection as D  # noqa: E402
from mglib.metrics.reference import random_problem, reference_ap  # noqa: E402

SIZES = {"smoke": dict(num_videos=150, num_preds=10_000), "cpu": dict(num_videos=1475, num_preds=100_000),
         "gpu": dict(num_videos=1475, num_preds=100_000)}


def main(profile: str = "cpu", seed: int = 0) -> dict:
    size = SIZES[profile]
    gt, preds = random_problem(num_classes=52, seed=seed, **size)
    read_times, fast_times = [], []
    for _ in range(3):  # best of 3 for the fast path
        t0 = time.perf_counter()
        g = D.ground_truth_table(gt)
        p = D.prediction_table(preds, g)
        t1 = time.perf_counter()
        fast = D.evaluate_tables(g, p, D.DEFAULT_TIOU)
        t2 = time.perf_counter()
        read_times.append(t1 - t0)
        fast_times.append(t2 - t1)
    t0 = time.perf_counter()
    ref = reference_ap(g, p, D.DEFAULT_TIOU)  # once: it is the slow one
    ref_time = time.perf_counter() - t0
    identical = bool(np.array_equal(np.array(fast["mAP"]), ref.mean(1)))
    fast_per_class = np.array([fast["per_class_AP"][str(c)] for c in g.classes]).T  # (T, C)
    max_diff = float(np.abs(fast_per_class - ref).max())
    res = {"num_predictions": len(p.score), "num_classes": len(g.classes), "num_thresholds": len(D.DEFAULT_TIOU),
           "read_s": min(read_times), "vectorised_score_s": min(fast_times),
           "vectorised_total_s": min(r + f for r, f in zip(read_times, fast_times)),
           "reference_score_s": ref_time, "speedup_score": ref_time / min(fast_times),
           "identical": identical, "max_abs_diff_per_class_AP": max_diff, "average_mAP": fast["average_mAP"]}
    run = mg.Run("bench_metrics", profile, {"seed": seed, **size})
    run.log(**res)
    run.finish()
    for k, v in res.items():
        print(f"{k:>28}: {v:.4f}" if isinstance(v, float) else f"{k:>28}: {v}")
    return res


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu", choices=sorted(SIZES))
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    main(a.profile, a.seed)
