"""Synthetic stand-ins for SMG, iMiGUE and MMA-52, written in the real on-disk formats.

One body model (body.py) animated by per-class motion primitives (gestures.py), observed through each dataset's
sensor (sensors.py: Kinect-25 3-D for SMG, OpenPose-35 2-D for iMiGUE) and rendered to RGB (render.py) for all three.
Everything is a pure function of (dataset, profile, seed, knobs): each item draws from its own generator seeded by
(seed, dataset, item index), so items can be made in parallel and the files are byte-identical across runs.
Splits are subject-independent. Chapter: notebooks/01_datasets.

Difficulty knobs (:class:`Knobs`, defaults per dataset in ``DEFAULT_KNOBS``) can be swept by notebooks:
``generate("mma52", "cpu", out, seed=0, amplitude=0.5, cooccurrence=0.9)``.
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

from mglib.data import body, gestures, imigue, mma52, smg
from mglib.data.render import render
from mglib.data.sensors import Camera, kinect25, openpose35
from mglib.data.video import write_video
from mglib.errors import InputError
from mglib.taxonomy import NUM_CLASSES, SMG_NON_MG

DATASET_CODE = {"smg": 1, "imigue": 2, "mma52": 3}


@dataclass(frozen=True)
class Knobs:
    amplitude: float = 1.0  # gesture amplitude multiplier (smaller -> subtler, harder)
    duration: float = 1.0  # gesture duration multiplier
    cooccurrence: float = 0.5  # MMA-52: probability of keeping a candidate that overlaps another body part's action
    pose_noise: float = 1.0  # sensor noise multiplier (Kinect jitter, OpenPose noise and dropouts)
    imbalance: float = 1.0  # long-tail exponent: class weight ~ (rank + 1) ** -imbalance (0 = balanced)
    num_subjects: int = 0  # 0: the profile's subjects; otherwise this many training subjects


DEFAULT_KNOBS = {"smg": Knobs(imbalance=0.3), "imigue": Knobs(imbalance=0.3), "mma52": Knobs(imbalance=1.0)}


@dataclass(frozen=True)
class SMGProfile:
    train_subjects: tuple  # inside the official 1-35 training range
    val_subjects: tuple  # held-out training subjects (project choice, inside 31-35); split_of() says "train"
    test_subjects: tuple  # 36-40
    seconds: tuple = (60.0, 90.0)
    fps: int = 30
    size: int = 64
    gap_s: tuple = (1.0, 3.5)  # idle time between gestures
    p_illustrative: float = 0.25  # share of non-micro-gesture (class 16) movements


@dataclass(frozen=True)
class IMiGUEProfile:
    subjects: tuple = (12, 4, 4)  # train, val, test subjects (one raw video each)
    clips_per_class: int = 24
    frames: tuple = (32, 64)  # clip length range at 25 fps
    fps: int = 25
    size: int = 64


@dataclass(frozen=True)
class MMAProfile:
    videos: tuple = (120, 40, 40)  # train, val, test
    subjects: tuple = (16, 6, 6)
    seconds: tuple = (5.0, 15.0)
    instances: tuple = (2, 10)
    p_fps29: float = 0.17
    size: int = 64


PROFILES = {
    "smg": {
        "smoke": SMGProfile((1, 2), (33,), (36,), seconds=(10.0, 14.0), gap_s=(0.5, 1.5)),
        "cpu": SMGProfile((2, 5, 9, 13, 17, 21, 25, 29), (32, 34), (36, 37, 38, 39), seconds=(60.0, 80.0)),
        "gpu": SMGProfile(tuple(range(1, 31)), tuple(range(31, 36)), tuple(range(36, 41)), seconds=(300.0, 600.0),
                          size=224),
    },
    "imigue": {
        "smoke": IMiGUEProfile(subjects=(2, 1, 1), clips_per_class=2, frames=(16, 24)),
        "cpu": IMiGUEProfile(),
        "gpu": IMiGUEProfile(subjects=(37, 10, 25), clips_per_class=200, frames=(32, 120), size=224),
    },
    "mma52": {
        "smoke": MMAProfile(videos=(3, 2, 2), subjects=(2, 1, 1), seconds=(5.0, 6.0), instances=(2, 4)),
        "cpu": MMAProfile(),
        "gpu": MMAProfile(videos=(3000, 800, 500), subjects=(140, 37, 26), size=160),
    },
}


def resolve_knobs(dataset: str, **overrides) -> Knobs:
    names = {f.name for f in fields(Knobs)}
    unknown = set(overrides) - names
    if unknown:
        raise InputError(f"unknown generator knob(s) {sorted(unknown)}; expected {sorted(names)}")
    return replace(DEFAULT_KNOBS[dataset], **overrides)


def _rng(seed: int, dataset: str, *item) -> np.random.Generator:
    return np.random.default_rng([seed, DATASET_CODE[dataset], *item])


def _class_weights(n: int, imbalance: float, head: list[int], tail: list[int]) -> np.ndarray:
    """Long-tail weights over a fixed class order (independent of the seed): ``head`` first, ``tail`` last."""
    rest = [c for c in np.random.default_rng(1234 + n).permutation(n).tolist() if c not in head and c not in tail]
    order = head + rest + tail
    w = np.empty(n)
    w[order] = (np.arange(n) + 1.0) ** -imbalance
    return w / w.sum()


def _event(prim, start, end, subj, rng, knobs) -> body.Event:
    side = subj.dominant if rng.random() < 0.75 else 1 - subj.dominant
    return body.Event(prim, int(start), int(end), side=side, amp=float(rng.uniform(0.8, 1.2) * knobs.amplitude),
                      freq=float(rng.uniform(0.85, 1.15)), phase=float(rng.uniform(0, 2 * np.pi)),
                      jitter=tuple(rng.normal(0, 0.008, 3).tolist()))


def _camera(dataset: str, rng, size: int) -> Camera:
    if dataset == "imigue":  # press conference: upper body, legs out of frame
        cam = Camera((rng.normal(0, .05), -0.5 + rng.normal(0, .03), 2.6 + rng.normal(0, .1)),
                     yaw=float(rng.normal(0, 0.2)), focal=150 * rng.uniform(0.92, 1.08))
    else:  # seated full body
        cam = Camera((rng.normal(0, .06), -0.2 + rng.normal(0, .03), 2.6 + rng.normal(0, .12)),
                     yaw=float(rng.normal(0, 0.15 if dataset == "smg" else 0.25)), focal=95 * rng.uniform(0.93, 1.05))
    return cam.scaled(size, size)


def _duration_frames(prim, subj, rng, knobs, fps, lo=0.6, hi=1.4) -> int:
    return max(int(round(prim.base_s * rng.uniform(lo, hi) * knobs.duration / subj.tempo * fps)), 8)


# ---------------------------------------------------------------------------------------------- SMG
def _smg_item(args) -> dict:
    seed, index, subject, prof, knobs, out = args
    rng = _rng(seed, "smg", index)
    subj = body.make_subject(subject, rng)
    fps = prof.fps
    n = int(rng.uniform(*prof.seconds) * fps)
    weights = _class_weights(SMG_NON_MG, knobs.imbalance, head=[], tail=[])
    events, f = [], int(rng.uniform(0.5, 2.0) * fps)
    while True:
        c = SMG_NON_MG if rng.random() < prof.p_illustrative else int(rng.choice(SMG_NON_MG, p=weights))
        prim = gestures.SMG[c]
        d = _duration_frames(prim, subj, rng, knobs, fps)
        if f + d >= n - 1:
            break
        events.append((c, _event(prim, f, f + d - 1, subj, rng, knobs)))
        f += d + int(rng.uniform(*prof.gap_s) * fps)
    J, props = body.animate(subj, n, fps, [e for _, e in events], rng)
    cam = _camera("smg", rng, prof.size)
    skel = kinect25(J, cam, rng, knobs.pose_noise)
    # SMG label frames address skeleton rows 1-based: array frame i is file frame i + 1
    labels = np.array([[c, e.start + 1, e.end + 1] for c, e in events], np.int64).reshape(-1, 3)
    name = f"Sample{subject:04d}"
    folder = Path(out) / name
    seq = smg.SMGSequence(name, subject, n, float(fps), skel, labels, folder / f"{name}_color.mp4", max_depth=4500)
    smg.write_sequence(folder, seq)
    frames = render(J, props, subj, cam, np.arange(n), _rng(seed, "smg", index, 1))
    write_video(folder / f"{name}_color.mp4", frames, fps)
    return {"name": name, "subject": subject, "frames": n}


def _gen_smg(prof: SMGProfile, out: Path, seed: int, knobs: Knobs) -> dict:
    train = prof.train_subjects
    if knobs.num_subjects:
        train = tuple(int(x) for x in np.linspace(1, 30, knobs.num_subjects).round())
    subjects = sorted(set(train) | set(prof.val_subjects) | set(prof.test_subjects))
    items = _map(_smg_item, [(seed, i, s, prof, knobs, out) for i, s in enumerate(subjects)])
    return {"subjects": {"train": [s for s in subjects if s in train], "val": list(prof.val_subjects),
                         "test": list(prof.test_subjects)},
            "note": "val subjects lie in the official 1-35 training range (no official validation split)",
            "frames": sum(it["frames"] for it in items)}


# ---------------------------------------------------------------------------------------------- iMiGUE
def _imigue_item(args) -> dict:
    seed, index, vid, subject, classes, prof, knobs, out = args
    rng = _rng(seed, "imigue", index)
    subj = body.make_subject(subject, rng)
    fps = prof.fps
    rows, events, f = [], [], int(rng.uniform(0.5, 1.0) * fps)
    for c in classes:
        d = max(int(rng.integers(prof.frames[0], prof.frames[1] + 1) * knobs.duration), 8)
        events.append(_event(gestures.IMIGUE[c], f, f + d - 1, subj, rng, knobs))
        rows.append((c, f, f + d - 1))
        f += d + int(rng.uniform(0.4, 1.2) * fps)
    n = f
    J, props = body.animate(subj, n, fps, events, rng)
    cam = _camera("imigue", rng, prof.size)
    skel = openpose35(J, cam, rng, knobs.pose_noise).astype(np.float64)
    # quantise to what the CSV stores (0.01 px, 0.001 confidence) so pickle and raw files agree exactly
    skel = np.concatenate([np.round(skel[..., :2], 2), np.round(skel[..., 2:], 3)], -1).astype(np.float32)
    video = imigue.IMiGUEVideo(vid, np.array(rows, np.int64).reshape(-1, 3), skel, np.arange(n))
    imigue.write_raw_video(Path(out) / "raw" / vid, video)
    anns = []
    for k, (c, s, e) in enumerate(rows):
        ann = imigue.clip_annotation(video, k)
        anns.append(ann)
        frames = render(J, props, subj, cam, np.arange(s, e + 1), _rng(seed, "imigue", index, 1))
        write_video(imigue.clip_video_path(out, ann["frame_dir"]), frames, fps)
    return {"annotations": anns, "frames": sum(e - s + 1 for _, s, e in rows)}


def _gen_imigue(prof: IMiGUEProfile, out: Path, seed: int, knobs: Knobs) -> dict:
    n_sub = list(prof.subjects)
    if knobs.num_subjects:
        n_sub[0] = knobs.num_subjects
    rng = _rng(seed, "imigue", 10**6)
    ncls = NUM_CLASSES["imigue"]
    weights = _class_weights(ncls, knobs.imbalance, head=[31], tail=[])
    total = prof.clips_per_class * ncls
    frac = np.array(n_sub) / sum(n_sub)
    jobs, split, subject, index = [], {}, 1, 0
    for name, n_s, fr in zip(("train", "val", "test"), n_sub, frac):
        n_clips = int(round(total * fr))
        if n_clips >= ncls:  # every class in every split
            counts = np.maximum(1, np.round(weights * n_clips)).astype(int)
            pool = rng.permutation(np.repeat(np.arange(ncls), counts))
        else:  # tiny profiles: a weighted draw without repeats
            pool = rng.choice(ncls, size=max(n_clips, n_s), replace=False, p=weights)
        split[name] = []
        for chunk in np.array_split(pool, n_s):
            vid = f"{index + 1:04d}"
            jobs.append((seed, index, vid, subject, chunk.tolist(), prof, knobs, out))
            split[name] += [f"{vid}_{k}" for k in range(len(chunk))]
            subject += 1
            index += 1
    results = _map(_imigue_item, jobs)
    anns = [a for r in results for a in r["annotations"]]
    imigue.save_pyskl(Path(out) / "imigue.pkl", anns, split)
    return {"subjects": {s: list(range(a, a + k)) for s, a, k in
                         zip(("train", "val", "test"), np.cumsum([1] + n_sub[:-1]).tolist(), n_sub)},
            "video_subject": {j[2]: j[3] for j in jobs}, "frames": sum(r["frames"] for r in results),
            "keypoint_T": "variable: T = clip length (total_frames)"}


# ---------------------------------------------------------------------------------------------- MMA-52
_MMA_HEAD = [8, 9, 10, 7, 5]  # turning head, nodding, shaking head, tilting, bowing: the real head of the tail
_MMA_TAIL = [36, 3, 45]  # among the rarest in the real data


def _mma_instances(rng, n, fps, subj, knobs, prof, weights, forced: list[int]):
    target = int(rng.integers(prof.instances[0], min(prof.instances[1], 2 + int(n / fps / 1.5)) + 1))
    placed: list[tuple[int, int, int, str]] = []
    for attempt in range(80):
        if len(placed) >= target:
            break
        c = forced.pop(0) if forced and attempt == 0 else int(rng.choice(len(weights), p=weights))
        prim = gestures.MA52[c]
        d = min(_duration_frames(prim, subj, rng, knobs, fps), n - 2)
        s = int(rng.integers(0, n - d))
        e = s + d - 1
        ch = body.channels(prim)[0]
        gap = int(0.3 * fps)
        if any(pc == ch and s <= pe + gap and ps <= e + gap for ps, pe, _, pc in placed):
            continue  # the body part is busy then (the first, possibly forced, attempt always fits)
        overlaps = any(s <= pe and ps <= e for ps, pe, _, _ in placed)
        if overlaps and rng.random() > knobs.cooccurrence:
            continue
        placed.append((s, e, c, ch))
    placed.sort()
    return placed


def _mma_item(args) -> dict:
    seed, index, split, vid, subject, forced, prof, knobs, out = args
    rng = _rng(seed, "mma52", index)
    subj = body.make_subject(subject, _rng(seed, "mma52", 10**6, subject))  # same person in all their videos
    fps = 29 if rng.random() < prof.p_fps29 else 30
    n = int(rng.uniform(*prof.seconds) * fps)
    weights = _class_weights(NUM_CLASSES["mma52"], knobs.imbalance, _MMA_HEAD, _MMA_TAIL)
    placed = _mma_instances(rng, n, fps, subj, knobs, prof, weights, list(forced))
    events = [_event(gestures.MA52[c], s, e, subj, rng, knobs) for s, e, c, _ in placed]
    J, props = body.animate(subj, n, fps, events, rng)
    cam = _camera("mma52", rng, prof.size)
    frames = render(J, props, subj, cam, np.arange(n), _rng(seed, "mma52", index, 1))
    write_video(mma52.video_path(out, split, vid), frames, fps)
    # end_frame is exclusive-style as in the release (end <= total_frames): last frame + 1
    inst = np.array([[s, e + 1, c] for s, e, c, _ in placed], np.float64).reshape(-1, 3)
    return {"video": mma52.MMAVideo(vid, split, float(fps), n, inst), "frames": n}


def _gen_mma52(prof: MMAProfile, out: Path, seed: int, knobs: Knobs) -> dict:
    n_sub = list(prof.subjects)
    if knobs.num_subjects:
        n_sub[0] = knobs.num_subjects
    rng = _rng(seed, "mma52", 10**7)
    jobs, subjects, first, index = [], {}, 1, 0
    for split, n_vid, n_s in zip(mma52.SPLITS, prof.videos, n_sub):
        subjects[split] = list(range(first, first + n_s))
        first += n_s
        # training covers every class at least once: the first 52 videos each start with one missing class
        forced = rng.permutation(NUM_CLASSES["mma52"]).tolist() if split == "train" else []
        for i in range(n_vid):
            subj = subjects[split][i % n_s]
            jobs.append((seed, index, split, f"{split}{i:04d}", subj, forced[i:i + 1] if i < len(forced) else [],
                         prof, knobs, out))
            index += 1
    results = _map(_mma_item, jobs)
    for split in mma52.SPLITS:
        mma52.write_csv(Path(out) / "anns" / f"{split}.csv", [r["video"] for r in results if r["video"].split == split])
    return {"subjects": subjects, "video_subject": {j[3]: j[4] for j in jobs},
            "frames": sum(r["frames"] for r in results),
            "note": "test.csv holds the true synthetic instances (the real public test CSV holds placeholders)"}


# ---------------------------------------------------------------------------------------------- driver
def _workers() -> int:
    env = os.environ.get("MGLIB_DATA_WORKERS")
    if env:
        return max(1, int(env))
    try:
        usable = len(os.sched_getaffinity(0))  # the cores this process may run on, not the machine's count
    except AttributeError:
        usable = os.cpu_count() or 1
    return max(1, min(usable, 8))


def _map(fn, jobs: list) -> list:
    """Run jobs in worker processes (fork; numpy and PyAV only) or in-process; results in job order."""
    n = min(_workers(), len(jobs))
    if n <= 1 or sys.platform != "linux":
        return [fn(j) for j in jobs]
    with ProcessPoolExecutor(n, mp_context=get_context("fork")) as ex:
        return list(ex.map(fn, jobs))


def generate(dataset: str, profile: str, out, seed: int = 0, **knobs) -> dict:
    """Write the synthetic ``dataset`` at ``profile`` size to ``out`` in its real format; returns a summary.

    ``knobs``: fields of :class:`Knobs` overriding ``DEFAULT_KNOBS[dataset]``. A ``meta.json`` next to the data
    records the parameters, subjects per split and the video -> subject map (the real releases have no such file).
    """
    if dataset not in PROFILES:
        raise InputError(f"--dataset {dataset!r}: expected one of {', '.join(PROFILES)}")
    if profile not in PROFILES[dataset]:
        raise InputError(f"--profile {profile!r}: expected one of {', '.join(PROFILES[dataset])}")
    k = resolve_knobs(dataset, **knobs)
    prof = PROFILES[dataset][profile]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    info = {"smg": _gen_smg, "imigue": _gen_imigue, "mma52": _gen_mma52}[dataset](prof, out, seed, k)
    meta = {"dataset": dataset, "profile": profile, "seed": seed, "knobs": asdict(k), "size": asdict(prof), **info}
    (out / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    return {**meta, "seconds": time.perf_counter() - t0}
