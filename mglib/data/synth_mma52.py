"""Synthetic MMA-52: short seated videos with co-occurring micro-actions of different body parts, written as
`anns/{train,val,test}.csv` plus MP4s (chapter: notebooks/01_datasets)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mglib.data import body, gestures, mma52
from mglib.data.render import render
from mglib.data.synthetic import Knobs, class_weights, duration_frames, make_camera, make_event, parallel_map, rng_for
from mglib.data.video import write_video
from mglib.taxonomy import NUM_CLASSES


@dataclass(frozen=True)
class MMAProfile:
    videos: tuple = (120, 40, 40)  # train, val, test
    subjects: tuple = (16, 6, 6)
    seconds: tuple = (5.0, 15.0)
    instances: tuple = (2, 10)
    p_fps29: float = 0.17
    size: int = 64


PROFILES = {
    "smoke": MMAProfile(videos=(3, 2, 2), subjects=(2, 1, 1), seconds=(5.0, 6.0), instances=(2, 4)),
    "cpu": MMAProfile(),
    "gpu": MMAProfile(videos=(3000, 800, 500), subjects=(140, 37, 26), size=160),
}


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
        d = min(duration_frames(prim, subj, rng, knobs, fps), n - 2)
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
    rng = rng_for(seed, "mma52", index)
    subj = body.make_subject(subject, rng_for(seed, "mma52", 10**6, subject))  # same person in all their videos
    fps = 29 if rng.random() < prof.p_fps29 else 30
    n = int(rng.uniform(*prof.seconds) * fps)
    weights = class_weights(NUM_CLASSES["mma52"], knobs.imbalance, _MMA_HEAD, _MMA_TAIL)
    placed = _mma_instances(rng, n, fps, subj, knobs, prof, weights, list(forced))
    events = [make_event(gestures.MA52[c], s, e, subj, rng, knobs) for s, e, c, _ in placed]
    J, props = body.animate(subj, n, fps, events, rng)
    cam = make_camera("mma52", rng, prof.size)
    frames = render(J, props, subj, cam, np.arange(n), rng_for(seed, "mma52", index, 1),
                    limb_colours=knobs.limb_colours)
    write_video(mma52.video_path(out, split, vid), frames, fps)
    # end_frame is exclusive-style as in the release (end <= total_frames): last frame + 1
    inst = np.array([[s, e + 1, c] for s, e, c, _ in placed], np.float64).reshape(-1, 3)
    return {"video": mma52.MMAVideo(vid, split, float(fps), n, inst), "frames": n}


def generate(prof: MMAProfile, out: Path, seed: int, knobs: Knobs) -> dict:
    n_sub = list(prof.subjects)
    if knobs.num_subjects:
        n_sub[0] = knobs.num_subjects
    rng = rng_for(seed, "mma52", 10**7)
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
    results = parallel_map(_mma_item, jobs)
    for split in mma52.SPLITS:
        mma52.write_csv(Path(out) / "anns" / f"{split}.csv", [r["video"] for r in results if r["video"].split == split])
    return {"subjects": subjects, "video_subject": {j[3]: j[4] for j in jobs},
            "frames": sum(r["frames"] for r in results),
            "note": "test.csv holds the true synthetic instances (the real public test CSV holds placeholders)"}
