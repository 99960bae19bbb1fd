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

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from mglib import paths
from mglib.errors import InputError
from mglib.models.video_encoder import (VideoEncoder, VideoEncoderConfig, extract_snippet_features,
                                        frames_to_input, load_i3d_weights, rest_frame)
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
    weights: str = ""  # local InceptionI3d state dict (width 1.0), e.g. rgb_imagenet.pt
    num_classes: int = 17
    input: str = "rgb"  # "rgb" (I3D: pixels in [-1, 1]) or "rest": minus the sequence's median frame
    background: bool = False  # an extra class: clips between gestures (teaches "is anything happening")
    repeats: int = 1  # training clips per gesture per epoch, each centred at a random instant of the gesture
    balance: bool = False  # class-weighted loss (1 / sqrt(frequency)) against the majority class
    dropout: float = 0.5
    threads: int = 0  # torch CPU threads while training / extracting; 0 = leave as set
    crop: bool = False  # crop each sequence to its motion box (once, from the frames' motion energy), then resize


# Encoder settings per profile, shared by the chapters 04 (pretraining), 20 and 21 (which read its cached
# features): one place, so all three use the same checkpoint and feature cache. gpu: real I3D width and crop; the
# weights file is a parameter (no download is possible), fine-tuning epochs 0 = use the weights as they are.
# cpu: trained from scratch on ~140 clips in ~2 minutes, which RGB input did not manage (validation accuracy at
# chance): the rest-pose difference, a background class, random clip centres, a class-weighted loss and short
# 8-frame clips at the full 64-pixel frame make it learn (chapter 04 shows the numbers). One torch thread: with
# tiny kernels on shared cores, OpenMP threads waiting for each other made 2 threads 10-50x slower here.
_CPU = dict(width=0.125, clip_len=8, batch_size=16, lr=3e-3, weight_decay=1e-2, input="rest", background=True,
            balance=True, dropout=0.2, threads=1)
ENCODER_PROFILES = {
    "smoke": _CPU | dict(frame_size=32, epochs=1, repeats=1, crop=False),
    "cpu": _CPU | dict(frame_size=64, epochs=10, repeats=4, crop=True),
    "gpu": dict(width=1.0, frame_size=192, clip_len=32, epochs=0, batch_size=8, lr=1e-4, weight_decay=1e-4,
                input="rgb", background=False, balance=False, dropout=0.5, threads=0, repeats=1, crop=False),
}


def encoder_config(profile: str, weights: str = "", data_root: str = "", seed: int = 0, **overrides) -> EncoderConfig:
    """The encoder of ``profile`` (``ENCODER_PROFILES``); ``overrides`` replace any of its keys."""
    from dataclasses import replace

    if profile not in ENCODER_PROFILES:
        raise InputError(f"profile {profile!r}: expected one of {list(ENCODER_PROFILES)}")
    p = ENCODER_PROFILES[profile] | overrides
    epochs = p["epochs"] if (weights or p["epochs"] > 0) else 20  # no weights file: pretrain from scratch
    base = EncoderConfig()
    optim = replace(base.optim, epochs=epochs, batch_size=p["batch_size"], lr=p["lr"],
                    weight_decay=p["weight_decay"], seed=seed)
    keys = ("width", "frame_size", "clip_len", "input", "background", "repeats", "balance", "dropout", "threads", "crop")
    return EncoderConfig(optim=optim, data_root=data_root, profile=profile, weights=weights, **{k: p[k] for k in keys})


@contextlib.contextmanager
def torch_threads(n: int):
    """Run the block with ``n`` torch CPU threads (0 or a CUDA machine: unchanged), restoring the count after."""
    old = torch.get_num_threads()
    if n and not torch.cuda.is_available():
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


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
        x = torch.from_numpy(np.ascontiguousarray(frames[a:a + chunk, y0:y1, x0:x1])).permute(0, 3, 1, 2).float()
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out[a:a + chunk] = x.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    return out


def decode(video: Path, decode_fps: float, size: int, crop: bool = False) -> np.ndarray:
    """Frames of a video at ``decode_fps``, cropped (centre square, or with ``crop`` the :func:`motion_box`) and
    resized: (T, size, size, 3) uint8."""
    from mglib.data.video import read_video

    if not Path(video).is_file():
        raise InputError(f"{video}: video file not found (the online study needs the RGB stream)")
    frames, _ = read_video(video, fps=decode_fps)
    return crop_resize(frames, motion_box(frames), size) if crop else resize_frames(frames, size)


def split_subjects(sequences, val_subjects=None) -> tuple[list, list, list]:
    """(train, val, test) sequences: val = the training-range subjects in ``val_subjects`` (default
    ``mglib.data.smg.VAL_SUBJECTS``, 31-35: SMG has no official validation split, a project choice)."""
    from mglib.data.smg import VAL_SUBJECTS, split_of

    val_ids = set(VAL_SUBJECTS if val_subjects is None else val_subjects)
    train = [s for s in sequences if split_of(s.subject) == "train"]
    test = [s for s in sequences if split_of(s.subject) == "test"]
    fit = [s for s in train if s.subject not in val_ids]
    val = [s for s in train if s.subject in val_ids]
    if not fit or not val:
        raise InputError(f"SMG split: needs training subjects both outside and inside the validation subjects "
                         f"{sorted(val_ids)} (found {sorted(s.subject for s in train)})")
    return fit, val, test


def gesture_spans(labels: np.ndarray, fps: float, decode_fps: float) -> np.ndarray:
    """GT rows [label, start, end] (1-based label frames at ``fps``) → (N, 3) [label, start, end] in decoded
    frames (0-based, float)."""
    lab = np.asarray(labels, dtype=np.float64).reshape(-1, 3)
    return np.stack([lab[:, 0], (lab[:, 1] - 1) / fps * decode_fps, (lab[:, 2] - 1) / fps * decode_fps], axis=1)


def background_spans(spans: np.ndarray, num_frames: int, clip_len: int, label: int, every: int = 24) -> np.ndarray:
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


def cut_clips(frames: np.ndarray, labels: np.ndarray, fps: float, decode_fps: float, clip_len: int):
    """Clips of ``clip_len`` decoded frames centred on each GT (label frames at ``fps``) → (N, L, S, S, 3), (N,)."""
    spans = gesture_spans(labels, fps, decode_fps)
    clips = [clip_at(frames, (a + b) / 2, clip_len) for _, a, b in spans]
    shape = (0, clip_len) + frames.shape[1:]
    return (np.stack(clips) if clips else np.zeros(shape, np.uint8)), spans[:, 0].astype(np.int64)


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


def clip_set(cfg: EncoderConfig, seqs, train: bool) -> ClipSet:
    """The clips of SMG sequences ``seqs``: gestures, plus background clips when ``cfg.background``."""
    frames, rests, spans = [], [], []
    for seq in seqs:
        f = decode(seq.video, cfg.decode_fps, cfg.frame_size, cfg.crop)
        sp = gesture_spans(seq.labels, seq.fps, cfg.decode_fps)
        if cfg.background:
            sp = np.concatenate([sp, background_spans(sp, len(f), cfg.clip_len, cfg.num_classes)])
        frames.append(f)
        rests.append(rest_frame(f) if cfg.input == "rest" else None)
        spans.append(sp)
    return ClipSet(frames, rests, spans, cfg.clip_len, train, cfg.repeats)


def build_encoder(cfg: EncoderConfig) -> VideoEncoder:
    return VideoEncoder(VideoEncoderConfig(width=cfg.width, num_classes=cfg.num_classes + cfg.background,
                                           dropout=cfg.dropout))


class EncoderTask(Task):
    """Pretrain the video encoder as a clip classifier on gesture clips of the training subjects."""

    name = "video_encoder"
    Config = EncoderConfig
    _class_weight = None

    def build_model(self):
        model = build_encoder(self.cfg)
        if self.cfg.weights:
            load_i3d_weights(model, self.cfg.weights)
        return model

    def datasets(self):
        from mglib.data import smg

        c = self.cfg
        train, val, _ = split_subjects(smg.read_root(smg_root(c.data_root, c.profile)))
        train_set, val_set = clip_set(c, train, True), clip_set(c, val, False)
        counts = np.bincount(train_set.labels, minlength=c.num_classes + c.background)
        w = 1.0 / np.sqrt(np.maximum(counts, 1))
        self._class_weight = torch.tensor(w / w.mean(), dtype=torch.float32) if c.balance else None
        return train_set, val_set

    def loss(self, model, batch):
        x, y = batch
        logits = model(x)
        weight = None if self._class_weight is None else self._class_weight.to(logits.device)
        loss = F.cross_entropy(logits, y, weight=weight, label_smoothing=0.1 if self.cfg.balance else 0.0)
        return loss, {"acc": float((logits.argmax(-1) == y).float().mean())}

    def evaluate(self, model, loader):
        """Gesture accuracy over the gesture classes only (background clips excluded) and, with a background
        class, the gesture-vs-background accuracy beside its majority rate."""
        K = self.cfg.num_classes
        correct = total = act_ok = n_bg = n_all = 0
        for x, y in loader:
            logits = model(x)
            g = y < K
            correct += int((logits[g, :K].argmax(-1) == y[g]).sum())
            total += int(g.sum())
            act_ok += int(((logits.argmax(-1) == K) == (y == K)).sum())
            n_bg += int((y == K).sum())
            n_all += len(y)
        acc = correct / max(total, 1)
        out = {"score": acc, "clip_acc": acc, "num_clips": total}
        if self.cfg.background:
            out |= {"actionness_acc": act_ok / max(n_all, 1),
                    "actionness_majority": max(n_bg, n_all - n_bg) / max(n_all, 1), "num_background": n_bg}
        return out, None


def encoder_run_dir(cfg: EncoderConfig) -> Path:
    import hashlib
    import json

    from mglib.train.config import to_dict

    digest = hashlib.sha256(json.dumps(to_dict(cfg), sort_keys=True).encode()).hexdigest()[:10]
    tag = f"w{cfg.width:g}_s{cfg.frame_size}_{cfg.input}_e{cfg.optim.epochs}_seed{cfg.optim.seed}_{digest}"
    return paths.CACHE / "video_encoder" / cfg.profile / tag


def encoder_checkpoint(cfg: EncoderConfig) -> Path:
    """The weights file that defines the features: pretrain (or reuse a finished run) and return its
    ``best.safetensors``; with ``weights`` set and ``optim.epochs == 0``, the local I3D file itself."""
    if cfg.weights and cfg.optim.epochs == 0:
        return Path(cfg.weights)
    from mglib.train.engine import fit

    out = encoder_run_dir(cfg)
    with torch_threads(cfg.threads):
        fit(EncoderTask(cfg), out, reuse=True)
    return out / "best.safetensors"


def load_encoder(cfg: EncoderConfig, ckpt: Path) -> VideoEncoder:
    model = build_encoder(cfg)
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
        frames = decode(videos[name], fps, cfg.frame_size, cfg.crop)
        with torch_threads(cfg.threads):
            return extract_snippet_features(model, frames, rest=rest_frame(frames) if cfg.input == "rest" else None)

    params = {"width": cfg.width, "frame_size": cfg.frame_size, "decode_fps": fps, "stride": 4, "input": cfg.input,
              "crop": cfg.crop}
    return cached_features(ckpt, dataset_id, params, list(videos), extract)


# ----------------------------------------------------------------------------------------------- chapter helpers
def pretrain_summary(cfg: EncoderConfig) -> dict:
    """Pretrain (or reuse) the encoder and summarise it: clip accuracy of the chosen checkpoint on the validation
    subjects (which chose it) and on the test subjects, beside chance (1 / #classes) and the test rate of the
    majority training class; loss and validation accuracy per epoch; parameter count; with a background class also
    the test gesture-vs-background accuracy beside its majority rate."""
    import json

    from mglib.data import smg

    ckpt = encoder_checkpoint(cfg)
    out = {"checkpoint": paths.relative(ckpt), "params": sum(p.numel() for p in load_encoder(cfg, ckpt).parameters()),
           "feature_dim": feature_dim(cfg), "chance": 1.0 / cfg.num_classes}
    if cfg.weights and cfg.optim.epochs == 0:
        return out | {"pretrained": "loaded from a local I3D file, not trained here"}
    from torch.utils.data import DataLoader

    m = json.loads((encoder_run_dir(cfg) / "metrics.json").read_text())
    train, val, test = split_subjects(smg.read_root(smg_root(cfg.data_root, cfg.profile)))
    y_train = np.concatenate([s.labels[:, 0] for s in train])
    y_test = np.concatenate([s.labels[:, 0] for s in test])
    with torch.no_grad(), torch_threads(cfg.threads):  # the chosen checkpoint on the unseen test subjects
        t, _ = EncoderTask(cfg).evaluate(load_encoder(cfg, ckpt), DataLoader(clip_set(cfg, test, False), 32))
    best = m["history"][m["best_epoch"] - 1]["eval"]
    return out | {"val_clip_acc": float(best["clip_acc"]), "best_epoch": int(m["best_epoch"]),
                  "test_clip_acc": float(t["clip_acc"]), "num_test_clips": int(t["num_clips"]),
                  "majority": float((y_test == np.bincount(y_train).argmax()).mean()),
                  "train_loss": [h["train_loss"] for h in m["history"]],
                  "val_acc": [h["eval"]["clip_acc"] for h in m["history"]]} | {
        f"test_{k}": float(t[k]) for k in ("actionness_acc", "actionness_majority") if k in t}


def segment_embeddings(feats: dict[str, np.ndarray], seqs, fps_decode: float = 10.0, interval: int = 4):
    """Mean snippet feature inside each GT gesture → (N, C) embeddings, (N,) labels, (N,) subjects."""
    from mglib.windows import frames_to_tokens

    X, y, subj = [], [], []
    for s in seqs:
        f = feats[s.name]
        for lab, a, b in np.asarray(s.labels).reshape(-1, 3):
            lo, hi = frames_to_tokens([a, b], s.fps, fps_decode, interval)
            lo, hi = int(np.floor(lo)), int(np.ceil(hi))
            X.append(f[max(0, min(lo, len(f) - 1)):max(lo + 1, min(hi, len(f)))].mean(axis=0))
            y.append(int(lab))
            subj.append(int(s.subject))
    return np.asarray(X, np.float32), np.asarray(y, np.int64), np.asarray(subj, np.int64)


def nearest_neighbour_accuracy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray,
                               test_y: np.ndarray) -> float:
    """1-NN (cosine) accuracy of ``test`` against the ``train`` gallery: a probe of what the frozen features
    separate without any training on top."""
    def unit(x):
        x = x - train_x.mean(axis=0)
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-8)

    nn_idx = (unit(test_x) @ unit(train_x).T).argmax(axis=1)
    return float((train_y[nn_idx] == test_y).mean()) if len(test_y) else 0.0


def pca_2d(x: np.ndarray) -> np.ndarray:
    """(N, C) → (N, 2) projection on the two leading principal components (sign fixed: positive max loading)."""
    xc = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(xc, full_matrices=False)
    v = vt[:2]
    v = v * np.sign(v[np.arange(2), np.abs(v).argmax(axis=1)])[:, None]
    return xc @ v.T


def feature_probe(cfg: EncoderConfig) -> dict:
    """Cache the frozen features of every SMG sequence (``snippet_features``) and probe them: shapes, the 1-NN
    accuracy of gesture embeddings of test subjects against the training subjects, chance and majority beside it.
    Returns also the test embeddings' 2-D PCA for a scatter plot."""
    from mglib.data import smg

    root = smg_root(cfg.data_root, cfg.profile)
    seqs = smg.read_root(root)
    feats = snippet_features(cfg, f"smg:{paths.relative(root)}", {s.name: s.video for s in seqs})
    train, _, test = split_subjects(seqs)
    xtr, ytr, _ = segment_embeddings(feats, train, cfg.decode_fps)
    xte, yte, _ = segment_embeddings(feats, test, cfg.decode_fps)
    s0 = seqs[0]
    return {"num_sequences": len(feats), "feature_dim": int(next(iter(feats.values())).shape[1]),
            "example": {"name": s0.name, "frames": int(s0.num_frames), "fps": float(s0.fps),
                        "tokens": int(len(feats[s0.name]))},
            "nn_acc": nearest_neighbour_accuracy(xtr, ytr, xte, yte), "num_train_gestures": int(len(ytr)),
            "num_test_gestures": int(len(yte)), "chance": 1.0 / cfg.num_classes,
            "majority": float((yte == np.bincount(ytr).argmax()).mean()) if len(yte) else 0.0,
            "pca": pca_2d(xte) if len(yte) > 2 else np.zeros((len(yte), 2)), "pca_labels": yte}


def encoder_verdict(summary: dict, probe: dict) -> str:
    """A plain sentence on whether the encoder carries the gesture signal, from :func:`pretrain_summary` and
    :func:`feature_probe` (test subjects; "above" means by more than 0.02)."""
    def cmp(x, ref):
        return "above" if x > ref + 0.02 else ("below" if x < ref - 0.02 else "at")

    if "test_clip_acc" not in summary:
        return "Encoder loaded from a weights file; the 1-NN probe: " \
               f"{probe['nn_acc']:.3f} vs majority {probe['majority']:.3f}."
    parts = [f"Test clip accuracy {summary['test_clip_acc']:.3f}: {cmp(summary['test_clip_acc'], summary['chance'])} "
             f"chance ({summary['chance']:.3f}) and {cmp(summary['test_clip_acc'], summary['majority'])} the "
             f"majority-class rate ({summary['majority']:.3f})."]
    if "test_actionness_acc" in summary:
        a, m = summary["test_actionness_acc"], summary["test_actionness_majority"]
        parts.append(f"Gesture vs background: {a:.3f}, {cmp(a, m)} its majority rate ({m:.3f}).")
    parts.append(f"1-NN probe on the frozen features: {probe['nn_acc']:.3f}, {cmp(probe['nn_acc'], probe['majority'])} "
                 f"the majority rate ({probe['majority']:.3f}).")
    if summary["test_clip_acc"] <= summary["majority"] + 0.02:
        parts.append("The encoder does not separate the 17 classes on unseen subjects better than always answering "
                     "the most frequent class: on this budget the features carry little class information.")
    return " ".join(parts)
