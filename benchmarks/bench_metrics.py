"""Benchmark: detection mAP on 100k predictions x 52 classes x 9 thresholds, vectorised vs per-prediction loop;
and the tiled matcher against the whole-matrix matcher it replaced (time and peak memory, side by side).

    python benchmarks/bench_metrics.py [--profile smoke|cpu]

Both implementations score the same random MMA-52-like problem in the same run, from the same already-read tables;
the per-prediction reference (``mglib.metrics.reference``) follows the official code path. Results must be identical
(compared exactly). ``vectorised_total_s`` adds reading the ActivityNet dicts (the <= 2 s goal is end to end);
``speedup_score`` compares the scoring alone, since reading is shared by both (best of 3 for the fast path,
one run of the reference).

Matching memory: ``greedy_match`` of this checkout and of commit ``OLD_REV`` (the whole-matrix version, read with
``git show``) run on two problems -- the random one above, and one video holding ``single_gt`` instances of one
class against ``single_preds`` predictions (the issue's 1,000 x 100k case at the cpu profile) -- each in a forked
child, whose peak resident memory above its start (VmHWM) and time are recorded; the matches must be identical.
"""
from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as the speed goal states

import numpy as np  # noqa: E402

import mglib as mg  # noqa: E402
from mglib.metrics import detection as D  # noqa: E402
from mglib.metrics.reference import random_problem, reference_ap  # noqa: E402

SIZES = {"smoke": dict(num_videos=150, num_preds=10_000), "cpu": dict(num_videos=1475, num_preds=100_000),
         "gpu": dict(num_videos=1475, num_preds=100_000)}
SINGLE = {"smoke": dict(single_gt=1000, single_preds=5_000), "cpu": dict(single_gt=1000, single_preds=100_000),
          "gpu": dict(single_gt=1000, single_preds=100_000)}
OLD_REV = "81bcb29"  # last commit with the whole-matrix matcher (mglib/metrics/detection.py)
ROOT = Path(__file__).resolve().parents[1]


def _old_detection():
    """mglib.metrics.detection as of OLD_REV, imported under another name; None without the git history."""
    try:
        src = subprocess.run(["git", "show", f"{OLD_REV}:mglib/metrics/detection.py"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.mkdtemp()) / "old_detection.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("old_detection", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["old_detection"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _vm(field: str) -> int:
    """A VmXXX line of /proc/self/status in bytes."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field + ":"))


def _child(conn, fn, args):
    start = _vm("VmRSS")
    t0 = time.perf_counter()
    matched = fn(*args)
    conn.send((time.perf_counter() - t0, _vm("VmHWM") - start, matched))
    conn.close()


def _measured(fn, *args):
    """(seconds, peak resident bytes above the start, result) of fn(*args) in a forked child."""
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, fn, args))
    proc.start()
    child.close()
    try:
        out = parent.recv()
    except EOFError:  # the child died (MemoryError, OOM killer)
        out = (float("nan"), float("nan"), None)
    proc.join()
    return out


def single_class_problem(single_gt: int, single_preds: int, seed: int = 0):
    """One video, one class: ``single_gt`` instances of ~15 s over 10,000 s, ``single_preds`` predictions."""
    rng = np.random.default_rng(seed)
    gs, ps = rng.uniform(0, 10_000, single_gt), rng.uniform(0, 10_000, single_preds)
    gt = D.GroundTruth(["v"], np.zeros(single_gt, np.int64), gs, gs + 5 + 20 * rng.random(single_gt),
                       np.zeros(single_gt, np.int64), [0], np.array([10_100.0]))
    pr = D.Predictions(np.zeros(single_preds, np.int64), ps, ps + 5 + 20 * rng.random(single_preds),
                       np.zeros(single_preds, np.int64), rng.random(single_preds), videos=["v"])
    return gt, pr


def matching_memory(problems: dict) -> dict:
    """Time and peak memory of the old and the new greedy_match on each problem, side by side."""
    old = _old_detection()
    res = {}
    for name, (g, p) in problems.items():
        new_s, new_b, new_m = _measured(D.greedy_match, g, p, D.DEFAULT_TIOU)
        res[f"{name}_new_match_s"], res[f"{name}_new_match_peak_mb"] = new_s, new_b / 2**20
        if old is None:
            print(f"[bench_metrics] no git history: the old matcher ({OLD_REV}) is not measured", file=sys.stderr)
            continue
        old_s, old_b, old_m = _measured(old.greedy_match, g, p, D.DEFAULT_TIOU)
        res[f"{name}_old_match_s"], res[f"{name}_old_match_peak_mb"] = old_s, old_b / 2**20
        res[f"{name}_match_identical"] = old_m is not None and bool(np.array_equal(old_m, new_m))
    return res


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
    res.update(matching_memory({"random": (g, p), "single_class": single_class_problem(**SINGLE[profile])}))
    run = mg.Run("bench_metrics", profile, {"seed": seed, **size, **SINGLE[profile], "old_rev": OLD_REV,
                                            "match_bytes": D.MATCH_BYTES})
    run.log(**res)
    run.finish()
    for k, v in res.items():
        print(f"{k:>34}: {v:.4f}" if isinstance(v, float) else f"{k:>34}: {v}")
    return res


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu", choices=sorted(SIZES))
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    main(a.profile, a.seed)
