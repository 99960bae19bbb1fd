"""Vectorised pseudo-heatmaps against the per-joint loop (pyskl's way), same inputs, side by side.

    python benchmarks/bench_heatmaps.py [--profile smoke|cpu|gpu]

Goal: the vectorised joint+limb volume at least 10x faster than the loop, with the same values (max abs diff
printed). Writes results/bench_heatmaps/<profile>/.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import mglib as mg
from mglib.pose import (joint_heatmaps, joint_heatmaps_loop, limb_heatmaps, limb_heatmaps_loop, pose_compact,
                        resize_keypoints)

# (frames, joints, heatmap side, repeats): smoke is quick; cpu/gpu are the study's and the paper's pose inputs
SIZES = {"smoke": (8, 22, 32, 5), "cpu": (32, 22, 32, 10), "gpu": (32, 22, 56, 10)}
# a 22-joint tree (iMiGUE subset: body/head, then both hands' five fingers)
LIMBS = [(1, 0), (1, 2), (2, 3), (3, 4), (1, 5), (5, 6), (6, 7), (0, 8), (8, 10), (0, 9), (9, 11),
         *[(4, j) for j in range(17, 22)], *[(7, j) for j in range(12, 17)]]


# A seated upper body in a unit box (x right, y down), 22 joints in the iMiGUE subset order.
_BODY = [(0.5, 0.25), (0.5, 0.45), (0.3, 0.45), (0.22, 0.7), (0.35, 0.85), (0.7, 0.45), (0.78, 0.7),
         (0.65, 0.85), (0.46, 0.21), (0.54, 0.21), (0.42, 0.23), (0.58, 0.23)]
_FINGERS = [(-0.04, 0.05), (-0.02, 0.07), (0.0, 0.075), (0.02, 0.07), (0.04, 0.05)]
TEMPLATE = np.array(_BODY + [(0.65 + dx, 0.85 + dy) for dx, dy in _FINGERS]
                    + [(0.35 + dx, 0.85 + dy) for dx, dy in _FINGERS], np.float32)


def realistic_poses(t, side, rng):
    """What the heatmap step sees in the pipeline: a jittered 22-joint body in a 1280x720 frame, cropped by
    PoseCompact (square, 1.25x) and resized to side x side."""
    kp = TEMPLATE[None, None] * 400 + np.array([440, 200], np.float32)  # (1, 1, 22, 2) pixels
    kp = kp + rng.normal(0, 6, size=(1, t, len(TEMPLATE), 2)).astype(np.float32)
    kp, shape, _ = pose_compact(kp, (720, 1280), hw_ratio=1.0)
    return resize_keypoints(kp, shape, (side, side))


def best_of(fn, repeats):
    fn()  # warm-up: first-touch allocation and caches
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="smoke", choices=sorted(SIZES))
    args = ap.parse_args(argv)
    t, v, side, reps = SIZES[args.profile]
    rng = np.random.default_rng(0)
    kp = realistic_poses(t, side, rng)
    sc = rng.uniform(0.2, 1, size=(1, t, v)).astype(np.float32)
    shape, sigma = (side, side), 0.7
    rows = {}
    for name, vec, loop in [
        ("joints", lambda: joint_heatmaps(kp, sc, shape, sigma), lambda: joint_heatmaps_loop(kp, sc, shape, sigma)),
        ("limbs", lambda: limb_heatmaps(kp, sc, shape, LIMBS, sigma),
         lambda: limb_heatmaps_loop(kp, sc, shape, LIMBS, sigma)),
    ]:
        tv, a = best_of(vec, reps)
        tl, b = best_of(loop, reps)
        rows[name] = {"vectorised_ms": 1e3 * tv, "loop_ms": 1e3 * tl, "speedup": tl / tv,
                      "max_abs_diff": float(np.abs(a - b).max())}
        print(f"{name:7s} T={t} V={v} {side}x{side}: vectorised {1e3 * tv:8.2f} ms | loop {1e3 * tl:8.2f} ms | "
              f"speed-up {tl / tv:6.1f}x | max |diff| {rows[name]['max_abs_diff']:.2e}")
    run = mg.Run("bench_heatmaps", args.profile, {"frames": t, "joints": v, "side": side, "sigma": sigma,
                                                   "limbs": len(LIMBS), "repeats": reps})
    run.log(**{f"{k}_{m}": val for k, r in rows.items() for m, val in r.items()})
    run.finish()
    return rows


if __name__ == "__main__":
    main()
