"""Synthetic stand-ins for SMG, iMiGUE and MMA-52, written in the real on-disk formats.

One body model (body.py) animated by per-class motion primitives (gestures.py), observed through each dataset's
sensor (sensors.py: Kinect-25 3-D for SMG, OpenPose-35 2-D for iMiGUE) and rendered to RGB (render.py) for all three.
Everything is a pure function of (dataset, profile, seed, knobs): each item draws from its own generator seeded by
(seed, dataset, item index), so items can be made in parallel and the files are byte-identical across runs.
Splits are subject-independent. Chapter: notebooks/01_datasets.

Difficulty knobs (:class:`Knobs`, defaults per dataset in ``DEFAULT_KNOBS``) can be swept by notebooks:
``generate("mma52", "cpu", out, seed=0, amplitude=0.5, pose_noise=2.0)`` (MMA-52 refuses the timeline knobs while it
replays real timelines: synth_mma52.TIMELINE_KNOBS).
"""
from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, fields, replace
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from mglib.data import body
from mglib.data.sensors import Camera
from mglib.errors import InputError

DATASET_CODE = {"smg": 1, "imigue": 2, "mma52": 3}


@dataclass(frozen=True)
class Knobs:
    amplitude: float = 1.0  # gesture amplitude multiplier (smaller -> subtler, harder)
    duration: float = 1.0  # gesture duration multiplier
    cooccurrence: float = 0.5  # MMA-52: probability of keeping a candidate that overlaps another body part's action
    pose_noise: float = 1.0  # sensor noise multiplier (Kinect jitter, OpenPose noise and dropouts)
    imbalance: float = 1.0  # long-tail exponent: weight ~ (rank + 1) ** -imbalance, SMG: real share ** imbalance
    num_subjects: int = 0  # 0: the profile's subjects; otherwise this many training subjects
    limb_colours: bool = False  # RGB: each limb in its own colour instead of clothing (render.py ``_CODE``)
    gap: float = 1.0  # SMG: idle-time multiplier between gestures (smaller -> denser)
    rgb_cue_share: float | None = None  # iMiGUE: share of classes whose cue is RGB-only (None: the designed 2/32)
    pair_distance: float = 1.0  # iMiGUE: contact-site distance of the designed ambiguous pairs, x the body's


# imbalance 1 means the real class shares for SMG and iMiGUE (synth_smg.py, synth_imigue.py)
DEFAULT_KNOBS = {"smg": Knobs(imbalance=1.0), "imigue": Knobs(imbalance=1.0), "mma52": Knobs(imbalance=1.0)}
IMIGUE_ONLY_KNOBS = ("rgb_cue_share", "pair_distance")


def resolve_knobs(dataset: str, **overrides) -> Knobs:
    names = {f.name for f in fields(Knobs)}
    unknown = set(overrides) - names
    if unknown:
        raise InputError(f"unknown generator knob(s) {sorted(unknown)}; expected {sorted(names)}")
    if dataset != "imigue" and set(overrides) & set(IMIGUE_ONLY_KNOBS):
        raise InputError(f"generator knob(s) {sorted(set(overrides) & set(IMIGUE_ONLY_KNOBS))}: iMiGUE only")
    return replace(DEFAULT_KNOBS[dataset], **overrides)


def rng_for(seed: int, dataset: str, *item) -> np.random.Generator:
    return np.random.default_rng([seed, DATASET_CODE[dataset], *item])


def class_weights(n: int, imbalance: float, head: list[int], tail: list[int]) -> np.ndarray:
    """Long-tail weights over a fixed class order (independent of the seed): ``head`` first, ``tail`` last."""
    rest = [c for c in np.random.default_rng(1234 + n).permutation(n).tolist() if c not in head and c not in tail]
    order = head + rest + tail
    w = np.empty(n)
    w[order] = (np.arange(n) + 1.0) ** -imbalance
    return w / w.sum()


def make_event(prim, start, end, subj, rng, knobs) -> body.Event:
    side = subj.dominant if rng.random() < 0.75 else 1 - subj.dominant
    return body.Event(prim, int(start), int(end), side=side, amp=float(rng.uniform(0.8, 1.2) * knobs.amplitude),
                      freq=float(rng.uniform(0.85, 1.15)), phase=float(rng.uniform(0, 2 * np.pi)),
                      jitter=tuple(rng.normal(0, 0.008, 3).tolist()))


def make_camera(dataset: str, rng, size: int) -> Camera:
    if dataset == "imigue":  # press conference: upper body, legs out of frame
        cam = Camera((rng.normal(0, .05), -0.5 + rng.normal(0, .03), 2.6 + rng.normal(0, .1)),
                     yaw=float(rng.normal(0, 0.2)), focal=150 * rng.uniform(0.92, 1.08))
    else:  # seated full body
        cam = Camera((rng.normal(0, .06), -0.2 + rng.normal(0, .03), 2.6 + rng.normal(0, .12)),
                     yaw=float(rng.normal(0, 0.15 if dataset == "smg" else 0.25)), focal=95 * rng.uniform(0.93, 1.05))
    return cam.scaled(size, size)


def duration_frames(prim, subj, rng, knobs, fps, lo=0.6, hi=1.4) -> int:
    return max(int(round(prim.base_s * rng.uniform(lo, hi) * knobs.duration / subj.tempo * fps)), 8)


# ---------------------------------------------------------------------------------------------- driver
def workers() -> int:
    env = os.environ.get("MGLIB_DATA_WORKERS")
    if env:
        return max(1, int(env))
    try:
        usable = len(os.sched_getaffinity(0))  # the cores this process may run on, not the machine's count
    except AttributeError:
        usable = os.cpu_count() or 1
    return max(1, min(usable, 8))


def parallel_map(fn, jobs: list) -> list:
    """Run jobs in worker processes (fork; numpy and PyAV only) or in-process; results in job order."""
    n = min(workers(), len(jobs))
    if n <= 1 or sys.platform != "linux":
        return [fn(j) for j in jobs]
    with ProcessPoolExecutor(n, mp_context=get_context("fork")) as ex:
        return list(ex.map(fn, jobs))


def module(dataset: str):
    """The generator module of ``dataset`` (each dataset's generator lives in its own ``synth_<dataset>.py``)."""
    import importlib

    if dataset not in DATASET_CODE:
        raise InputError(f"--dataset {dataset!r}: expected one of {', '.join(DATASET_CODE)}")
    return importlib.import_module(f"mglib.data.synth_{dataset}")


def generate(dataset: str, profile: str, out, seed: int = 0, **knobs) -> dict:
    """Write the synthetic ``dataset`` at ``profile`` size to ``out`` in its real format; returns a summary.

    ``knobs``: fields of :class:`Knobs` overriding ``DEFAULT_KNOBS[dataset]``. A ``meta.json`` next to the data
    records the parameters, subjects per split and the video -> subject map (the real releases have no such file).
    """
    mod = module(dataset)
    if profile not in mod.PROFILES:
        raise InputError(f"--profile {profile!r}: expected one of {', '.join(mod.PROFILES)}")
    k = resolve_knobs(dataset, **knobs)
    prof = mod.PROFILES[profile]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    info = mod.generate(prof, out, seed, k)
    meta = {"dataset": dataset, "profile": profile, "seed": seed, "knobs": asdict(k), "size": asdict(prof), **info}
    (out / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    return {**meta, "seconds": time.perf_counter() - t0}
