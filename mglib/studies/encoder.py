"""The shared video encoder, pretrained on trimmed clips and run frozen to cache snippet features.

Taught in the book chapter ``04_video_encoder``. No pretrained weights can be downloaded here, so on CPU the
I3D-structured encoder (``mglib.models.video_encoder``, tiny width) is pretrained on clips cut around the ground-truth
gestures of the synthetic SMG *training* subjects (validation and test subjects never contribute a clip), then run
frozen once over every sequence; the snippet features (temporal stride 4) go through the training engine's feature
cache (``mglib.train.features.cached_features``). With ``weights`` set (gpu profile), a real InceptionI3d state dict
is loaded from a local file first (fine-tuned when ``optim.epochs > 0``, used as is otherwise).

Deviation from the seed paper (stated in the book): the paper trains I3D end to end with the detector; here the
encoder is frozen and its features are cached, which is what makes the CPU budget possible.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from mglib import paths
from mglib.errors import InputError
from mglib.models.video_encoder import (VideoEncoder, VideoEncoderConfig, extract_snippet_features,
                                        frames_to_input, load_i3d_weights)
from mglib.train.config import OptimConfig
from mglib.train.task import Task


@dataclass
class EncoderConfig:
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(
        epochs=6, batch_size=16, lr=3e-3, weight_decay=1e-4, schedule="cosine", grad_clip=1.0))
    data_root: str = ""  # SMG root; "" = the synthetic data of ``profile``
    profile: str = "cpu"
    width: float = 0.125  # 1.0 = I3D
    frame_size: int = 64  # square crop side (PointTAD: 192)
    clip_len: int = 16  # frames per pretraining clip, at decode_fps
    decode_fps: float = 10.0
    num_val: int = 1  # highest-numbered training subjects held out (clip accuracy)
    weights: str = ""  # local InceptionI3d state dict (width 1.0), e.g. rgb_imagenet.pt
    num_classes: int = 17


def smg_root(data_root: str, profile: str) -> Path:
    return Path(data_root) if data_root else paths.synthetic_dir("smg", profile)


def resize_frames(frames: np.ndarray, size: int, chunk: int = 256) -> np.ndarray:
    """(T, H, W, 3) uint8 → (T, size, size, 3) uint8: centre square crop, then bilinear resize (antialiased)."""
    T, H, W, _ = frames.shape
    s = min(H, W)
    y0, x0 = (H - s) // 2, (W - s) // 2
    out = np.empty((T, size, size, 3), dtype=np.uint8)
    for a in range(0, T, chunk):
        x = torch.from_numpy(np.ascontiguousarray(frames[a:a + chunk, y0:y0 + s, x0:x0 + s])).permute(0, 3, 1, 2)
        if s != size:
            x = F.interpolate(x.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out[a:a + chunk] = x.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    return out


def decode(video: Path, decode_fps: float, size: int) -> np.ndarray:
    """Frames of a video at ``decode_fps``, cropped and resized: (T, size, size, 3) uint8."""
    from mglib.data.video import read_video

    if not Path(video).is_file():
        raise InputError(f"{video}: video file not found (the online study needs the RGB stream)")
    frames, _ = read_video(video, fps=decode_fps)
    return resize_frames(frames, size)


def split_subjects(sequences, num_val: int) -> tuple[list, list, list]:
    """(train, val, test) sequences: val = the ``num_val`` highest-numbered training subjects (project choice)."""
    from mglib.data.smg import split_of

    train = [s for s in sequences if split_of(s.subject) == "train"]
    test = [s for s in sequences if split_of(s.subject) == "test"]
    val_ids = sorted({s.subject for s in train})[-num_val:] if num_val > 0 else []
    if num_val > 0 and len(val_ids) >= len({s.subject for s in train}):
        raise InputError(f"num_val={num_val}: needs at least one training subject left "
                         f"({len(val_ids)} training subjects found)")
    return [s for s in train if s.subject not in val_ids], [s for s in train if s.subject in val_ids], test


def cut_clips(frames: np.ndarray, labels: np.ndarray, fps: float, decode_fps: float, clip_len: int):
    """Clips of ``clip_len`` decoded frames centred on each GT (label frames at ``fps``) → (N, L, S, S, 3), (N,)."""
    clips, ys = [], []
    for lab, s, e in np.asarray(labels).reshape(-1, 3):
        mid = ((s + e) / 2 - 1) / fps * decode_fps
        idx = np.clip(np.round(mid - clip_len / 2).astype(int) + np.arange(clip_len), 0, len(frames) - 1)
        clips.append(frames[idx])
        ys.append(int(lab))
    shape = (0, clip_len) + frames.shape[1:]
    return (np.stack(clips) if clips else np.zeros(shape, np.uint8)), np.asarray(ys, dtype=np.int64)


class ClipSet(Dataset):
    def __init__(self, clips: np.ndarray, labels: np.ndarray, train: bool):
        self.clips, self.labels, self.train = clips, labels, train

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        x = frames_to_input(self.clips[i])[0]  # (3, L, S, S)
        if self.train and torch.rand(()) < 0.5:
            x = x.flip(-1)
        return x, int(self.labels[i])


class EncoderTask(Task):
    """Pretrain the video encoder as a clip classifier on gesture clips of the training subjects."""

    name = "video_encoder"
    Config = EncoderConfig

    def build_model(self):
        c = self.cfg
        model = VideoEncoder(VideoEncoderConfig(width=c.width, num_classes=c.num_classes))
        if c.weights:
            load_i3d_weights(model, c.weights)
        return model

    def datasets(self):
        from mglib.data import smg

        c = self.cfg
        train, val, _ = split_subjects(smg.read_root(smg_root(c.data_root, c.profile)), c.num_val)
        out = []
        for part, is_train in ((train, True), (val, False)):
            cs, ys = [], []
            for seq in part:
                clips, y = cut_clips(decode(seq.video, c.decode_fps, c.frame_size), seq.labels, seq.fps,
                                     c.decode_fps, c.clip_len)
                cs.append(clips)
                ys.append(y)
            out.append(ClipSet(np.concatenate(cs), np.concatenate(ys), is_train))
        return out[0], out[1]

    def loss(self, model, batch):
        x, y = batch
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        return loss, {"acc": float((logits.argmax(-1) == y).float().mean())}

    def evaluate(self, model, loader):
        correct = total = 0
        for x, y in loader:
            correct += int((model(x).argmax(-1) == y).sum())
            total += len(y)
        acc = correct / max(total, 1)
        return {"score": acc, "clip_acc": acc, "num_clips": total}, None


def encoder_run_dir(cfg: EncoderConfig) -> Path:
    tag = f"w{cfg.width:g}_s{cfg.frame_size}_e{cfg.optim.epochs}_seed{cfg.optim.seed}"
    return paths.CACHE / "video_encoder" / cfg.profile / tag


def encoder_checkpoint(cfg: EncoderConfig) -> Path:
    """The weights file that defines the features: pretrain (or reuse a finished run) and return its
    ``best.safetensors``; with ``weights`` set and ``optim.epochs == 0``, the local I3D file itself."""
    if cfg.weights and cfg.optim.epochs == 0:
        return Path(cfg.weights)
    from mglib.train.engine import fit

    out = encoder_run_dir(cfg)
    fit(EncoderTask(cfg), out, reuse=True)
    return out / "best.safetensors"


def load_encoder(cfg: EncoderConfig, ckpt: Path) -> VideoEncoder:
    model = VideoEncoder(VideoEncoderConfig(width=cfg.width, num_classes=cfg.num_classes))
    if Path(ckpt).suffix == ".safetensors":
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(ckpt)))
    else:
        load_i3d_weights(model, ckpt)
    return model.eval()


def feature_dim(cfg: EncoderConfig) -> int:
    return VideoEncoder(VideoEncoderConfig(width=cfg.width, num_classes=1)).feature_dim


def snippet_features(cfg: EncoderConfig, dataset_id: str, videos: dict[str, Path],
                     decode_fps: float | None = None) -> dict[str, np.ndarray]:
    """{name: (T/4, C) features} of each video, extracted once by the frozen encoder and cached."""
    from mglib.train.features import cached_features

    fps = decode_fps or cfg.decode_fps
    ckpt = encoder_checkpoint(cfg)
    model = None

    def extract(name: str) -> np.ndarray:
        nonlocal model
        if model is None:
            model = load_encoder(cfg, ckpt)
        return extract_snippet_features(model, decode(videos[name], fps, cfg.frame_size))

    params = {"width": cfg.width, "frame_size": cfg.frame_size, "decode_fps": fps, "stride": 4}
    return cached_features(ckpt, dataset_id, params, list(videos), extract)
