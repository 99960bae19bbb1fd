"""Study 2 — micro-gesture online recognition on SMG: PointTAD (+ Mamba-MHSA) over sliding windows of cached
snippet features. Also runs on the MMA-52 stand-in with the official MMA-52 baseline settings.

Taught in the book chapters ``20_online`` and ``21_online_ablations``. ``python -m mglib train online`` runs
:class:`OnlineTask` through the training engine.

Pipeline: long sequence → frames at ``decode_fps`` → frozen encoder → tokens (stride ``interval`` = 4) →
training windows (overlap 0.75, windows without a complete GT dropped) / test windows (no overlap + end-aligned)
→ PointTAD → one detection per query → merged on the sequence → score ≥ τ and same-class NMS (tIoU 0.5) →
``label,start,end`` rows in label frames (architectures.md §8.1 #8, #9). τ is chosen on validation subjects
(the highest-numbered training subjects), never on test.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from mglib import paths, windows as W
from mglib.models.pointtad import PointTAD, PointTADConfig, detections
from mglib.models.pointtad_loss import LossConfig, pointtad_loss
from mglib.studies.encoder import EncoderConfig, feature_dim, snippet_features, split_subjects
from mglib.train.config import OptimConfig
from mglib.train.task import Task

TAU_GRID = tuple(round(x, 2) for x in np.arange(0.05, 0.96, 0.05))


@dataclass
class OnlineConfig:
    # paper 000: batch 1, lr 1e-4 halved every 10 epochs, 50 epochs; PointTAD: AdamW, wd 1e-4, grad-clip 0.1
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(
        epochs=50, batch_size=1, lr=1e-4, weight_decay=1e-4, schedule="step", milestones=(10, 20, 30, 40),
        gamma=0.5, grad_clip=0.1, nonfinite="skip"))
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    dataset: str = "smg"  # "smg" or "mma52"
    profile: str = "cpu"
    data_root: str = ""  # "" = the synthetic data of ``profile``
    decode_fps: float = 10.0  # SMG: 10 (paper); MMA-52 baseline: 25
    interval: int = 4  # frames per token (encoder temporal stride)
    window: int = 128  # β, in tokens (reading #1: PointTAD's window_size; 128 × 4 frames at 10 fps ≈ 51 s)
    overlap: float = 0.75
    num_val: int = 5  # highest-numbered training subjects held out to choose τ (SMG)
    hidden: int = 512
    num_queries: int = 48
    num_points: int = 30
    num_layers: int = 4
    n_heads: int = 8
    ffn: int = 2048
    mix_dim: int = 64
    dense_hidden: int = 256
    dropout: float = 0.1
    query_mixer: str = "mamba_mhsa"
    num_mamba: int = 2
    point_init: str = "center"
    w_dense: float = 10.0
    eos_coef: float = 0.1
    nms_iou: float = 0.5
    max_per_window: int = 0  # keep the top-k detections of each window (0 = all Nq)


@dataclass
class Sequence:
    name: str
    split: str  # train / val / test
    num_frames: int
    fps: float
    feats: np.ndarray  # (T_tok, C)
    gt: np.ndarray  # (N, 3) [label, start_frame, end_frame] in the source's frames (SMG: label frames, 1-based)
    gt_tok: np.ndarray  # (N, 3) [label, start_tok, end_tok]


def load_sequences(cfg: OnlineConfig) -> list[Sequence]:
    """Every sequence of the dataset with cached encoder features and its GT in token units."""
    enc = cfg.encoder
    conv = dict(decode_fps=cfg.decode_fps, interval=cfg.interval)
    out = []
    if cfg.dataset == "smg":
        from mglib.data import smg

        root = Path(cfg.data_root) if cfg.data_root else paths.synthetic_dir("smg", cfg.profile)
        seqs = smg.read_root(root)
        feats = snippet_features(enc, f"smg:{paths.relative(root)}", {s.name: s.video for s in seqs}, cfg.decode_fps)
        train, val, test = split_subjects(seqs, cfg.num_val)
        for part, rows in (("train", train), ("val", val), ("test", test)):
            for s in rows:
                gt = s.labels.astype(np.float64).reshape(-1, 3)
                tok = np.stack([gt[:, 0], W.frames_to_tokens(gt[:, 1], s.fps, **conv),
                                W.frames_to_tokens(gt[:, 2], s.fps, **conv)], axis=1)
                out.append(Sequence(s.name, part, s.num_frames, s.fps, feats[s.name], gt, tok))
    elif cfg.dataset == "mma52":
        from mglib.data import mma52

        root = Path(cfg.data_root) if cfg.data_root else paths.synthetic_dir("mma52", cfg.profile)
        splits = mma52.read_root(root)
        videos = {v.video_id: mma52.video_path(root, sp, v.video_id) for sp, vs in splits.items() for v in vs}
        feats = snippet_features(enc, f"mma52:{paths.relative(root)}", videos, cfg.decode_fps)
        for sp, vs in splits.items():
            for v in vs:
                inst = np.asarray(v.instances, dtype=np.float64).reshape(-1, 3)  # [start, end, class], frames
                gt = inst[:, [2, 0, 1]]
                # MMA-52 frames are 0-based instants f / fps; frames_to_tokens expects 1-based, hence + 1
                tok = np.stack([gt[:, 0], W.frames_to_tokens(gt[:, 1] + 1, v.fps, **conv),
                                W.frames_to_tokens(gt[:, 2] + 1, v.fps, **conv)], axis=1)
                out.append(Sequence(v.video_id, sp, v.total_frames, v.fps, feats[v.video_id], gt, tok))
    else:
        raise ValueError(f"dataset {cfg.dataset!r}: expected 'smg' or 'mma52'")
    return out


def _target(t: np.ndarray) -> dict:
    return {"labels": torch.as_tensor(t[:, 0], dtype=torch.long),
            "segments": torch.as_tensor(t[:, 1:], dtype=torch.float32)}


class TrainWindows(Dataset):
    """Training windows of every sequence (stride window·(1 − overlap) + end-aligned; GT-less windows dropped)."""

    def __init__(self, seqs: list[Sequence], window: int, overlap: float):
        self.seqs, self.window = seqs, window
        self.items = [(i, st, t) for i, s in enumerate(seqs)
                      for st, t in W.training_windows(len(s.feats), s.gt_tok, window, overlap)]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, k):
        i, st, t = self.items[k]
        x = torch.from_numpy(W.slice_window(self.seqs[i].feats, st, self.window).astype(np.float32))
        return x, _target(t)


class TestWindows(Dataset):
    """Inference windows (no overlap + end-aligned) of every sequence: (features, sequence index, start)."""

    def __init__(self, seqs: list[Sequence], window: int):
        self.seqs, self.window = seqs, window
        self.items = [(i, st) for i, s in enumerate(seqs) for st in W.test_starts(len(s.feats), window)]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, k):
        i, st = self.items[k]
        x = torch.from_numpy(W.slice_window(self.seqs[i].feats, st, self.window).astype(np.float32))
        return x, {"seq": i, "start": st}


def collate(items):
    return torch.stack([x for x, _ in items]), [t for _, t in items]


@torch.no_grad()
def predict(model: PointTAD, loader, seqs: list[Sequence], window: int, max_per_window: int = 0,
            decode_fps: float = 10.0, interval: int = 4) -> dict[str, list]:
    """{sequence name: [[label, score, start_frame, end_frame], ...]} — every query's detection, frames as floats
    in the sequence's own frame units (SMG: 1-based label frames), before thresholding."""
    per_seq: dict[int, tuple[list, list]] = {}
    device = next(model.parameters()).device
    for x, meta in loader:
        labels, scores, se = detections(model(x.to(device)))
        for b, m in enumerate(meta):
            d = torch.cat([labels[b, :, None].float(), scores[b, :, None], se[b]], dim=1).cpu().numpy()
            if max_per_window > 0:
                d = d[np.argsort(-d[:, 1], kind="stable")[:max_per_window]]
            starts, dets = per_seq.setdefault(int(m["seq"]), ([], []))
            starts.append(int(m["start"]))
            dets.append(d)
    out = {}
    for i, s in enumerate(seqs):
        starts, dets = per_seq.get(i, ([], []))
        merged = W.merge_detections(starts, window, dets)
        frames = W.tokens_to_frames(merged[:, 2:], s.fps, decode_fps, interval)
        out[s.name] = [[int(r[0]), float(r[1]), float(f[0]), float(f[1])] for r, f in zip(merged, frames)]
    return out


def prediction_rows(dets: list, tau: float, nms_iou: float | None, num_frames: int) -> list[tuple[int, int, int]]:
    """Detections of one sequence → the F1 prediction list [(label0, start, end)] in integer frames."""
    return W.frame_rows(W.select(np.asarray(dets, dtype=np.float64).reshape(-1, 4), tau, nms_iou), num_frames)


def f1_at(preds: dict, seqs: list[Sequence], tau: float, nms_iou: float | None, protocol: str = "smg") -> dict:
    from mglib.metrics import online_f1

    gt = {s.name: [tuple(int(v) for v in r) for r in s.gt] for s in seqs}
    pr = {s.name: prediction_rows(preds.get(s.name, []), tau, nms_iou, s.num_frames) for s in seqs}
    return online_f1(gt, pr, protocol=protocol)


def choose_tau(preds: dict, seqs: list[Sequence], nms_iou: float | None, grid=TAU_GRID) -> tuple[float, dict]:
    """The τ of ``grid`` with the best `smg` F1 on these (validation) sequences; ties → the larger τ."""
    best = None
    for tau in grid:
        r = f1_at(preds, seqs, tau, nms_iou)
        if best is None or r["f1"] >= best[1]["f1"]:
            best = (tau, r)
    return best


def trivial_baseline(train: list[Sequence], seqs: list[Sequence]) -> dict[str, list]:
    """A video-blind baseline: tile each sequence with segments of the mean training GT length, all labelled with
    the most frequent training class. Returns {name: [(label0, start, end)]}."""
    gts = np.concatenate([s.gt for s in train])
    label = int(np.bincount(gts[:, 0].astype(int)).argmax())
    length = max(1, int(round(float(np.mean(gts[:, 2] - gts[:, 1])))))
    return {s.name: [(label, a, min(a + length, s.num_frames)) for a in range(1, s.num_frames + 1, length)]
            for s in seqs}


class OnlineTask(Task):
    name = "online"
    Config = OnlineConfig

    def __init__(self, cfg: OnlineConfig):
        super().__init__(cfg)
        self._seqs = None

    def sequences(self) -> list[Sequence]:
        if self._seqs is None:
            self._seqs = load_sequences(self.cfg)
        return self._seqs

    def split(self, part: str) -> list[Sequence]:
        return [s for s in self.sequences() if s.split == part]

    def model_config(self) -> PointTADConfig:
        c = self.cfg
        num_classes = 17 if c.dataset == "smg" else 52
        return PointTADConfig(num_classes=num_classes, in_dim=feature_dim(c.encoder), hidden=c.hidden,
                              num_queries=c.num_queries, num_points=c.num_points, num_layers=c.num_layers,
                              n_heads=c.n_heads, ffn=c.ffn, dropout=c.dropout, mix_dim=c.mix_dim,
                              dense_hidden=c.dense_hidden, query_mixer=c.query_mixer, num_mamba=c.num_mamba,
                              point_init=c.point_init)

    def build_model(self):
        return PointTAD(self.model_config())

    def datasets(self):
        c = self.cfg
        train = TrainWindows(self.split("train"), c.window, c.overlap)
        if len(train) == 0:
            from mglib.errors import InputError

            raise InputError(f"window={c.window}: no training window holds a complete ground truth")
        return train, TestWindows(self.split("val"), c.window)

    def collate(self, items):
        return collate(items)

    def loss(self, model, batch):
        x, targets = batch
        lc = LossConfig(w_dense=self.cfg.w_dense, eos_coef=self.cfg.eos_coef)
        return pointtad_loss(model(x), targets, lc)

    def predict(self, model, part: str) -> dict[str, list]:
        from torch.utils.data import DataLoader

        seqs = self.split(part)
        loader = DataLoader(TestWindows(seqs, self.cfg.window), batch_size=8, collate_fn=collate)
        return predict(model, loader, seqs, self.cfg.window, self.cfg.max_per_window, self.cfg.decode_fps,
                       self.cfg.interval)

    def evaluate(self, model, loader):
        c = self.cfg
        seqs = loader.dataset.seqs
        preds = predict(model, loader, seqs, c.window, c.max_per_window, c.decode_fps, c.interval)
        if c.dataset == "mma52":
            m = detection_metrics(preds, seqs)
            return {"score": m["mAP"], **m}, preds
        tau, r = choose_tau(preds, seqs, c.nms_iou)
        strict = f1_at(preds, seqs, tau, c.nms_iou, "strict")
        return {"score": r["f1"], "f1": r["f1"], "f1_strict": strict["f1"], "tau": tau,
                "precision": r["precision"], "recall": r["recall"]}, preds


def detection_metrics(preds: dict, seqs: list[Sequence]) -> dict:
    """MMA-52: ActivityNet-style detection mAP (tIoU 0.1…0.9) on seconds; frames are 0-based instants f / fps."""
    from mglib.metrics import detection_map

    gt = {"database": {s.name: {"subset": s.split, "annotations": [
        {"segment": [float(r[1]) / s.fps, float(r[2]) / s.fps], "label": int(r[0])} for r in s.gt]}
        for s in seqs}}
    res = {"results": {s.name: [{"segment": [(d[2] - 1) / s.fps, (d[3] - 1) / s.fps], "label": int(d[0]),
                                 "score": float(d[1])} for d in preds.get(s.name, [])] for s in seqs}}
    r = detection_map(gt, res)
    return {"mAP": float(r["average_mAP"] if "average_mAP" in r else r["mAP"])}
