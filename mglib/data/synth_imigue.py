"""Synthetic iMiGUE: one raw press-conference video per subject (OpenPose-35 CSVs) cut into trimmed clips, with the
PYSKL pickle and per-clip MP4s (chapter: notebooks/01_datasets)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mglib.data import body, gestures, imigue
from mglib.data.render import render
from mglib.data.sensors import openpose35
from mglib.data.synthetic import Knobs, class_weights, make_camera, make_event, parallel_map, rng_for
from mglib.data.video import write_video
from mglib.taxonomy import NUM_CLASSES


@dataclass(frozen=True)
class IMiGUEProfile:
    subjects: tuple = (12, 4, 4)  # train, val, test subjects (one raw video each)
    clips_per_class: int = 24
    frames: tuple = (32, 64)  # clip length range at 25 fps
    fps: int = 25
    size: int = 64


PROFILES = {
    "smoke": IMiGUEProfile(subjects=(2, 1, 1), clips_per_class=2, frames=(16, 24)),
    "cpu": IMiGUEProfile(),
    "gpu": IMiGUEProfile(subjects=(37, 10, 25), clips_per_class=200, frames=(32, 120), size=224),
}


def _imigue_item(args) -> dict:
    seed, index, vid, subject, classes, prof, knobs, out = args
    rng = rng_for(seed, "imigue", index)
    subj = body.make_subject(subject, rng)
    fps = prof.fps
    rows, events, f = [], [], int(rng.uniform(0.5, 1.0) * fps)
    for c in classes:
        d = max(int(rng.integers(prof.frames[0], prof.frames[1] + 1) * knobs.duration), 8)
        events.append(make_event(gestures.IMIGUE[c], f, f + d - 1, subj, rng, knobs))
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
    n_sub = list(prof.subjects)
    if knobs.num_subjects:
        n_sub[0] = knobs.num_subjects
    rng = rng_for(seed, "imigue", 10**6)
    ncls = NUM_CLASSES["imigue"]
    weights = class_weights(ncls, knobs.imbalance, head=[31], tail=[])
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
    results = parallel_map(_imigue_item, jobs)
    anns = [a for r in results for a in r["annotations"]]
    imigue.save_pyskl(Path(out) / "imigue.pkl", anns, split)
    return {"subjects": {s: list(range(a, a + k)) for s, a, k in
                         zip(("train", "val", "test"), np.cumsum([1] + n_sub[:-1]).tolist(), n_sub)},
            "video_subject": {j[2]: j[3] for j in jobs}, "frames": sum(r["frames"] for r in results),
            "keypoint_T": "variable: T = clip length (total_frames)"}
