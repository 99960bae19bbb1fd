"""Study 3: multi-label micro-action detection on MMA-52 (MMAD paper) as training-engine tasks.

Chapters: notebooks/30_mmad.ipynb (pretraining, adapters, Tables 3–4), notebooks/31_mmad_errors.ipynb (errors).

Pipeline, AdaTAD style:
1. decode every video once into a cached window of ``window_frames`` frames sampled uniformly over the whole
   video at ``img_size``² (ambiguity #8: one window per video, resized to a fixed length — MMA-52 videos are
   146–451 frames long, so no video is cut into windows);
2. pretrain the ViT (no VideoMAE weights can be downloaded on the CPU machine): :class:`PretrainTask`, masked
   autoencoding with tube masking (VideoMAE) or supervised classification of trimmed instance clips;
   on a GPU machine a local VideoMAE checkpoint file is loaded instead (``backbone_ckpt``);
3. detect with the ViT (frozen + adapters, fully fine-tuned, or frozen with cached snippet features) feeding an
   ActionFormer head: :class:`DetectionTask`; scored at action and body level by ``mglib.metrics``.

Times: ActionFormer's convention, feature step j ↔ (j + 0.5)·duration / L seconds, L = window_frames / tubelet.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import Dataset

from mglib import paths
from mglib.errors import InputError
from mglib.models import actionformer as AF
from mglib.models import adapters as A
from mglib.models.vit import VideoMAEPretrainer, VideoViT, ViTConfig, load_videomae
from mglib.train.config import OptimConfig, _choice, to_dict
from mglib.train.task import Task

VARIANTS = ("snippet", "full", "standard", "tia", "dsta", "pointtad")
FEATURE_VARIANTS = ("snippet", "pointtad")  # trained on cached frozen-ViT snippet features
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1, 1)  # VideoMAE / ImageNet normalisation
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1, 1)


def _default_vit() -> ViTConfig:
    return ViTConfig(img_size=32, patch_size=8, tubelet=2, num_frames=16, dim=48, depth=3, heads=3)


@dataclass
class DataConfig:
    root: str = ""  # "" = data/synthetic/<profile>/mma52
    profile: str = "smoke"
    window_frames: int = 48  # frames per video (uniform over the whole video); features = window / tubelet
    max_train_videos: int = 0  # 0 = all
    max_val_videos: int = 0

    def path(self) -> Path:
        if not self.root:
            return paths.synthetic_dir("mma52", self.profile)
        return Path(self.root) if Path(self.root).is_absolute() else paths.ROOT / self.root


# --- data ------------------------------------------------------------------------------------------------------

@dataclass
class Video:
    video_id: str
    split: str
    duration: float  # seconds
    fps: float
    instances: np.ndarray  # (N, 3) [start_s, end_s, class]
    frames: np.ndarray  # (window, S, S, 3) uint8


def _dataset_id(root: Path) -> str:
    h = hashlib.sha256()
    for f in sorted((root / "anns").glob("*.csv")):
        h.update(f.name.encode() + f.read_bytes())
    return f"mma52:{paths.relative(root)}:{h.hexdigest()[:16]}"


def sample_window(frames: np.ndarray, window: int, size: int) -> np.ndarray:
    """``window`` frames spread uniformly over the video, squashed to size×size: (window, size, size, 3) uint8."""
    n = len(frames)
    idx = np.minimum(np.floor((np.arange(window) + 0.5) * n / window).astype(np.int64), n - 1)
    x = torch.from_numpy(np.ascontiguousarray(frames[idx])).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def load_split(dc: DataConfig, split: str, size: int, limit: int = 0) -> list[Video]:
    """Videos of one split with their decoded windows (decoded once, then read from the feature cache)."""
    from mglib.data import mma52
    from mglib.data.video import read_video
    from mglib.train.features import cached_features

    root = dc.path()
    splits = mma52.read_root(root)
    if split not in splits:
        raise InputError(f"{root / 'anns' / (split + '.csv')}: missing; the detection study needs it")
    videos = splits[split][:limit] if limit else splits[split]
    items = [f"{split}/{v.video_id}" for v in videos]

    def extract(item):
        sp, vid = item.split("/", 1)
        frames, _ = read_video(mma52.video_path(root, sp, vid))
        return sample_window(frames, dc.window_frames, size)

    arrays = cached_features(None, _dataset_id(root), {"kind": "frames", "window": dc.window_frames, "size": size},
                             items, extract)
    out = []
    for v, item in zip(videos, items):
        inst = np.asarray(v.instances, dtype=np.float64).reshape(-1, 3).copy()
        inst[:, :2] /= v.fps
        out.append(Video(v.video_id, split, v.total_frames / v.fps, v.fps, inst, arrays[item]))
    return out


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """(T, S, S, 3) uint8 → (3, T, S, S) float, normalised."""
    x = torch.from_numpy(frames).permute(3, 0, 1, 2).float() / 255.0
    return (x - MEAN) / STD


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


# --- pretraining -----------------------------------------------------------------------------------------------

@dataclass
class PretrainConfig:
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(epochs=6, batch_size=16, lr=1e-3,
                                                                   weight_decay=0.05, warmup_epochs=1.0))
    mode: str = _choice("mae", "mae", "supervised")
    vit: ViTConfig = field(default_factory=_default_vit)
    data: DataConfig = field(default_factory=DataConfig)
    mask_ratio: float = 0.75  # VideoMAE uses 0.9 on 16×14×14 tokens; the tiny 8×4×4 grid keeps more visible
    decoder_dim: int = 48
    decoder_depth: int = 1
    clips_per_instance: int = 1


def instance_clips(videos: list[Video], frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Trimmed clips: ``frames`` frames spread over each instance's span of the cached window; (clips, labels)."""
    clips, labels = [], []
    for v in videos:
        W = len(v.frames)
        for s, e, c in v.instances:
            a = int(np.floor(s / v.duration * W))
            b = max(a + 1, int(np.ceil(e / v.duration * W)))
            idx = np.minimum(a + np.floor((np.arange(frames) + 0.5) * (b - a) / frames).astype(np.int64), W - 1)
            clips.append(v.frames[idx])
            labels.append(int(c))
    return np.stack(clips), np.asarray(labels)


class ClipData(Dataset):
    def __init__(self, clips, labels):
        self.clips, self.labels = clips, labels

    def __len__(self):
        return len(self.clips)

    def __getitem__(self, i):
        return to_tensor(self.clips[i]), int(self.labels[i])


class SupervisedPretrainer(nn.Module):
    def __init__(self, cfg: ViTConfig, num_classes: int = 52):
        super().__init__()
        self.encoder = VideoViT(cfg)
        self.head = nn.Linear(cfg.dim, num_classes)

    def forward(self, x):
        return self.head(self.encoder.features(x).mean(-1))


class PretrainTask(Task):
    """ViT pretraining on trimmed instance clips of the training split (MAE or supervised)."""

    name = "detection-pretrain"
    Config = PretrainConfig

    def build_model(self):
        cfg = dataclasses.replace(self.cfg.vit, checkpoint=False)
        if self.cfg.mode == "mae":
            return VideoMAEPretrainer(cfg, self.cfg.decoder_dim, self.cfg.decoder_depth, 2, self.cfg.mask_ratio)
        return SupervisedPretrainer(cfg)

    def datasets(self):
        dc, v = self.cfg.data, self.cfg.vit
        train = load_split(dc, "train", v.img_size, dc.max_train_videos)
        val = load_split(dc, "val", v.img_size, dc.max_val_videos)
        return ClipData(*instance_clips(train, v.num_frames)), ClipData(*instance_clips(val, v.num_frames))

    def loss(self, model, batch):
        x, y = batch
        if self.cfg.mode == "mae":
            loss = model(x)
            return loss, {}
        loss = F.cross_entropy(model(x), y)
        return loss, {}

    def evaluate(self, model, loader):
        tot, n, correct = 0.0, 0, 0
        for x, y in loader:
            if self.cfg.mode == "mae":
                g = torch.Generator().manual_seed(n)  # a fixed mask per batch: comparable across epochs
                from mglib.models.vit import tube_mask

                mask = tube_mask(x.shape[0], self.cfg.vit.grid, self.cfg.mask_ratio, generator=g).to(x.device)
                tot += float(model(x, mask)) * len(y)
            else:
                logits = model(x)
                tot += float(F.cross_entropy(logits, y, reduction="sum"))
                correct += int((logits.argmax(1) == y).sum())
            n += len(y)
        metrics = {"val_loss": tot / n}
        if self.cfg.mode == "mae":
            metrics["score"] = -tot / n
        else:
            metrics["top1"] = correct / n
            metrics["score"] = correct / n
        return metrics, {}


def run_dir(kind: str, cfg, profile: str) -> Path:
    """A cache folder per resolved config, so every variant and seed has its own run (and reuse works)."""
    blob = json.dumps(to_dict(cfg), sort_keys=True)
    return paths.CACHE / "mmad" / profile / f"{kind}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def pretrained_backbone(cfg: PretrainConfig) -> Path:
    """Train (or reuse) the pretraining run; returns the encoder weights file (safetensors, ViT keys)."""
    from safetensors.torch import load_file, save_file

    from mglib.train.engine import BEST, fit

    out = run_dir(f"pretrain-{cfg.mode}", cfg, cfg.data.profile)
    path = out / "vit.safetensors"
    if path.exists() and (out / "metrics.json").exists():
        return path
    fit(PretrainTask(cfg), out, reuse=True)
    state = load_file(str(out / BEST))
    vit = {k[len("encoder."):]: v for k, v in state.items() if k.startswith("encoder.")}
    save_file(vit, str(path))
    return path


# --- detection -------------------------------------------------------------------------------------------------

def _head_default() -> AF.ActionFormerConfig:
    # a small ActionFormer for 24-step sequences: 4 levels (strides 1–8); the paper's is (2, 2, 5), 512 wide
    return AF.ActionFormerConfig(in_dim=48, num_classes=52, max_seq_len=24, arch=(2, 1, 3), embd_dim=64,
                                 head_dim=64, n_head=4, mha_win_size=-1, path_pdrop=0.1,
                                 regression_range=((0, 4), (4, 8), (8, 16), (16, 10000)), init_loss_norm=50.0,
                                 max_seg_num=1000)  # 52 co-occurring classes: 100 kept segments halved action mAP


@dataclass
class DetectionConfig:
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(epochs=8, batch_size=4, lr=1e-3,
                                                                   weight_decay=0.05, warmup_epochs=1.0,
                                                                   grad_clip=1.0))
    variant: str = _choice("dsta", *VARIANTS)
    vit: ViTConfig = field(default_factory=_default_vit)
    data: DataConfig = field(default_factory=DataConfig)
    adapter_lr: float = 2e-3  # adapters (and the fully fine-tuned backbone in "full": backbone_lr)
    backbone_lr: float = 2e-4
    adapter_ratio: int = 4
    kernel_s: int = 3  # DSTA spatial kernel (ambiguity #2): 3 = context over the token grid, 1 = literal
    separate_down: bool = False  # DSTA: one down-projection per path (ambiguity #3)
    backbone_ckpt: str = ""  # local VideoMAE file (gpu); "" = pretrain here (cached)
    pretrain_mode: str = _choice("mae", "mae", "supervised")
    pretrain_epochs: int = 6
    head: AF.ActionFormerConfig = field(default_factory=_head_default)
    pointtad_topk: int = 1000  # best (query, class) pairs kept per video (≈ Nq·C); 0 = one class per query
    pointtad_hidden: int = 64  # MMA-52 baseline: 24 queries, 30 points, 2 layers (MAC-2024 config), narrower here


class Detector(nn.Module):
    """(frozen / adapted / fine-tuned) ViT → spatially pooled features (B, C, L) → ActionFormer."""

    def __init__(self, vit: VideoViT | None, head: AF.ActionFormer):
        super().__init__()
        self.vit, self.head = vit, head

    def features(self, x):
        return self.vit.features(x) if self.vit is not None else x

    def forward(self, x, segments=None, labels=None):
        f = self.features(x).float()
        mask = torch.ones(f.shape[0], f.shape[-1], dtype=torch.bool, device=f.device)
        if segments is None:
            return self.head.predict(f, mask)
        return self.head.loss(f, mask, segments, labels)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.vit is not None and not any(p.requires_grad for n, p in self.vit.named_parameters()
                                            if ".adapter." not in f".{n}"):
            self.vit.eval()  # frozen parts stay in eval mode (AdaTAD); adapters have no train-only layers
        return self


class PointTADDetector(nn.Module):
    """The multi-label baseline: PointTAD (from the online study) on the same frozen-ViT snippet features.

    Deviation: the paper's PointTAD row trains an I3D end to end and is scored by PointTAD's own evaluator; here it
    reads cached features and is scored by the OpenTAD evaluator like every other row.
    """

    def __init__(self, cfg, length: int, topk: int = 0):
        super().__init__()
        from mglib.models.pointtad import PointTAD

        self.net, self.length, self.topk = PointTAD(cfg), length, topk

    def forward(self, x, segments=None, labels=None):  # x (B, C, L)
        from mglib.models.pointtad import detections
        from mglib.models.pointtad_loss import LossConfig, pointtad_loss

        out = self.net(x.transpose(1, 2).float())
        if segments is None:
            if not self.topk:
                lab, score, se = detections(out)  # se (B, Nq, 2) in window units [0, 1]
            else:
                lab, score, se = topk_detections(out, self.topk)
            grid = se * self.length - 0.5  # same grid convention as ActionFormer's output
            return [(grid[b], score[b], lab[b]) for b in range(x.shape[0])]
        targets = []
        for seg, lab in zip(segments, labels):
            w = ((seg + 0.5) / self.length).clamp(0, 1)  # (N, 2) start, end in window units
            targets.append({"labels": lab, "segments": torch.stack([w.mean(1), w[:, 1] - w[:, 0]], 1)})
        return pointtad_loss(out, targets, LossConfig())


@torch.no_grad()
def topk_detections(out: dict, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """DETR-style decoding: the ``k`` best (query, class) pairs of the last layer instead of one class per query,
    so a query whose segment fits several co-occurring labels can report each (multi-label). Returns labels (B, k),
    scores (B, k), segments (B, k, 2) in window units."""
    from mglib.models.matcher import cl_to_se

    logits, seg = out["layers"][-1]
    prob = logits.softmax(-1)[..., :-1]  # (B, Nq, C)
    B, Nq, C = prob.shape
    score, idx = prob.reshape(B, -1).topk(min(k, Nq * C), dim=1)  # (B, k)
    se = cl_to_se(seg)  # (B, Nq, 2)
    return idx % C, score, torch.gather(se, 1, (idx // C)[..., None].expand(-1, -1, 2))


class DetectionTask(Task):
    name = "detection"
    Config = DetectionConfig

    def __init__(self, cfg: DetectionConfig):
        super().__init__(cfg)
        self._val: list[Video] | None = None

    # backbone ---------------------------------------------------------------------------------------------------
    def pretrain_config(self) -> PretrainConfig:
        c = self.cfg
        return PretrainConfig(optim=OptimConfig(epochs=c.pretrain_epochs, batch_size=16, lr=1e-3, weight_decay=0.05,
                                                warmup_epochs=1.0, seed=0),
                              mode=c.pretrain_mode, vit=dataclasses.replace(c.vit, checkpoint=False),
                              data=dataclasses.replace(c.data))

    def backbone_path(self) -> Path:
        if self.cfg.backbone_ckpt:
            p = Path(self.cfg.backbone_ckpt)
            return p if p.is_absolute() else paths.ROOT / p
        return pretrained_backbone(self.pretrain_config())

    def load_vit(self) -> VideoViT:
        vit = VideoViT(self.cfg.vit)
        path = self.backbone_path()
        if path.suffix == ".safetensors" and not self.cfg.backbone_ckpt:
            from safetensors.torch import load_file

            vit.load_state_dict(load_file(str(path)))
        else:
            load_videomae(vit, path)
        return vit

    @property
    def length(self) -> int:
        return self.cfg.data.window_frames // self.cfg.vit.tubelet

    def head_config(self) -> AF.ActionFormerConfig:
        return dataclasses.replace(self.cfg.head, in_dim=self.cfg.vit.dim, max_seq_len=self.length)

    # engine hooks -----------------------------------------------------------------------------------------------
    def build_model(self):
        c = self.cfg
        if self.length % 2 ** c.head.arch[2]:
            raise InputError(f"data.window_frames={c.data.window_frames}: window/tubelet must be divisible by "
                             f"{2 ** c.head.arch[2]} (the coarsest pyramid stride)")
        vit = self.load_vit() if c.variant not in FEATURE_VARIANTS else None
        torch.manual_seed(c.optim.seed)  # same head init whether or not pretraining just ran
        if c.variant == "pointtad":
            from mglib.models.pointtad import PointTADConfig

            return PointTADDetector(PointTADConfig(num_classes=52, in_dim=c.vit.dim, hidden=c.pointtad_hidden,
                                                   num_queries=24, num_points=30, num_layers=2, ffn=4 * c.pointtad_hidden,
                                                   n_heads=4, mix_dim=16, dense_hidden=c.pointtad_hidden,
                                                   query_mixer="mhsa"), self.length, c.pointtad_topk)
        if vit is not None and c.variant in A.KINDS:
            A.add_adapters(vit, A.AdapterConfig(kind=c.variant, ratio=c.adapter_ratio, kernel_s=c.kernel_s,
                                                separate_down=c.separate_down))
            A.freeze_except_adapters(vit)
        return Detector(vit, AF.ActionFormer(self.head_config()))

    def snippet_features(self, videos: list[Video], split: str) -> dict[str, np.ndarray]:
        from mglib.train.features import cached_features

        path = self.backbone_path()
        vit = self.load_vit().eval()
        by_id = {v.video_id: v for v in videos}

        def extract(vid):
            with torch.no_grad():
                return vit.features(to_tensor(by_id[vid].frames)[None])[0].numpy()

        params = {"kind": "vit-features", "window": self.cfg.data.window_frames, "vit": to_dict(self.cfg.vit),
                  "split": split}
        return cached_features(path, _dataset_id(self.cfg.data.path()), params, list(by_id), extract)

    def datasets(self):
        c = self.cfg
        train = load_split(c.data, "train", c.vit.img_size, c.data.max_train_videos)
        val = load_split(c.data, "val", c.vit.img_size, c.data.max_val_videos)
        self._val = val
        ft = fv = None
        if c.variant in FEATURE_VARIANTS:
            ft, fv = self.snippet_features(train, "train"), self.snippet_features(val, "val")
        return DetectionData(train, self.length, ft), DetectionData(val, self.length, fv)

    def collate(self, items):
        return collate(items)

    def loss(self, model, batch):
        loss, logs = model(batch["x"], batch["segments"], batch["labels"])
        return loss, logs

    def param_groups(self, model):
        c = self.cfg
        groups = {}
        for n, p in model.named_parameters():
            if not p.requires_grad:
                continue
            part = "adapter" if ".adapter." in f".{n}" else ("backbone" if n.startswith("vit.") else "head")
            if c.variant == "pointtad":
                part = "head"
            no_wd = p.ndim <= 1 or n.endswith(".bias")  # norms, biases, α/β/γ and level scales
            groups.setdefault((part, no_wd), []).append(p)
        lr = {"adapter": c.adapter_lr, "backbone": c.backbone_lr, "head": c.optim.lr}
        return [{"params": ps, "lr": lr[part], "weight_decay": 0.0 if no_wd else c.optim.weight_decay}
                for (part, no_wd), ps in groups.items()]

    def evaluate(self, model, loader):
        from mglib.metrics import mmad_table3

        videos = loader.dataset.videos
        preds = predictions(model, loader, videos, self.length)
        gt = ground_truth(videos)
        t3 = mmad_table3(gt, preds)
        metrics = flatten_table3(t3)
        metrics["score"] = t3["AVG"]
        return metrics, preds


def ground_truth(videos: list[Video]) -> dict:
    db = {v.video_id: {"subset": v.split, "duration": v.duration,
                       "annotations": [{"segment": [float(s), float(e)], "label": int(c)} for s, e, c in v.instances]}
          for v in videos}
    return {"database": db}


def predictions(model: Detector, loader, videos: list[Video], length: int) -> dict:
    """ActivityNet results dict (seconds, integer labels) for every video of ``loader``."""
    results = {}
    model.eval()
    for batch in loader:
        dets = model(batch["x"])
        for i, (segs, scores, labels) in zip(batch["index"].tolist(), dets):
            v = videos[i]
            sec = grid_to_seconds(segs.cpu().numpy(), v.duration, length)
            results[v.video_id] = [{"segment": [round(float(a), 4), round(float(b), 4)], "label": int(c),
                                    "score": round(float(s), 6)}
                                   for (a, b), s, c in zip(sec, scores.tolist(), labels.tolist()) if b > a]
    return {"results": results}


def flatten_table3(t3: dict) -> dict:
    out = {"AVG": t3["AVG"]}
    for level in ("action", "body"):
        for k, v in t3[level].items():
            out[f"{level}/{k}"] = v
    return out


# --- trivial baseline -------------------------------------------------------------------------------------------

def prior_baseline(train: list[Video], videos: list[Video], max_per_class: int = 20) -> dict:
    """Chance-level detector: for each class, sliding windows of the class's median training length (stride half
    of it) in every video, scored by the class's training frequency. No video content is looked at."""
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


# --- notebook helpers ---------------------------------------------------------------------------------------------

def detection_config(profile: str, variant: str, seed: int = 0, **overrides) -> DetectionConfig:
    """A DetectionConfig for ``profile`` with ``overrides`` given as ``{"optim.epochs": 3, "vit.dim": 32, ...}``."""
    from mglib.train.config import apply_overrides

    cfg = DetectionConfig()
    cfg.data.profile = profile
    items = [f"variant={variant}", f"optim.seed={seed}"] + [f"{k}={_fmt(v)}" for k, v in overrides.items()]
    return apply_overrides(cfg, items, source="detection_config")


def _fmt(v) -> str:
    if isinstance(v, (list, tuple)):
        return json.dumps(list(v))
    return str(v)


def run_detection(cfg: DetectionConfig) -> tuple[dict, Path]:
    """Train (or reuse) one detection run in the results cache; returns (metrics, run folder)."""
    from mglib.train.engine import fit

    out = run_dir(f"det-{cfg.variant}", cfg, cfg.data.profile)
    return fit(DetectionTask(cfg), out, reuse=True), out


def trainable_params(cfg: DetectionConfig) -> dict:
    """Trainable parameters of the backbone part (adapters, or the whole ViT for "full"), both units."""
    c = copy.deepcopy(cfg)
    vit = VideoViT(c.vit)
    if c.variant in A.KINDS:
        A.add_adapters(vit, A.AdapterConfig(kind=c.variant, ratio=c.adapter_ratio, kernel_s=c.kernel_s,
                                            separate_down=c.separate_down))
        A.freeze_except_adapters(vit)
        n = A.count_params(vit)
    elif c.variant == "full":
        n = A.count_params(vit)
    else:
        n = 0
    return A.param_report(n)


# --- the study's tables (notebooks/30_mmad) ---------------------------------------------------------------------

# The MMAD paper's figures (percent). Shown only in columns labelled "reported".
REPORTED_TABLE3 = {  # action @0.2/@0.5/@0.7/avg, body @0.2/@0.5/@0.7/avg, AVG
    "PointTAD (I3D)": (9.46, 3.79, 1.02, 4.51, 24.35, 11.06, 3.35, 12.12, 8.32),
    "ActionFormer (VideoMAEv2-g features)": (23.81, 16.87, 8.50, 15.30, 40.51, 24.44, 12.20, 23.99, 19.65),
    "AdaTAD / TIA (VideoMAE-S)": (24.94, 16.78, 10.93, 16.25, 45.51, 27.90, 7.52, 27.35, 21.80),
    "DSTA (VideoMAE-S)": (28.05, 20.40, 9.03, 18.16, 47.14, 30.02, 8.37, 28.70, 23.43),
    "DSTA (VideoMAE-B)": (31.25, 20.87, 11.51, 20.30, 48.16, 32.40, 9.42, 30.37, 25.34),
}
REPORTED_TABLE4 = {  # setting: (trainable parameters in the paper's M = 2^20, action average mAP) on VideoMAE-S
    "snippet": (None, 10.60), "full": (20.89, 15.40), "standard": (0.85, 15.87), "tia": (0.96, 16.25),
    "dsta": (1.80, 18.16),
}
VARIANT_NAMES = {"snippet": "snippet features (frozen ViT)", "full": "full fine-tuning", "standard": "standard adapter",
                 "tia": "TIA (AdaTAD)", "dsta": "DSTA", "dsta-k1": "DSTA, literal 1×1 spatial kernel",
                 "pointtad": "PointTAD (snippet features)", "prior": "class-prior windows (trivial)"}
TABLE3_COLUMNS = ["action/mAP@0.2", "action/mAP@0.5", "action/mAP@0.7", "action/average_mAP",
                  "body/mAP@0.2", "body/mAP@0.5", "body/mAP@0.7", "body/average_mAP", "AVG"]
TABLE3_ROWS = {"pointtad": "PointTAD (I3D)", "snippet": "ActionFormer (VideoMAEv2-g features)",
               "tia": "AdaTAD / TIA (VideoMAE-S)", "dsta": "DSTA (VideoMAE-S)"}


def run_row(cfg: DetectionConfig, name: str) -> dict:
    """Train (or reuse) one run and return its Table-3 metrics as a flat row."""
    m, out = run_detection(cfg)
    row = {"setting": name, "seed": cfg.optim.seed, "run": paths.relative(out)}
    row.update({k: m[k] for k in TABLE3_COLUMNS})
    return row


def mean_std(runs, columns=TABLE3_COLUMNS, scale: float = 100.0):
    """Per setting: "mean ± std" strings (percent) over seeds, plus the number of seeds."""
    import pandas as pd

    df = pd.DataFrame(runs)
    rows = []
    for setting, g in df.groupby("setting", sort=False):
        r = {"setting": VARIANT_NAMES.get(setting, setting), "seeds": len(g)}
        for c in columns:
            v = g[c].to_numpy(dtype=float) * scale
            r[c] = f"{v.mean():.2f} ± {v.std(ddof=1) if len(v) > 1 else 0.0:.2f}"
        rows.append(r)
    return pd.DataFrame(rows).set_index("setting")


def table4(runs, cfgs: dict[str, DetectionConfig]):
    """Adapter ablation: trainable backbone parameters (both units), action average mAP (mean ± std), gain over
    snippet features, and the paper's figures labelled "reported"."""
    import pandas as pd

    df = pd.DataFrame(runs)
    base = df[df.setting == "snippet"]["action/average_mAP"].mean() * 100 if (df.setting == "snippet").any() else None
    rows = []
    for setting, g in df.groupby("setting", sort=False):
        if setting not in cfgs or setting == "pointtad":  # PointTAD is a Table 3 row only
            continue
        v = g["action/average_mAP"].to_numpy(dtype=float) * 100
        p = trainable_params(cfgs[setting])
        rep = REPORTED_TABLE4.get(setting, (None, None))
        rows.append({"setting": VARIANT_NAMES.get(setting, setting), "params": p["params"],
                     "params (M, 2^20)": round(p["M_2^20"], 4), "params (M, 10^6)": round(p["M_10^6"], 4),
                     "action avg mAP": f"{v.mean():.2f} ± {v.std(ddof=1) if len(v) > 1 else 0.0:.2f}",
                     "gain": None if base is None else round(float(v.mean() - base), 2),
                     "reported params (M)": rep[0], "reported mAP": rep[1]})
    return pd.DataFrame(rows).set_index("setting")


def table3(runs, prior_row: dict):
    """Table 3 analogue: measured rows (mean ± std over seeds) with the paper's matching row "reported"."""
    import pandas as pd

    measured = mean_std(list(runs) + [prior_row])
    short = ["action@0.2", "action@0.5", "action@0.7", "action avg", "body@0.2", "body@0.5", "body@0.7",
             "body avg", "AVG"]
    measured = measured.rename(columns=dict(zip(TABLE3_COLUMNS, short)))
    rep = []
    for setting in measured.index:
        key = next((TABLE3_ROWS[k] for k, v in VARIANT_NAMES.items() if v == setting and k in TABLE3_ROWS), None)
        rep.append(f"{key}: {REPORTED_TABLE3[key][3]:.2f} / {REPORTED_TABLE3[key][7]:.2f} / {REPORTED_TABLE3[key][8]:.2f}"
                   if key else "")
    measured["reported (action avg / body avg / AVG)"] = rep
    return measured


def videomae_s_adapter_counts():
    """Adapter parameters on VideoMAE-S (12 blocks, C = 384, r = 4) next to Table 4 (the paper's M = 2^20)."""
    import pandas as pd

    rows = []
    for name, cfg, rep in [("standard adapter", A.AdapterConfig("standard"), 0.85),
                           ("TIA", A.AdapterConfig("tia"), 0.96),
                           ("DSTA, shared W_down, 3×3 spatial", A.AdapterConfig("dsta"), 1.80),
                           ("DSTA, shared W_down, 1×1 spatial", A.AdapterConfig("dsta", kernel_s=1), 1.80),
                           ("DSTA, separate W_down, 1×1 spatial", A.AdapterConfig("dsta", kernel_s=1, separate_down=True),
                            1.80)]:
        r = A.param_report(A.adapter_params(384, 12, cfg))
        rows.append({"adapter": name, "params": r["params"], "M (2^20)": round(r["M_2^20"], 3),
                     "M (10^6)": round(r["M_10^6"], 3), "reported M": rep})
    return pd.DataFrame(rows).set_index("adapter")


# --- qualitative timelines (notebooks/31_mmad_errors, Fig. 8) -----------------------------------------------------

def plot_timeline(video: Video, rows: list[dict], top: int = 10, ax=None, level: str = "action"):
    """Ground-truth bars and the top-``top`` predictions of one video; each prediction is coloured by its best tIoU
    with a ground truth of the same label (0 when none), as in the MMAD paper's Fig. 8."""
    import matplotlib.pyplot as plt

    from mglib.metrics import tiou_pairwise
    from mglib.taxonomy import ACTION_TO_BODY, MA52_CODES, MA52_BODY_LETTERS

    def name(c):
        return MA52_CODES[c] if level == "action" else MA52_BODY_LETTERS[c]

    gt = video.instances.copy()
    rows = sorted(rows, key=lambda r: -r["score"])[:top]
    plab = np.array([r["label"] for r in rows], dtype=int)
    glab = gt[:, 2].astype(int)
    if level == "body":
        plab, glab = ACTION_TO_BODY[plab], ACTION_TO_BODY[glab]
    pseg = np.array([r["segment"] for r in rows], dtype=float).reshape(-1, 2)
    iou = tiou_pairwise(pseg, gt[:, :2]) if len(rows) and len(gt) else np.zeros((len(rows), len(gt)))
    best = np.where(plab[:, None] == glab[None], iou, 0.0).max(1) if len(gt) else np.zeros(len(rows))
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.3 * (len(gt) + len(rows)) + 1))
    cmap = plt.get_cmap("viridis")
    labels = []
    for i, (s, e, c) in enumerate(gt):
        ax.barh(i, e - s, left=s, color="0.3")
        labels.append(f"gt-{i + 1} {name(glab[i])}")
    for j, r in enumerate(rows):
        y = len(gt) + j
        ax.barh(y, pseg[j, 1] - pseg[j, 0], left=pseg[j, 0], color=cmap(best[j]))
        labels.append(f"pred-{j + 1} {name(plab[j])} ({r['score']:.2f})")
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, video.duration)
    ax.set_xlabel("time (s)")
    ax.set_title(f"{video.video_id} ({level} level)", fontsize=9)
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, 1))
    ax.figure.colorbar(sm, ax=ax, label="tIoU with same-label GT")
    return ax


def load_run(folder) -> tuple[dict, dict, list[Video]]:
    """(resolved config dict, predictions on val, val videos with frames) of a finished detection run."""
    folder = paths.ROOT / folder if not Path(folder).is_absolute() else Path(folder)
    for name in ("config.json", "predictions.json"):
        if not (folder / name).exists():
            raise InputError(f"{paths.relative(folder / name)}: missing; run notebooks/30_mmad first")
    cfg = json.loads((folder / "config.json").read_text())["config"]
    preds = json.loads((folder / "predictions.json").read_text())
    dc = DataConfig(**cfg["data"])
    videos = load_split(dc, "val", cfg["vit"]["img_size"], dc.max_val_videos)
    return cfg, preds, videos


def findings(runs, prior_row: dict) -> list[str]:
    """Plain-language statements derived from the measured runs (so the chapter's narrative stays true when the
    runs change): each setting against the trivial baseline, the adapter ranking against the seeds' spread, and
    whether the paper's Table 4 order is reproduced."""
    import pandas as pd

    df = pd.DataFrame(runs)
    out = []
    stats = {}
    for setting, g in df.groupby("setting", sort=False):
        s = {}
        for col in ("AVG", "action/average_mAP", "body/average_mAP"):
            v = g[col].to_numpy(dtype=float) * 100
            s[col] = (v.mean(), v.std(ddof=1) if len(v) > 1 else 0.0, len(v))
        stats[setting] = s
    for setting, s in stats.items():
        parts = []
        for col, short in (("AVG", "AVG"), ("action/average_mAP", "action avg")):
            m, sd, n = s[col]
            p = prior_row[col] * 100
            verdict = ("clearly above" if m - p > max(2 * sd, 0.5) else "above" if m > p else "below")
            parts.append(f"{short} {m:.2f} ± {sd:.2f} vs {p:.2f} ({verdict})")
        out.append(f"{VARIANT_NAMES.get(setting, setting)} [{s['AVG'][2]} seed(s)]: " + "; ".join(parts) + ".")
    order = [k for k in ("snippet", "full", "standard", "tia", "dsta") if k in stats]
    if len(order) >= 2:
        means = {k: stats[k]["action/average_mAP"][0] for k in order}
        sds = [stats[k]["action/average_mAP"][1] for k in order if stats[k]["action/average_mAP"][2] > 1]
        spread = max(means.values()) - min(means.values())
        pooled = float(np.sqrt(np.mean(np.square(sds)))) if sds else 0.0
        ranked = sorted(order, key=lambda k: means[k])
        out.append("Measured action-level order (low to high): " + " < ".join(ranked) +
                   f"; the paper's Table 4 order is {' < '.join(order)} — "
                   + ("reproduced." if ranked == order else "not reproduced."))
        if not sds:
            out.append(f"Spread of the Table-4 settings' action avg: {spread:.2f} points; one seed only, so the seed "
                       "noise is unknown.")
        else:
            out.append(f"Spread of the Table-4 settings' mean action avg: {spread:.2f} points; typical seed std "
                       f"{pooled:.2f} points — " + ("the differences are within the seed noise."
                                                    if spread <= 2 * pooled else "larger than twice the seed noise."))
    return out
