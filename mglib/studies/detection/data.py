"""MMA-52 for the detection study: the data variant, the person box, one decoded window per video and the trimmed
instance clips, as Dataset classes.

Every video is decoded once; what the study needs of it is cached under ``results/cache/features/``: a window of
``window_frames`` frames spread uniformly over the whole video (ambiguity #8: MMA-52 videos are 5-15 s, so no video
is cut into several windows) followed by one clip of ``clip_frames`` frames spread over each annotated instance, all
cropped to the person box and resized to ``img_size``².
"""
from __future__ import annotations

import hashlib
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from mglib import paths
from mglib.errors import InputError
from mglib.studies.detection.config import DataConfig, resolve_path

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1, 1)  # VideoMAE / ImageNet normalisation
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1, 1)


# --- which data ---------------------------------------------------------------------------------------------------

def data_root(dc: DataConfig) -> Path:
    """The MMA-52 folder of ``dc``: a real one, or the synthetic one of its profile rendered with its knobs
    (generated here on first use, beside the default copy, when the knobs differ from the generator's defaults)."""
    if dc.root:
        return resolve_path(dc.root)
    from mglib.data import _generator_digest, synth_mma52, synthetic

    default = synthetic.DEFAULT_KNOBS["mma52"]
    knobs = dc.knobs()
    base = paths.synthetic_dir("mma52", dc.profile)
    if all(getattr(default, k) == v for k, v in knobs.items()):
        return base
    out = base.with_name(f"mma52_amp{dc.amplitude:g}" + ("_limbs" if dc.limb_colours else ""))
    marker = out / ".complete"
    key = {"dataset": "mma52", "profile": dc.profile, "seed": 0, "generator": _generator_digest("mma52"),
           "timelines": synth_mma52.timeline_source(), "knobs": knobs}
    if not (marker.exists() and json.loads(marker.read_text()) == key):
        if out.exists():
            shutil.rmtree(out)  # stale or half-written
        print(f"[mglib] generating synthetic mma52 ({dc.profile}, {knobs}) -> {paths.relative(out)}", file=sys.stderr)
        synthetic.generate("mma52", dc.profile, out, seed=0, **knobs)
        marker.write_text(json.dumps(key))
    return out


def dataset_id(root: Path) -> str:
    """Names the data a cache entry was made from: the annotations and, for synthetic data, the generator key."""
    h = hashlib.sha256()
    for f in sorted((root / "anns").glob("*.csv")) + [root / ".complete"]:
        if f.exists():
            h.update(f.name.encode() + f.read_bytes())
    return f"mma52:{paths.relative(root)}:{h.hexdigest()[:16]}"


# --- the person box -----------------------------------------------------------------------------------------------

def person_box(frames: np.ndarray, samples: int = 8, ring: int = 3, threshold: float = 12.0, share: float = 0.25,
               quantile: float = 0.02) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the person in ``frames`` (T, H, W, 3) uint8, one box for the whole video.

    A stand-in for the person detector of real MMA-52 pipelines, working on pixels only: the background is a
    Gaussian over the colours of a ``ring`` of border pixels (the seated person never reaches the frame's border);
    a pixel is foreground where its Mahalanobis distance to it exceeds ``threshold`` in at least ``share`` of
    ``samples`` frames spread over the video; the box spans the ``quantile``..1 − ``quantile`` range of the
    foreground pixels. With (almost) no foreground the whole frame is returned.
    """
    T, H, W, _ = frames.shape
    f = frames[np.linspace(0, T - 1, min(samples, T)).round().astype(int)].astype(np.float64)
    border = np.concatenate([f[:, :ring].reshape(-1, 3), f[:, -ring:].reshape(-1, 3),
                             f[:, :, :ring].reshape(-1, 3), f[:, :, -ring:].reshape(-1, 3)])
    inv = np.linalg.inv(np.cov(border.T) + 4.0 * np.eye(3))  # + sensor noise, so a flat border stays invertible
    d = f - border.mean(0)
    fg = (np.einsum("...i,ij,...j->...", d, inv, d) > threshold).mean(0) >= share
    ys, xs = np.nonzero(fg)
    if len(ys) < 10:
        return 0, 0, W, H
    x0, x1 = np.quantile(xs, [quantile, 1 - quantile])
    y0, y1 = np.quantile(ys, [quantile, 1 - quantile])
    return int(np.floor(x0)), int(np.floor(y0)), int(np.ceil(x1)) + 1, int(np.ceil(y1)) + 1


def crop_resize(frames: np.ndarray, box, size: int, margin: float = 0.15) -> np.ndarray:
    """The box enlarged by ``margin`` on each side (clipped to the frame), resized to size × size: (T, size, size, 3)
    uint8. The aspect ratio is not kept, so the tall seated body fills the square input."""
    H, W = frames.shape[1:3]
    x0, y0, x1, y1 = box
    mx, my = margin * (x1 - x0), margin * (y1 - y0)
    x0, x1 = max(0, int(np.floor(x0 - mx))), min(W, int(np.ceil(x1 + mx)))
    y0, y1 = max(0, int(np.floor(y0 - my))), min(H, int(np.ceil(y1 + my)))
    x = torch.from_numpy(np.ascontiguousarray(frames[:, y0:y1, x0:x1])).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def spread(start: float, end: float, count: int, limit: int) -> np.ndarray:
    """``count`` frame indices spread uniformly over [start, end) (frame units), clipped to 0..limit − 1."""
    idx = np.floor(start + (np.arange(count) + 0.5) * (end - start) / count).astype(np.int64)
    return np.clip(idx, 0, limit - 1)


# --- videos -------------------------------------------------------------------------------------------------------

@dataclass
class Video:
    video_id: str
    split: str
    duration: float  # seconds
    fps: float
    instances: np.ndarray  # (N, 3) [start_s, end_s, class]
    frames: np.ndarray  # (window, S, S, 3) uint8
    clips: np.ndarray  # (N, clip_frames, S, S, 3) uint8: one trimmed clip per instance


def load_split(dc: DataConfig, split: str, size: int, clip_frames: int) -> list[Video]:
    """Videos of one split with their window and instance clips (decoded once, then read from the cache)."""
    from mglib.data import mma52
    from mglib.data.video import read_video
    from mglib.train.features import cached_features

    root = data_root(dc)
    splits = mma52.read_root(root)
    if split not in splits:
        raise InputError(f"{root / 'anns' / (split + '.csv')}: missing; the detection study needs it")
    limit = dc.max_train_videos if split == "train" else dc.max_val_videos
    videos = splits[split][:limit] if limit else splits[split]
    by_item = {f"{split}/{v.video_id}": v for v in videos}

    def extract(item):
        v = by_item[item]
        frames, _ = read_video(mma52.video_path(root, split, v.video_id))
        n = len(frames)
        idx = [spread(0, n, dc.window_frames, n)] + [spread(s, e, clip_frames, n) for s, e, _ in v.instances]
        box = person_box(frames) if dc.person_crop else (0, 0, frames.shape[2], frames.shape[1])
        return crop_resize(frames[np.concatenate(idx)], box, size)

    params = {"kind": "frames", "window": dc.window_frames, "clip": clip_frames, "size": size, "crop": dc.person_crop}
    arrays = cached_features(None, dataset_id(root), params, list(by_item), extract)
    out = []
    for item, v in by_item.items():
        a = arrays[item]
        inst = np.asarray(v.instances, dtype=np.float64).reshape(-1, 3).copy()
        inst[:, :2] /= v.fps
        clips = a[dc.window_frames:].reshape(len(inst), clip_frames, *a.shape[1:])
        out.append(Video(v.video_id, split, v.total_frames / v.fps, v.fps, inst, a[:dc.window_frames], clips))
    return out


def instance_clips(videos: list[Video]) -> tuple[np.ndarray, np.ndarray]:
    """All trimmed instance clips of ``videos`` and their action labels: (clips, labels)."""
    clips = [v.clips for v in videos if len(v.clips)]
    labels = [v.instances[:, 2].astype(np.int64) for v in videos]
    return np.concatenate(clips), np.concatenate(labels)


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """(T, S, S, 3) uint8 → (3, T, S, S) float, normalised."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2).float() / 255.0
    return (x - MEAN) / STD


class ClipData(Dataset):
    """Trimmed clips with one label each: items (3, T, S, S) float, int."""

    def __init__(self, clips: np.ndarray, labels: np.ndarray):
        self.clips, self.labels = clips, labels

    def __len__(self):
        return len(self.clips)

    def __getitem__(self, i):
        return to_tensor(self.clips[i]), int(self.labels[i])


# --- detection items ----------------------------------------------------------------------------------------------
# ActionFormer's convention: feature step j ↔ (j + 0.5)·duration / L seconds, L = window_frames / tubelet

def seconds_to_grid(seg: np.ndarray, duration: float, length: int) -> np.ndarray:
    return seg * length / duration - 0.5


def grid_to_seconds(seg: np.ndarray, duration: float, length: int) -> np.ndarray:
    return np.clip((seg + 0.5) * duration / length, 0.0, duration)


class DetectionData(Dataset):
    """Items: {"x": frames (3, T, S, S) or features (C, L), "segments": (N, 2) grid units, "labels": (N,)}."""

    def __init__(self, videos: list[Video], length: int, features: dict[str, np.ndarray] | None = None):
        self.videos, self.length, self.features = videos, length, features

    def __len__(self):
        return len(self.videos)

    def __getitem__(self, i):
        v = self.videos[i]
        x = (torch.from_numpy(self.features[v.video_id]).float() if self.features is not None
             else to_tensor(v.frames))
        seg = seconds_to_grid(v.instances[:, :2], v.duration, self.length)
        return {"x": x, "segments": torch.from_numpy(seg).float(), "labels": torch.from_numpy(v.instances[:, 2]).long(),
                "index": i}


def collate(items):
    return {"x": torch.stack([it["x"] for it in items]), "segments": [it["segments"] for it in items],
            "labels": [it["labels"] for it in items], "index": torch.tensor([it["index"] for it in items])}


def ground_truth(videos: list[Video]) -> dict:
    db = {v.video_id: {"subset": v.split, "duration": v.duration,
                       "annotations": [{"segment": [float(s), float(e)], "label": int(c)} for s, e, c in v.instances]}
          for v in videos}
    return {"database": db}


def prior_baseline(train: list[Video], videos: list[Video], max_per_class: int = 20) -> dict:
    """The trivial detector: for each class, windows of the class's median training length (stride half of it) in
    every video, scored by the class's training frequency. It never looks at a frame."""
    inst = np.concatenate([v.instances for v in train])
    freq = np.bincount(inst[:, 2].astype(int), minlength=52) / len(inst)
    results = {}
    for v in videos:
        rows = []
        for c in np.nonzero(freq)[0]:
            L = float(np.median(np.diff(inst[inst[:, 2] == c][:, :2], axis=1)))
            L = min(max(L, 1e-3), v.duration)
            starts = np.arange(0.0, max(v.duration - L, 0.0) + 1e-9, L / 2)[:max_per_class]
            rows += [{"segment": [round(float(s), 4), round(float(s + L), 4)], "label": int(c),
                      "score": float(freq[c])} for s in starts]
        results[v.video_id] = rows
    return {"results": results}
