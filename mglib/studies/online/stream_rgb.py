"""The RGB stream: decoded frames through an I3D-structured encoder (``mglib.models.video_encoder``).

Taught in the book chapter ``04_video_encoder``. On gpu it is the paper's stream: full-width I3D with local
Kinetics-400 weights, centre crops, pixels in [-1, 1], run frozen over every sequence. No weights can be downloaded
here, so on CPU a 1/8-width encoder is pretrained from scratch on gesture and background clips of the training
subjects, on the difference to the sequence's median frame ("rest" input) inside the sequence's motion box. Both
of these CPU steps use the **whole** sequence: this comparison row is not causal (the skeleton stream is).

Deviation from the paper (stated in the book): the paper trains I3D end to end with the detector; here the encoder
is frozen and its features are cached, which is what makes the CPU budget possible.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from mglib.errors import InputError
from mglib.models.video_encoder import (VideoEncoder, VideoEncoderConfig, extract_snippet_features, frames_to_input,
                                        load_i3d_weights, rest_frame)
from mglib.studies.online.config import RGBStreamConfig
from mglib.studies.online.data import gesture_spans


def resize_frames(frames: np.ndarray, size: int, chunk: int = 256) -> np.ndarray:
    """(T, H, W, 3) uint8 → (T, size, size, 3) uint8: centre square crop, then bilinear resize (antialiased)."""
    T, H, W, _ = frames.shape
    s = min(H, W)
    y0, x0 = (H - s) // 2, (W - s) // 2
    return crop_resize(frames, (y0, y0 + s, x0, x0 + s), size, chunk)


def motion_box(frames: np.ndarray, frac: float = 0.3, pad: int = 3) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) of the pixels whose mean absolute difference from the sequence's median frame exceeds
    ``frac`` of the largest such difference, padded by ``pad`` pixels: where the body moves. The 64-pixel cpu
    renders leave the seated body a narrow column; cropping to it gives the gesturing limbs more pixels."""
    g = frames.astype(np.float32).mean(-1)  # (T, H, W)
    energy = np.abs(g - np.median(g, 0)).mean(0)  # (H, W)
    ys, xs = np.nonzero(energy > frac * energy.max()) if energy.max() > 0 else ([], [])
    H, W = energy.shape
    if len(ys) == 0:  # a still sequence: keep the whole frame
        return 0, H, 0, W
    return max(ys.min() - pad, 0), min(ys.max() + 1 + pad, H), max(xs.min() - pad, 0), min(xs.max() + 1 + pad, W)


def crop_resize(frames: np.ndarray, box: tuple[int, int, int, int], size: int, chunk: int = 256) -> np.ndarray:
    """(T, H, W, 3) uint8 → (T, size, size, 3) uint8: the ``box`` (y0, y1, x0, x1) stretched to the square."""
    y0, y1, x0, x1 = box
    out = np.empty((len(frames), size, size, 3), dtype=np.uint8)
    for a in range(0, len(frames), chunk):
        x = torch.from_numpy(np.ascontiguousarray(frames[a:a + chunk, y0:y1, x0:x1])).permute(0, 3, 1, 2)
        if (y1 - y0, x1 - x0) != (size, size):
            x = F.interpolate(x.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
            x = x.round().clamp(0, 255).byte()
        out[a:a + chunk] = x.permute(0, 2, 3, 1).numpy()
    return out


# The stream's pretraining and its evaluation decode the same videos; small decodes are kept for the process.
_DECODED: dict[tuple, np.ndarray] = {}
_DECODED_BYTES = 1 << 30


def decode(video: Path, decode_fps: float, size: int, crop: bool = False) -> np.ndarray:
    """Frames of a video at ``decode_fps``, cropped (centre square, or with ``crop`` the :func:`motion_box`) and
    resized: (T, size, size, 3) uint8. Callers must not write into the array: it may be shared."""
    from mglib.data.video import read_video

    video = Path(video)
    if not video.is_file():
        raise InputError(f"{video}: video file not found (the RGB stream needs the colour video)")
    st = video.stat()
    key = (str(video.resolve()), st.st_mtime_ns, st.st_size, decode_fps, size, crop)
    if key in _DECODED:
        return _DECODED[key]
    frames, _ = read_video(video, fps=decode_fps)
    out = crop_resize(frames, motion_box(frames), size) if crop else resize_frames(frames, size)
    if sum(a.nbytes for a in _DECODED.values()) + out.nbytes <= _DECODED_BYTES:
        _DECODED[key] = out
    return out


def background_centres(spans: np.ndarray, num_frames: int, clip_len: int, label: int, every: int = 24) -> np.ndarray:
    """Centres of background clips: every ``every`` decoded frames where a whole clip (plus 4 frames each side)
    stays clear of every gesture → (M, 3) [label, centre, centre]."""
    free = np.ones(num_frames, bool)
    for _, a, b in spans:
        free[max(0, int(a) - 4):int(np.ceil(b)) + 5] = False
    half = clip_len // 2
    mids = [c for c in range(half, num_frames - half, every) if free[c - half:c + half].all()]
    return np.asarray([[label, c, c] for c in mids], dtype=np.float64).reshape(-1, 3)


def clip_at(frames: np.ndarray, mid: float, clip_len: int) -> np.ndarray:
    """``clip_len`` frames centred on decoded frame ``mid`` (clamped at the sequence ends)."""
    idx = np.clip(int(np.round(mid - clip_len / 2)) + np.arange(clip_len), 0, len(frames) - 1)
    return frames[idx]


class ClipSet(Dataset):
    """Clips cut on the fly from whole decoded sequences. Training: each gesture ``repeats`` times per epoch, centred
    at a random instant inside it, background clips jittered by ±4 frames, random horizontal flip. Evaluation:
    clips centred on the gesture."""

    def __init__(self, frames: list, rests: list, spans: list, clip_len: int, train: bool, repeats: int = 1):
        self.frames, self.rests, self.clip_len, self.train = frames, rests, clip_len, train
        self.items = [(i, *row) for i, sp in enumerate(spans) for row in sp] * (repeats if train else 1)
        self.labels = np.asarray([int(it[1]) for it in self.items], dtype=np.int64)

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        k, lab, a, b = self.items[i]
        mid = (a + b) / 2
        if self.train:
            mid = float(np.random.uniform(a, b)) if b > a else mid + float(np.random.uniform(-4, 4))
        x = frames_to_input(clip_at(self.frames[k], mid, self.clip_len), self.rests[k])[0]  # (3, L, S, S)
        if self.train and torch.rand(()) < 0.5:
            x = x.flip(-1)
        return x, int(lab)


def clip_set(cfg: RGBStreamConfig, seqs, train: bool) -> ClipSet:
    """The clips of SMG sequences ``seqs``: gestures, plus background clips when ``cfg.background``."""
    frames, rests, spans = [], [], []
    for seq in seqs:
        f = decode(seq.video, cfg.decode_fps, cfg.frame_size, cfg.crop)
        sp = gesture_spans(seq.labels, seq.fps, cfg.decode_fps)
        if cfg.background:
            sp = np.concatenate([sp, background_centres(sp, len(f), cfg.clip_len, cfg.num_classes)])
        frames.append(f)
        rests.append(rest_frame(f) if cfg.input == "rest" else None)
        spans.append(sp)
    return ClipSet(frames, rests, spans, cfg.clip_len, train, cfg.repeats)


def build_encoder(cfg: RGBStreamConfig) -> VideoEncoder:
    return VideoEncoder(VideoEncoderConfig(width=cfg.width, num_classes=cfg.num_classes + cfg.background,
                                           dropout=cfg.dropout))


def load_encoder(cfg: RGBStreamConfig, ckpt: Path) -> VideoEncoder:
    """The frozen encoder from a pretraining checkpoint (``.safetensors``) or a local InceptionI3d file."""
    model = build_encoder(cfg)
    if Path(ckpt).suffix == ".safetensors":
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(ckpt)))
    else:
        load_i3d_weights(model, ckpt)
    return model.eval()


def token_features(model: VideoEncoder, cfg: RGBStreamConfig, video: Path, decode_fps: float) -> np.ndarray:
    """(ceil(T / 4), C) snippet features of one video by the frozen encoder."""
    frames = decode(video, decode_fps, cfg.frame_size, cfg.crop)
    return extract_snippet_features(model, frames, rest=rest_frame(frames) if cfg.input == "rest" else None)
