"""Readers -> the study's clips: the PYSKL pickle ``<root>/imigue.pkl`` and one RGB clip per annotation
``<root>/rgb/<frame_dir>.mp4`` (the real iMiGUE layout, or the synthetic stand-in's).

Pipeline readings (architectures.md sections 3 and 8.2):
- one PoseCompact box (padding 0.25, square, may leave the image) per clip, computed over all its frames and
  shared by the pose volume and the RGB crop, so both streams see the same region at the lateral points
  (pyskl's MMCompact idea; pyskl's PoseCompact would use the sampled frames only);
- keypoints live in ``img_shape`` pixels; a video stored at another size shares the image's centre and is scaled
  by the width ratio (the synthetic 64x64 clips are the centre of a 1280x1280 view of which 1280x720 is the frame);
- train-time augmentation is the horizontal flip (p = ``flip_prob``), both modalities together with the left/right
  joint swap; no RandomResizedCrop;
- test: ``test_clips`` clips per sample (pyskl's fixed seed 255), their softmax averaged.
Every RGB clip is decoded once, cropped, resized and thinned to ``4 x rgb_frames`` evenly spaced frames, and kept
in an ``.npz`` under ``results/cache/classification/``; training draws its frames from those.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from mglib import paths
from mglib.errors import InputError
from mglib.pose import pose_compact, pose_volume, resize_keypoints, uniform_sample_frames
from mglib.pose.skeleton import pairs_to_permutation

RGB_MEAN = np.array([123.675, 116.28, 103.53], np.float32)  # ImageNet statistics in 0-255, as mmaction2
RGB_STD = np.array([58.395, 57.12, 57.375], np.float32)
DEFAULT_IMG_SHAPE = (720, 1280)
# Whole-clip pose volumes kept per process, so that every epoch, seed and method reading a clip draws its heatmaps
# once (they are a quarter of a pose model's CPU time). The cpu iMiGUE needs about 1 GiB; a dataset whose volumes
# would not fit draws each sample's frames as it is read instead.
VOLUME_CACHE_BYTES = 2 << 30
_VOLUMES: dict = {}  # content key -> (V, T, S, S) float32, oldest first
_volume_bytes = 0


def modalities(method: str) -> tuple[str, ...]:
    if method == "stgcn":
        return ("kp",)
    if method.startswith("poseconv3d"):
        return ("pose",)
    if method.startswith("rgbpose"):
        return ("rgb", "pose")
    return ("rgb",)


def layout(num_joints: int):
    """Joint names, graph edges and the left/right permutation of the iMiGUE 22-joint layout."""
    from mglib.data import imigue

    if num_joints != len(imigue.JOINT_NAMES_22):
        raise InputError(f"iMiGUE classification expects {len(imigue.JOINT_NAMES_22)} joints, got {num_joints}")
    return imigue.JOINT_NAMES_22, list(imigue.EDGES_22), pairs_to_permutation(num_joints, imigue.FLIP_PAIRS_22)


def load_splits(root, names) -> tuple[dict[str, list[dict]], int]:
    """{split: annotations} of ``<root>/imigue.pkl`` for the split ``names``, and the number of joints."""
    from mglib.data.imigue import load_pyskl

    pkl = Path(root) / "imigue.pkl"
    anns, split = load_pyskl(pkl)
    by_name = {a["frame_dir"]: a for a in anns}
    out = {}
    for name in names:
        if name not in split:
            raise InputError(f"{paths.relative(pkl)}, field 'split': no split {name!r} (have: {', '.join(split)})")
        out[name] = [by_name[i] for i in split[name]]
    return out, anns[0]["keypoint"].shape[2]


def clip_box(ann: dict):
    """PoseCompact box (x0, y0, x1, y1) over every frame of a clip (square, x1.25) in image pixels; None if tiny."""
    _, _, box = pose_compact(ann["keypoint"][..., :2], tuple(ann.get("img_shape", DEFAULT_IMG_SHAPE)), hw_ratio=1.0)
    return box


def video_box(box, img_shape, frame_shape):
    """An image-pixel box in the pixels of a video frame (H, W) sharing the image's centre, scaled by the width."""
    (ih, iw), (fh, fw) = img_shape, frame_shape
    k = fw / iw
    return (int(box[0] * k), int((box[1] - ih / 2) * k + fh / 2), int(box[2] * k), int((box[3] - ih / 2) * k + fh / 2))


def crop_resize(frames: np.ndarray, box, size: int) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, size, size, 3) uint8: crop to ``box`` (zero padding outside), then resize."""
    t, h, w, _ = frames.shape
    x0, y0, x1, y1 = box if box is not None else (0, 0, w, h)
    canvas = np.zeros((t, y1 - y0, x1 - x0, 3), np.uint8)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if sx1 > sx0 and sy1 > sy0:
        canvas[:, sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = frames[:, sy0:sy1, sx0:sx1]
    x = torch.from_numpy(canvas).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()


def rgb_cache(root, anns: list[dict], size: int, keep: int) -> dict[str, np.ndarray]:
    """Every clip cropped to its box, resized to ``size`` and thinned to ``keep`` evenly spaced frames (uint8
    (T', size, size, 3)), decoded once and cached as ``.npz``."""
    from mglib.data.imigue import clip_video_path
    from mglib.data.video import read_video

    root = Path(root)
    pkl = root / "imigue.pkl"
    stamp = f"{pkl.resolve()}|{pkl.stat().st_mtime_ns if pkl.exists() else 0}|{size}|{keep}|" + \
        ",".join(a["frame_dir"] for a in anns)
    path = paths.CACHE / "classification" / f"rgb_{hashlib.sha256(stamp.encode()).hexdigest()[:16]}.npz"
    if path.exists():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    out = {}
    for a in anns:
        vid = clip_video_path(root, a["frame_dir"])
        if not vid.exists():
            raise InputError(f"{paths.relative(vid)}: missing RGB clip for annotation {a['frame_dir']!r}")
        frames, _ = read_video(vid, select=lambda n: np.unique(np.linspace(0, n - 1, keep).round().astype(int)))
        box = clip_box(a)
        if box is not None:
            box = video_box(box, a.get("img_shape", DEFAULT_IMG_SHAPE), frames.shape[1:3])
        out[a["frame_dir"]] = crop_resize(frames, box, size)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **out)
    tmp.replace(path)
    return out


class IMiGUEClips(Dataset):
    """Items: ``{"label", "pose" (clips, V, T, S, S), "rgb" (clips, 3, T, S, S), "kp" (clips, M, T, V, 3)}``;
    only the inputs the method reads are built. ``cfg`` is a :class:`~.config.RunConfig`."""

    def __init__(self, anns, cfg, train: bool, rgb: dict | None, flip, seed: int = 0):
        self.anns, self.cfg, self.train, self.rgb, self.flip = anns, cfg, train, rgb, flip
        self.modes = modalities(cfg.method)
        self.rng = np.random.RandomState(seed)
        self.boxes = [clip_box(a) for a in anns]
        volume_bytes = sum(a["keypoint"].shape[1] * a["keypoint"].shape[2] for a in anns) * cfg.heatmap_size ** 2 * 4
        self.cache = volume_bytes <= VOLUME_CACHE_BYTES // 2

    def __len__(self):
        return len(self.anns)

    def _indices(self, total, clip_len):
        if self.train:
            return uniform_sample_frames(total, clip_len, 1, rng=self.rng)[None]
        return uniform_sample_frames(total, clip_len, self.cfg.test_clips, test_mode=True).reshape(-1, clip_len)

    def __getitem__(self, i):
        a, c = self.anns[i], self.cfg
        flip = self.train and self.rng.rand() < c.flip_prob
        item = {"label": torch.tensor(a["label"])}
        kp, score = a["keypoint"][..., :2], a.get("keypoint_score", np.ones(a["keypoint"].shape[:3], np.float32))
        if "pose" in self.modes:
            box = self.boxes[i]
            if box is not None:
                kp_c, shape = kp - np.array(box[:2], np.float32) * (kp != 0), (box[3] - box[1], box[2] - box[0])
            else:
                kp_c, shape = kp, tuple(a.get("img_shape", DEFAULT_IMG_SHAPE))
            s = c.heatmap_size
            kp_c = resize_keypoints(kp_c, shape, (s, s))
            whole = _clip_volume(kp_c, score, s, c.sigma) if self.cache else None
            vols = []
            for idx in self._indices(kp.shape[1], c.pose_frames):
                # a frame's heatmaps do not depend on the other frames drawn with it: the same values either way
                v = whole[:, idx] if whole is not None else pose_volume(kp_c[:, idx], score[:, idx], (s, s), c.sigma)
                if flip:  # mirror in pixel space and swap left/right channels
                    v = v[self.flip][..., ::-1]
                vols.append(np.ascontiguousarray(v))
            item["pose"] = torch.from_numpy(np.stack(vols))
        if "rgb" in self.modes:
            frames = self.rgb[a["frame_dir"]]
            clips = []
            for idx in self._indices(len(frames), c.rgb_frames):
                x = (frames[idx].astype(np.float32) - RGB_MEAN) / RGB_STD  # (T, S, S, 3)
                if flip:
                    x = x[:, :, ::-1]
                clips.append(np.ascontiguousarray(x.transpose(3, 0, 1, 2)))
            item["rgb"] = torch.from_numpy(np.stack(clips))
        if "kp" in self.modes:
            h, w = a.get("img_shape", DEFAULT_IMG_SHAPE)
            xy = kp / np.array([w, h], np.float32) * 2 - 1  # PreNormalize2D: pixels -> [-1, 1]
            x = np.concatenate([xy, score[..., None]], -1)[:1]  # one person
            item["kp"] = torch.from_numpy(np.stack([x[:, idx] for idx in self._indices(kp.shape[1], c.stgcn_frames)]))
        return item


def _clip_volume(kp, score, size: int, sigma: float) -> np.ndarray:
    """:func:`pose_volume` of every frame of a clip, (V, T, S, S), kept in ``_VOLUMES`` (keyed by content) until
    the cache holds more than ``VOLUME_CACHE_BYTES``, then evicted oldest first."""
    global _volume_bytes
    kp, score = np.ascontiguousarray(kp, np.float32), np.ascontiguousarray(score, np.float32)
    key = (kp.shape, hashlib.sha1(kp.tobytes() + score.tobytes()).hexdigest(), size, sigma)
    if key not in _VOLUMES:
        vol = _VOLUMES[key] = pose_volume(kp, score, (size, size), sigma)
        _volume_bytes += vol.nbytes
        while _volume_bytes > VOLUME_CACHE_BYTES and len(_VOLUMES) > 1:
            _volume_bytes -= _VOLUMES.pop(next(iter(_VOLUMES))).nbytes
    return _VOLUMES[key]


def sweep_root(profile: str, **knobs) -> Path:
    """The synthetic iMiGUE of a sweep ``profile`` (synth_imigue.py) generated with ``knobs``, once, under
    ``results/cache/classification/data/``; regenerated when the generator's code changes. In-process (one worker):
    a chapter starts no processes."""
    import json
    import os
    import shutil

    from mglib.data import _generator_digest, synthetic

    key = {"profile": profile, "knobs": knobs, "generator": _generator_digest("imigue")}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    out = paths.CACHE / "classification" / "data" / f"imigue_{profile}_{digest}"
    marker = out / ".complete"
    if marker.exists() and json.loads(marker.read_text()) == key:
        return out
    if out.exists():
        shutil.rmtree(out)
    before = os.environ.get("MGLIB_DATA_WORKERS")
    os.environ["MGLIB_DATA_WORKERS"] = "1"
    try:
        synthetic.generate("imigue", profile, out, seed=0, **knobs)
    finally:
        if before is None:
            del os.environ["MGLIB_DATA_WORKERS"]
        else:
            os.environ["MGLIB_DATA_WORKERS"] = before
    marker.write_text(json.dumps(key))
    return out


def designed_pairs(root) -> dict[str, list[tuple[int, int]]]:
    """The generator's designed pairs of a synthetic iMiGUE (its ``meta.json``): ``rgb_cue`` (twin, source) pairs
    in effect, ``candidates`` (every twin candidate present, whether a twin or not) and ``ambiguous`` pairs. A real
    dataset has no ``meta.json``: the pairs of the default design are returned."""
    import json

    from mglib.data import gestures

    meta = Path(root) / "meta.json"
    if meta.exists():
        m = json.loads(meta.read_text())
        classes = set(m["classes"])
        cue, amb = [tuple(p) for p in m["rgb_cue_pairs"]], [tuple(p) for p in m["ambiguous_pairs"]]
    else:
        classes = set(range(32))
        cue, amb = list(gestures.RGB_CUE_PAIRS["imigue"]), list(gestures.AMBIGUOUS_PAIRS["imigue"])
    candidates = [(t, s) for t, s, _ in gestures.IMIGUE_TWIN_CANDIDATES if t in classes and s in classes]
    return {"rgb_cue": cue, "candidates": candidates, "ambiguous": amb}
