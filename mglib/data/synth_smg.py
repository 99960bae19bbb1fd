"""Synthetic SMG: long seated sequences of Kinect-25 skeletons and colour video, gestures separated by idle
time (chapter: notebooks/01_datasets)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mglib.data import body, gestures, smg
from mglib.data.render import render
from mglib.data.sensors import kinect25
from mglib.data.synthetic import Knobs, class_weights, duration_frames, make_camera, make_event, parallel_map, rng_for
from mglib.data.video import write_video
from mglib.taxonomy import SMG_NON_MG


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


PROFILES = {
    "smoke": SMGProfile((1, 2), (33,), (36,), seconds=(10.0, 14.0), gap_s=(0.5, 1.5)),
    "cpu": SMGProfile((2, 5, 9, 13, 17, 21, 25, 29), (32, 34), (36, 37, 38, 39), seconds=(60.0, 80.0)),
    "gpu": SMGProfile(tuple(range(1, 31)), tuple(range(31, 36)), tuple(range(36, 41)), seconds=(300.0, 600.0),
                      size=224),
}


def _smg_item(args) -> dict:
    seed, index, subject, prof, knobs, out = args
    rng = rng_for(seed, "smg", index)
    subj = body.make_subject(subject, rng)
    fps = prof.fps
    n = int(rng.uniform(*prof.seconds) * fps)
    weights = class_weights(SMG_NON_MG, knobs.imbalance, head=[], tail=[])
    events, f = [], int(rng.uniform(0.5, 2.0) * fps)
    while True:
        c = SMG_NON_MG if rng.random() < prof.p_illustrative else int(rng.choice(SMG_NON_MG, p=weights))
        prim = gestures.SMG[c]
        d = duration_frames(prim, subj, rng, knobs, fps)
        if f + d >= n - 1:
            break
        events.append((c, make_event(prim, f, f + d - 1, subj, rng, knobs)))
        f += d + int(rng.uniform(*prof.gap_s) * fps)
    J, props = body.animate(subj, n, fps, [e for _, e in events], rng)
    cam = make_camera("smg", rng, prof.size)
    skel = kinect25(J, cam, rng, knobs.pose_noise)
    # SMG label frames address skeleton rows 1-based: array frame i is file frame i + 1
    labels = np.array([[c, e.start + 1, e.end + 1] for c, e in events], np.int64).reshape(-1, 3)
    name = f"Sample{subject:04d}"
    folder = Path(out) / name
    seq = smg.SMGSequence(name, subject, n, float(fps), skel, labels, folder / f"{name}_color.mp4", max_depth=4500)
    smg.write_sequence(folder, seq)
    frames = render(J, props, subj, cam, np.arange(n), rng_for(seed, "smg", index, 1))
    write_video(folder / f"{name}_color.mp4", frames, fps)
    return {"name": name, "subject": subject, "frames": n}


def generate(prof: SMGProfile, out: Path, seed: int, knobs: Knobs) -> dict:
    train = prof.train_subjects
    if knobs.num_subjects:
        train = tuple(int(x) for x in np.linspace(1, 30, knobs.num_subjects).round())
    subjects = sorted(set(train) | set(prof.val_subjects) | set(prof.test_subjects))
    items = parallel_map(_smg_item, [(seed, i, s, prof, knobs, out) for i, s in enumerate(subjects)])
    return {"subjects": {"train": [s for s in subjects if s in train], "val": list(prof.val_subjects),
                         "test": list(prof.test_subjects)},
            "note": "val subjects lie in the official 1-35 training range (no official validation split)",
            "frames": sum(it["frames"] for it in items)}
