"""Synthetic iMiGUE: one raw press-conference video per subject (OpenPose-35 CSVs) cut into trimmed clips, with the
PYSKL pickle and per-clip MP4s (chapters: notebooks/01_datasets, 10-12 classification).

Calibrated to the real label table (``calibration.IMIGUE``): with the default ``imbalance`` 1 the class shares are
the real ones (the non-micro-gesture class about 31 % of the clips), and clip durations follow the real
distribution (p10 0.75 s, median 1.57 s, p90 5.18 s): each class's real median, times one factor, times a skewed
log-normal spread fitted to the real quantiles. Every class keeps at least one clip per split. The sweep knobs
``rgb_cue_share`` and ``pair_distance`` reshape the designed RGB-only twins and ambiguous pairs (gestures.py).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from mglib.data import body, calibration, gestures, imigue
from mglib.data.render import render
from mglib.data.sensors import openpose35
from mglib.data.synthetic import Knobs, make_camera, make_event, parallel_map, rng_for
from mglib.data.video import write_video
from mglib.errors import InputError
from mglib.taxonomy import IMIGUE_RAW_LABELS, NUM_CLASSES

# duration = DURATION_SCALE x the class's real median x exp(z * spread), z ~ N(0, 1), spread LOW for z < 0 and HIGH
# above: fitted so that the mixture over the real class shares has the real p10 / median / p90 / p99 / mean
# (0.73 / 1.57 / 5.18 / 15.9 / 2.53 s against 0.75 / 1.57 / 5.18 / 15.6 / 2.55 s)
DURATION_SCALE, SPREAD_LOW, SPREAD_HIGH = 0.76, 0.25, 1.0
# the classification sweeps (chapter 12): four RGB-only twin candidates and the two designed ambiguous pairs
SWEEP_CLASSES = (25, 22, 2, 3, 12, 8, 17, 21, 6, 4, 11, 14)


@dataclass(frozen=True)
class IMiGUEProfile:
    subjects: tuple = (12, 4, 4)  # train, val, test subjects (one raw video each)
    clips_per_class: int = 24  # clips in all = this x the number of classes
    frames: tuple = (8, 250)  # clip length bounds at 25 fps (the real p99 is 390 frames); cuts rendering time
    fps: int = 25
    size: int = 64
    classes: tuple = ()  # the classes drawn; () = all 32


PROFILES = {
    "smoke": IMiGUEProfile(subjects=(2, 1, 1), clips_per_class=2, frames=(16, 24)),
    "cpu": IMiGUEProfile(),
    "gpu": IMiGUEProfile(subjects=(37, 10, 25), clips_per_class=200, frames=(8, 400), size=224),
    "sweep": IMiGUEProfile(subjects=(6, 2, 3), clips_per_class=30, frames=(16, 48), classes=SWEEP_CLASSES),
    "sweep_smoke": IMiGUEProfile(subjects=(1, 1, 1), clips_per_class=3, frames=(12, 16), classes=SWEEP_CLASSES),
}


def real_shares() -> np.ndarray:
    """Share of each 0-based class among the real iMiGUE segments."""
    shares = calibration.class_shares(calibration.IMIGUE)
    return np.array([shares[raw] for raw in IMIGUE_RAW_LABELS])


def class_weights(classes, imbalance: float) -> np.ndarray:
    """Draw probabilities over ``classes``: the real shares to the power ``imbalance`` (1 real, 0 balanced)."""
    w = real_shares()[list(classes)] ** imbalance
    return w / w.sum()


def max_rgb_cue_share(classes=SWEEP_CLASSES) -> float:
    """The largest ``rgb_cue_share`` the twin candidates allow among ``classes``."""
    usable = [c for c in gestures.IMIGUE_TWIN_CANDIDATES if c[0] in classes and c[1] in classes]
    return len(usable) / len(classes)


def duration_frames(c: int, rng, knobs: Knobs, prof: IMiGUEProfile) -> int:
    median_s = calibration.IMIGUE["classes"][IMIGUE_RAW_LABELS[c]][1]
    z = rng.standard_normal()
    seconds = DURATION_SCALE * median_s * np.exp(z * (SPREAD_LOW if z < 0 else SPREAD_HIGH)) * knobs.duration
    return int(np.clip(round(seconds * prof.fps), *prof.frames))


def check_knobs(knobs: Knobs) -> None:
    if knobs.rgb_cue_share is not None and not 0 <= knobs.rgb_cue_share <= 1:
        raise InputError(f"knob rgb_cue_share={knobs.rgb_cue_share}: expected a share in [0, 1]")
    if not 0 <= knobs.pair_distance <= 4:
        raise InputError(f"knob pair_distance={knobs.pair_distance}: expected a factor in [0, 4]")
    if knobs.imbalance < 0:
        raise InputError(f"knob imbalance={knobs.imbalance}: expected >= 0")


def plan(prof: IMiGUEProfile, seed: int, knobs: Knobs) -> tuple[dict, list]:
    """Which classes each split and video holds: ({split: [(video, subject, classes)]}, classes drawn).
    Pure and cheap: the calibration tests check the shares here without rendering anything."""
    classes = list(prof.classes or range(NUM_CLASSES["imigue"]))
    n_sub = list(prof.subjects)
    if knobs.num_subjects:
        n_sub[0] = knobs.num_subjects
    rng = rng_for(seed, "imigue", 10**6)
    weights = class_weights(classes, knobs.imbalance)
    total = prof.clips_per_class * len(classes)
    out, subject, index = {}, 1, 0
    for name, n_s, fr in zip(("train", "val", "test"), n_sub, np.array(n_sub) / sum(n_sub)):
        n_clips = int(round(total * fr))
        if n_clips >= len(classes):  # every class in every split
            counts = np.maximum(1, np.round(weights * n_clips)).astype(int)
            pool = rng.permutation(np.repeat(classes, counts))
        else:  # tiny profiles: a weighted draw without repeats
            pool = rng.choice(classes, size=max(n_clips, n_s), replace=False, p=weights)
        out[name] = []
        for chunk in np.array_split(pool, n_s):
            out[name].append((f"{index + 1:04d}", subject, [int(c) for c in chunk]))
            subject += 1
            index += 1
    return out, classes


def _imigue_item(args) -> dict:
    seed, index, vid, subject, classes, table, prof, knobs, out = args
    rng = rng_for(seed, "imigue", index)
    subj = body.make_subject(subject, rng)
    fps = prof.fps
    rows, events, f = [], [], int(rng.uniform(0.5, 1.0) * fps)
    for c in classes:
        d = duration_frames(c, rng, knobs, prof)
        ev = make_event(table[c], f, f + d - 1, subj, rng, knobs)
        shift = np.array(gestures.imigue_pair_offset(c, knobs.pair_distance)) * subj.scale
        events.append(replace(ev, jitter=tuple((np.array(ev.jitter) + shift).tolist())) if shift.any() else ev)
        rows.append((c, f, f + d - 1))
        f += d + int(rng.uniform(0.4, 1.2) * fps)
    n = f
    J, props = body.animate(subj, n, fps, events, rng)
    cam = make_camera("imigue", rng, prof.size)
    skel = openpose35(J, cam, rng, knobs.pose_noise).astype(np.float64)
    # quantise to what the CSV stores (0.01 px, 0.001 confidence) so pickle and raw files agree exactly
    skel = np.concatenate([np.round(skel[..., :2], 2), np.round(skel[..., 2:], 3)], -1).astype(np.float32)
    video = imigue.IMiGUEVideo(vid, np.array(rows, np.int64).reshape(-1, 3), skel, np.arange(n))
    imigue.write_raw_video(Path(out) / "raw" / vid, video)
    anns = []
    for k, (c, s, e) in enumerate(rows):
        ann = imigue.clip_annotation(video, k)
        anns.append(ann)
        frames = render(J, props, subj, cam, np.arange(s, e + 1), rng_for(seed, "imigue", index, 1))
        write_video(imigue.clip_video_path(out, ann["frame_dir"]), frames, fps)
    return {"annotations": anns, "frames": sum(e - s + 1 for _, s, e in rows)}


def generate(prof: IMiGUEProfile, out: Path, seed: int, knobs: Knobs) -> dict:
    videos, classes = plan(prof, seed, knobs)
    check_knobs(knobs)
    table, cue_pairs = gestures.imigue_table(knobs.rgb_cue_share, classes)
    jobs, split = [], {}
    for name, vids in videos.items():
        split[name] = []
        for vid, subject, chunk in vids:
            jobs.append((seed, len(jobs), vid, subject, chunk, table, prof, knobs, out))
            split[name] += [f"{vid}_{k}" for k in range(len(chunk))]
    results = parallel_map(_imigue_item, jobs)
    anns = [a for r in results for a in r["annotations"]]
    imigue.save_pyskl(Path(out) / "imigue.pkl", anns, split)
    return {"subjects": {s: [subj for _, subj, _ in vids] for s, vids in videos.items()},
            "video_subject": {j[2]: j[3] for j in jobs}, "frames": sum(r["frames"] for r in results),
            "classes": classes, "rgb_cue_pairs": [list(p) for p in cue_pairs],
            "ambiguous_pairs": [list(p) for p in gestures.AMBIGUOUS_PAIRS["imigue"] if set(p) <= set(classes)],
            "keypoint_T": "variable: T = clip length (total_frames)"}
