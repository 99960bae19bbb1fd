"""Synthetic SMG: long seated sequences of Kinect-25 skeletons and colour video, calibrated to the real annotations
(chapter: notebooks/01_datasets).

Calibration (``mglib.data.calibration.SMG``, the real training sequences):

- class shares: class c is drawn with weight share_c ** ``knobs.imbalance``; the default 1 gives the real shares
  (labels 5 and 9 hold 64 % of the gestures), 0 gives balanced classes;
- durations: class c lasts its real median duration times a log-normal factor (``DURATION_SIGMA``) times
  ``knobs.duration``, so the pooled distribution follows the real one (p10 20, median 44, p90 102 frames);
- density: the idle time before the next gesture is log-normal around the real median gap (31 frames, about one
  second) times ``knobs.gap``, with the real heavy tail (``GAP_SIGMA``: p10 about 1 frame, p90 about 20 s),
  capped at ``max_gap_s``. Gestures do not overlap (the real data has 40 overlapping pairs in 3,054).

``tests/test_synth_smg.py`` checks these statistics against ``calibration.py`` within stated tolerances.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mglib.data import body, calibration, gestures, smg
from mglib.data.render import render
from mglib.data.sensors import kinect25
from mglib.data.synthetic import Knobs, make_camera, make_event, parallel_map, rng_for
from mglib.data.video import write_video

NUM_CLASSES = len(gestures.SMG)
# per-class log-normal spread of the duration, and the spread of the gap; fitted so that the pooled p10 / p90 of
# the generated data match the real ones (tests/test_synth_smg.py)
DURATION_SIGMA = 0.6
GAP_SIGMA = 2.3


@dataclass(frozen=True)
class SMGProfile:
    train_subjects: tuple  # inside the official 1-35 training range
    val_subjects: tuple  # held-out training subjects (project choice, inside 31-35); split_of() says "train"
    test_subjects: tuple  # 36-40
    seconds: tuple = (60.0, 90.0)
    fps: int = 30
    size: int = 64
    max_gap_s: float = 30.0  # cap of the gap's heavy tail (the real p90 is 19 s)


PROFILES = {
    "smoke": SMGProfile((1, 2), (33,), (36,), seconds=(20.0, 24.0)),
    "cpu": SMGProfile(tuple(range(1, 31, 2)), (31, 33, 35), (36, 37, 38, 39, 40), seconds=(100.0, 130.0)),
    "gpu": SMGProfile(tuple(range(1, 31)), tuple(range(31, 36)), tuple(range(36, 41)), seconds=(300.0, 600.0),
                      size=224),
}


def class_weights(imbalance: float) -> np.ndarray:
    """(17,) probabilities of the 0-based classes: the real shares raised to ``imbalance``, normalised."""
    shares = calibration.class_shares(calibration.SMG)
    w = np.array([shares[c + 1] for c in range(NUM_CLASSES)]) ** imbalance
    return w / w.sum()


def median_duration_s(c: int) -> float:
    """The real median duration of 0-based class ``c``, in seconds."""
    return calibration.SMG["classes"][c + 1][1] / calibration.SMG["fps"]


def draw_duration(c: int, rng: np.random.Generator, knobs: Knobs, fps: float) -> int:
    """Frames of one gesture of class ``c`` (at least 6)."""
    s = median_duration_s(c) * np.exp(DURATION_SIGMA * rng.standard_normal()) * knobs.duration
    return max(int(round(s * fps)), 6)


def draw_gap(rng: np.random.Generator, knobs: Knobs, fps: float, max_gap_s: float) -> int:
    """Frames between the end of a gesture and the start of the next (at least 1)."""
    median_s = calibration.SMG["gap_frames"]["median"] / calibration.SMG["fps"]
    s = median_s * np.exp(GAP_SIGMA * rng.standard_normal()) * knobs.gap
    return int(np.clip(round(s * fps), 1, max_gap_s * fps))


def schedule(n: int, fps: float, rng: np.random.Generator, knobs: Knobs, max_gap_s: float) -> list[tuple]:
    """[(class, first frame, last frame)] of one sequence of ``n`` frames (0-based array frames)."""
    weights = class_weights(knobs.imbalance)
    out, f = [], int(rng.uniform(0.5, 2.0) * fps)
    while True:
        c = int(rng.choice(NUM_CLASSES, p=weights))
        d = draw_duration(c, rng, knobs, fps)
        if f + d >= n - 1:
            return out
        out.append((c, f, f + d - 1))
        f += d - 1 + draw_gap(rng, knobs, fps, max_gap_s)  # the gap counts from the last frame


def _smg_item(args) -> dict:
    seed, index, subject, prof, knobs, out, video = args
    rng = rng_for(seed, "smg", index)
    subj = body.make_subject(subject, rng)
    fps = prof.fps
    n = int(rng.uniform(*prof.seconds) * fps)
    events = [(c, make_event(gestures.SMG[c], a, b, subj, rng, knobs))
              for c, a, b in schedule(n, fps, rng, knobs, prof.max_gap_s)]
    J, props = body.animate(subj, n, fps, [e for _, e in events], rng)
    cam = make_camera("smg", rng, prof.size)
    skel = kinect25(J, cam, rng, knobs.pose_noise)
    # SMG label frames address skeleton rows 1-based: array frame i is file frame i + 1
    labels = np.array([[c, e.start + 1, e.end + 1] for c, e in events], np.int64).reshape(-1, 3)
    name = f"Sample{subject:04d}"
    folder = Path(out) / name
    seq = smg.SMGSequence(name, subject, n, float(fps), skel, labels, folder / f"{name}_color.mp4", max_depth=4500)
    smg.write_sequence(folder, seq)
    if video:
        frames = render(J, props, subj, cam, np.arange(n), rng_for(seed, "smg", index, 1))
        write_video(folder / f"{name}_color.mp4", frames, fps)
    return {"name": name, "subject": subject, "frames": n}


def generate(prof: SMGProfile, out: Path, seed: int, knobs: Knobs, video: bool = True) -> dict:
    """Write the sequences of ``prof``; ``video=False`` writes the skeleton and label files only (no rendering:
    several times faster, for studies that read only the skeletons)."""
    train = prof.train_subjects
    if knobs.num_subjects:
        train = tuple(int(x) for x in np.linspace(1, 30, knobs.num_subjects).round())
    subjects = sorted(set(train) | set(prof.val_subjects) | set(prof.test_subjects))
    items = parallel_map(_smg_item, [(seed, i, s, prof, knobs, out, video) for i, s in enumerate(subjects)])
    return {"subjects": {"train": [s for s in subjects if s in train], "val": list(prof.val_subjects),
                         "test": list(prof.test_subjects)},
            "note": "val subjects lie in the official 1-35 training range (no official validation split)",
            "frames": sum(it["frames"] for it in items), "video": video}
