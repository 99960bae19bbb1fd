"""Synthetic MMA-52: short seated videos with co-occurring micro-actions, written as `anns/{train,val,test}.csv`
plus MP4s (chapter: notebooks/01_datasets).

Two sources of label timelines:

- **replay** (when the verified real annotations are present, see :func:`real_root`): each synthetic video takes a
  real video's timeline (classes, start and end frames, total frames, fps), and its annotation rows are that video's
  real CSV rows, byte for byte (``id`` and ``video_id`` included, so provenance can be traced). Train samples real
  train videos, val real val videos, and test the real val videos left over (the real test labels are hidden). The
  timeline knobs (``duration``, ``cooccurrence``, ``imbalance``) do not apply; the others do.
- **parametric** (otherwise): timelines drawn from a long-tailed class prior, with at most one action per body part
  at a time.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mglib.data import body, fetch, gestures, mma52
from mglib.data.render import render
from mglib.data.synthetic import (DEFAULT_KNOBS, Knobs, class_weights, duration_frames, make_camera, make_event,
                                  parallel_map, rng_for)
from mglib.data.video import write_video
from mglib.errors import InputError
from mglib.taxonomy import NUM_CLASSES


@dataclass(frozen=True)
class MMAProfile:
    videos: tuple = (120, 40, 40)  # train, val, test
    subjects: tuple = (16, 6, 6)
    seconds: tuple = (5.0, 15.0)
    instances: tuple = (2, 10)
    p_fps29: float = 0.17
    size: int = 64


# None: the folder `python -m mglib data fetch mma52-annotations` writes (data/real/mma52); tests point it elsewhere.
REAL_ROOT: Path | None = None
REAL_SET = "mma52-annotations"


def real_root() -> Path | None:
    """The folder of the real annotations if all its files are present and match their registered sha256."""
    return fetch.verified_dir(REAL_SET, REAL_ROOT)


def timeline_source() -> str:
    """``"real"`` plus the sha256 of the replayed files, or ``"parametric"`` (part of the data's cache key)."""
    if real_root() is None:
        return "parametric"
    return "real:" + ",".join(rf.sha256[:16] for rf in fetch.get(REAL_SET).files if rf.path != "anns/test.csv")


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


def _film(rng, seed, index, split, vid, subj, n, fps, timeline, prof, knobs, out) -> None:
    """Animate and render one video acting out ``timeline`` [(first frame, last frame, class)]."""
    events = [make_event(gestures.MA52[c], s, e, subj, rng, knobs) for s, e, c in timeline]
    J, props = body.animate(subj, n, fps, events, rng)
    cam = make_camera("mma52", rng, prof.size)
    frames = render(J, props, subj, cam, np.arange(n), rng_for(seed, "mma52", index, 1),
                    limb_colours=knobs.limb_colours)
    write_video(mma52.video_path(out, split, vid), frames, fps)


def _mma_item(args) -> dict:
    seed, index, split, vid, subject, forced, prof, knobs, out = args
    rng = rng_for(seed, "mma52", index)
    subj = body.make_subject(subject, rng_for(seed, "mma52", 10**6, subject))  # same person in all their videos
    fps = 29 if rng.random() < prof.p_fps29 else 30
    n = int(rng.uniform(*prof.seconds) * fps)
    weights = class_weights(NUM_CLASSES["mma52"], knobs.imbalance, _MMA_HEAD, _MMA_TAIL)
    placed = _mma_instances(rng, n, fps, subj, knobs, prof, weights, list(forced))
    _film(rng, seed, index, split, vid, subj, n, fps, [(s, e, c) for s, e, c, _ in placed], prof, knobs, out)
    # end_frame is exclusive-style as in the release (end <= total_frames): last frame + 1
    inst = np.array([[s, e + 1, c] for s, e, c, _ in placed], np.float64).reshape(-1, 3)
    return {"video": mma52.MMAVideo(vid, split, float(fps), n, inst), "frames": n}


def _replay_item(args) -> dict:
    seed, index, split, video, subject, prof, knobs, out = args
    rng = rng_for(seed, "mma52", index)
    subj = body.make_subject(subject, rng_for(seed, "mma52", 10**6, subject))
    # the release's end_frame is exclusive-style (end <= total_frames): the last frame is end - 1
    timeline = [(int(s), max(int(s), int(e) - 1), int(c)) for s, e, c in video.instances]
    _film(rng, seed, index, split, video.video_id, subj, video.total_frames, int(video.fps), timeline, prof, knobs,
          out)
    return {"frames": video.total_frames}


def _subjects(prof: MMAProfile, knobs: Knobs) -> dict[str, list[int]]:
    """Disjoint synthetic subject ids per split (subject-independent splits, as in the real data)."""
    n_sub = list(prof.subjects)
    if knobs.num_subjects:
        n_sub[0] = knobs.num_subjects
    subjects, first = {}, 1
    for split, n_s in zip(mma52.SPLITS, n_sub):
        subjects[split] = list(range(first, first + n_s))
        first += n_s
    return subjects


def real_rows(root) -> dict[str, tuple[list[mma52.MMAVideo], dict[str, list[str]]]]:
    """``{split: (videos, {video_id: its CSV lines, verbatim})}`` of the real train and val annotations."""
    out = {}
    for split in ("train", "val"):
        path = Path(root) / "anns" / f"{split}.csv"
        videos = mma52.read_csv(path, split)
        lines: dict[str, list[str]] = {}
        for line in path.read_text().splitlines()[1:]:
            if line.strip():
                lines.setdefault(line.split(",", 2)[1], []).append(line)
        out[split] = (videos, lines)
    return out


def replay_sample(real: dict, prof: MMAProfile, seed: int) -> dict[str, list[mma52.MMAVideo]]:
    """The real videos each synthetic split replays, in real-file order: train from real train, val from real val,
    test from the real val videos not drawn for val. The same seed gives the same sample."""
    n_train, n_val, n_test = prof.videos
    train, val = real["train"][0], real["val"][0]
    if n_train > len(train) or n_val + n_test > len(val):
        raise InputError(f"MMA-52 replay: the profile asks for {n_train} train and {n_val} + {n_test} val/test videos; "
                         f"the real annotations hold {len(train)} train and {len(val)} val videos")
    rng = rng_for(seed, "mma52", 10**8)
    pick_train = np.sort(rng.choice(len(train), n_train, replace=False))
    pick_val = rng.permutation(len(val))[:n_val + n_test]
    return {"train": [train[i] for i in pick_train], "val": [val[i] for i in np.sort(pick_val[:n_val])],
            "test": [val[i] for i in np.sort(pick_val[n_val:])]}


def _replay(root: Path, prof: MMAProfile, out: Path, seed: int, knobs: Knobs) -> dict:
    real = real_rows(root)
    sample = replay_sample(real, prof, seed)
    subjects = _subjects(prof, knobs)
    jobs, video_subject = [], {}
    for split, videos in sample.items():
        for i, v in enumerate(videos):
            video_subject[v.video_id] = subjects[split][i % len(subjects[split])]
            jobs.append((seed, len(jobs), split, v, video_subject[v.video_id], prof, knobs, out))
    results = parallel_map(_replay_item, jobs)
    lines = {**real["train"][1], **real["val"][1]}  # video ids are unique across the real splits
    for split, videos in sample.items():
        rows = [line for v in videos for line in lines[v.video_id]]
        path = Path(out) / "anns" / f"{split}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join([",".join(mma52.HEADER), *rows]) + "\n")
    return {"subjects": subjects, "video_subject": video_subject, "frames": sum(r["frames"] for r in results),
            "timelines": "real", "source_split": {"train": "train", "val": "val", "test": "val"},
            "note": "each video replays the real video of the same video_id; its rows are that video's real rows "
                    "verbatim (test replays real val videos, so its fps is written 30.0 as in val.csv)"}


TIMELINE_KNOBS = ("duration", "cooccurrence", "imbalance")  # shape parametric timelines only


def generate(prof: MMAProfile, out: Path, seed: int, knobs: Knobs) -> dict:
    root = real_root()
    if root is None:
        return _parametric(prof, out, seed, knobs)
    changed = [k for k in TIMELINE_KNOBS if getattr(knobs, k) != getattr(DEFAULT_KNOBS["mma52"], k)]
    if changed:
        raise InputError(f"synthetic MMA-52: knob(s) {', '.join(changed)} shape parametric timelines, but the real "
                         f"annotations in {root} are replayed; leave them at their defaults")
    return _replay(root, prof, out, seed, knobs)


def _parametric(prof: MMAProfile, out: Path, seed: int, knobs: Knobs) -> dict:
    rng = rng_for(seed, "mma52", 10**7)
    subjects = _subjects(prof, knobs)
    jobs = []
    for split, n_vid in zip(mma52.SPLITS, prof.videos):
        # training covers every class at least once: the first 52 videos each start with one missing class
        forced = rng.permutation(NUM_CLASSES["mma52"]).tolist() if split == "train" else []
        for i in range(n_vid):
            jobs.append((seed, len(jobs), split, f"{split}{i:04d}", subjects[split][i % len(subjects[split])],
                         forced[i:i + 1], prof, knobs, out))
    results = parallel_map(_mma_item, jobs)
    for split in mma52.SPLITS:
        mma52.write_csv(Path(out) / "anns" / f"{split}.csv", [r["video"] for r in results if r["video"].split == split])
    return {"subjects": subjects, "video_subject": {j[3]: j[4] for j in jobs},
            "frames": sum(r["frames"] for r in results), "timelines": "parametric",
            "note": "test.csv holds the true synthetic instances (the real public test CSV holds placeholders)"}
