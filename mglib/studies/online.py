"""Study 2 — micro-gesture online recognition on SMG: PointTAD (+ Mamba-MHSA) over sliding windows of cached
snippet features. Also runs on the MMA-52 stand-in with the official MMA-52 baseline settings.

Taught in the book chapters ``20_online`` and ``21_online_ablations``. ``python -m mglib train online`` runs
:class:`OnlineTask` through the training engine.

Pipeline: long sequence → frames at ``decode_fps`` → frozen encoder → tokens (stride ``interval`` = 4) →
training windows (overlap 0.75, windows without a complete GT dropped) / test windows (no overlap + end-aligned)
→ PointTAD → one detection per query → merged on the sequence → score ≥ τ and same-class NMS (tIoU 0.5) →
``label,start,end`` rows in label frames (architectures.md §8.1 #8, #9). τ is chosen on validation subjects
(training-range subjects 31–35, ``mglib.data.smg.VAL_SUBJECTS``), never on test.
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
from mglib.studies.encoder import EncoderConfig, feature_dim, snippet_features, split_subjects, torch_threads
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


def online_config(profile: str, data_root: str = "", encoder_weights: str = "", seed: int = 0, epochs: int = 50,
                  lr: float = 1e-4, lr_step: int = 10, batch_size: int = 1, **fields) -> OnlineConfig:
    """OnlineConfig from a notebook's parameters: the profile's encoder (``encoder_config``), the optimiser
    (lr halved every ``lr_step`` epochs, as in the paper) and any OnlineConfig ``fields`` (window, num_queries …)."""
    from dataclasses import replace

    from mglib.studies.encoder import encoder_config

    base = OnlineConfig()
    optim = replace(base.optim, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, gamma=0.5,
                    milestones=tuple(range(lr_step, epochs, lr_step)))
    return replace(base, optim=optim, profile=profile, data_root=data_root,
                   encoder=encoder_config(profile, encoder_weights, data_root), **fields)


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
        train, val, test = split_subjects(seqs)  # val: subjects 31-35 (τ)
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
    """MMA-52 validation score: ActivityNet-style detection mAP (tIoU 0.1…0.9, PointTAD evaluator)."""
    from mglib.metrics import POINTTAD_TIOU, detection_map

    r = detection_map(*activitynet_dicts(preds, seqs), tiou=POINTTAD_TIOU, protocol="pointtad", num_classes=52)
    return {"mAP": float(r["average_mAP"])}


# ----------------------------------------------------------------------------------------------- study runs
# Paper 000/003 (liu2024online, arXiv 2407.04490): F1 in % on the SMG test set. Table 1 = the MiGA 2024 track-2
# leaderboard (the paper's own entry is PointTAD + Mamba-MHSA); Table 2 = its ablations (other settings at the
# defaults Nq 48, Ns 30, β 128, L 4, M 2). Shown in the book only in columns labelled "reported".
REPORTED = {
    "citation": "Liu et al. 2024, Micro-gesture Online Recognition using Learnable Query Points, Tables 1 and 2",
    "table1": {"NPU-MUCIS (1st)": 27.57, "HFUT-VUT: PointTAD + Mamba-MHSA (2nd)": 14.34, "JDY203 (3rd)": 9.28},
    "table2": {"num_points": {25: 11.33, 27: 13.48, 30: 14.34, 31: 13.49, 32: 13.43, 35: 9.81},
               "window": {16: 7.33, 32: 8.45, 64: 9.27, 128: 14.34, 200: 7.95},
               "num_layers": {2: 8.3, 3: 11.96, 4: 14.34, 5: 10.01},
               "num_mamba": {1: 8.42, 2: 14.34, 3: 9.22}},
}

_SEQ_CACHE: dict = {}


def mixer_available(query_mixer: str) -> bool:
    """``mhsa`` always; ``mamba_mhsa`` once ``mglib.models.mamba`` is importable."""
    if query_mixer != "mamba_mhsa":
        return query_mixer == "mhsa"
    try:
        from mglib.models.mamba import MambaMHSA  # noqa: F401
    except ImportError:
        return False
    return True


def cached_sequences(cfg: OnlineConfig) -> list[Sequence]:
    """:func:`load_sequences`, memoised per (dataset, root, encoder, decoding) for runs in one process."""
    from mglib.train.config import to_dict

    key = (cfg.dataset, cfg.profile, cfg.data_root, cfg.decode_fps, cfg.interval, str(to_dict(cfg.encoder)))
    if key not in _SEQ_CACHE:
        _SEQ_CACHE[key] = load_sequences(cfg)
    return _SEQ_CACHE[key]


def run_dir(cfg: OnlineConfig) -> Path:
    import hashlib
    import json

    from mglib.train.config import to_dict

    digest = hashlib.sha256(json.dumps(to_dict(cfg), sort_keys=True).encode()).hexdigest()[:16]
    return paths.CACHE / "online" / cfg.profile / f"{cfg.dataset}_{cfg.query_mixer}_{digest}"


def _fit(cfg: OnlineConfig):
    """(task, engine metrics) or (task, the NonFiniteLossError message) when ``optim.nonfinite="stop"`` fires."""
    from mglib.train.engine import NonFiniteLossError, fit

    task = OnlineTask(cfg)
    task._seqs = cached_sequences(cfg)
    try:
        return task, fit(task, run_dir(cfg), reuse=True)
    except NonFiniteLossError as e:
        return task, str(e)


def training_trace(fit_metrics: dict) -> dict:
    """Loss per epoch, the gradient norm of every optimizer step (None = skipped) and the skipped-step count."""
    hist = fit_metrics["history"]
    return {"train_loss": [h["train_loss"] for h in hist],
            "grad_norms": [v for h in hist for v in h["grad_norms"] or []],
            "grad_norm_max": [h["grad_norm"]["max"] for h in hist],
            "skipped_steps": int(fit_metrics["skipped_steps"]), "best_epoch": fit_metrics["best_epoch"]}


def run_online(cfg: OnlineConfig, predictions_dir: Path | None = None) -> dict:
    """Study 2 on SMG: train PointTAD (best epoch by validation F1), choose τ on the validation subjects (never
    on test), then F1 (smg and strict protocols) on the test subjects. With ``predictions_dir``, writes one
    ``SampleXXXX_prediction.csv`` per test sequence (what ``python -m mglib eval online`` scores).

    Returns ``status`` ("ok" or "stopped" with ``error``), ``tau``, ``val`` / ``test`` / ``test_strict`` F1 dicts
    (precision, recall, f1), ``trace`` (:func:`training_trace`) and ``test_detections`` (raw per-query detections).
    Chapter: notebooks/20_online.
    """
    with torch_threads(cfg.encoder.threads):
        return _run_online(cfg, predictions_dir)


def _run_online(cfg: OnlineConfig, predictions_dir: Path | None) -> dict:
    from mglib.train.engine import load_model

    if cfg.dataset != "smg":
        raise ValueError("run_online is the SMG study; MMA-52 goes through run_pointtad_mma52")
    task, fm = _fit(cfg)
    if isinstance(fm, str):
        return {"status": "stopped", "error": fm}
    model = load_model(task, run_dir(cfg), "best")
    val, test = task.split("val"), task.split("test")
    tau, val_r = choose_tau(task.predict(model, "val"), val, cfg.nms_iou)
    dets = task.predict(model, "test")
    out = {"status": "ok", "tau": tau, "val": _prf(val_r), "trace": training_trace(fm), "test_detections": dets}
    for proto, key in (("smg", "test"), ("strict", "test_strict")):
        out[key] = _prf(f1_at(dets, test, tau, cfg.nms_iou, proto))
    if predictions_dir is not None:
        write_prediction_files(predictions_dir, {s.name: prediction_rows(dets[s.name], tau, cfg.nms_iou,
                                                                         s.num_frames) for s in test})
    return out


def _prf(r: dict) -> dict:
    return {k: float(r[k]) for k in ("precision", "recall", "f1")} | {"num_pred": int(r["num_pred"])}


def write_prediction_files(directory: Path, rows: dict[str, list]) -> list[Path]:
    """``SampleXXXX_prediction.csv`` per sequence (0-based labels here, raw 1-17 in the files)."""
    from mglib.data.smg import write_predictions

    return [write_predictions(directory, name, r) for name, r in rows.items()]


def write_ground_truth(directory: Path, seqs: list[Sequence]) -> None:
    """``SampleXXXX/SampleXXXX_finelabels.csv`` of ``seqs`` (e.g. only the test subjects) for the eval CLI."""
    from mglib.data.smg import write_labels

    for s in seqs:
        (Path(directory) / s.name).mkdir(parents=True, exist_ok=True)
        write_labels(Path(directory) / s.name / f"{s.name}_finelabels.csv", s.gt.astype(np.int64))


def baseline_f1(cfg: OnlineConfig) -> dict:
    """F1 (smg, strict) on the test subjects of :func:`trivial_baseline` fitted on the training subjects."""
    from mglib.metrics import online_f1

    seqs = cached_sequences(cfg)
    train = [s for s in seqs if s.split == "train"]
    test = [s for s in seqs if s.split == "test"]
    gt = {s.name: [tuple(int(v) for v in r) for r in s.gt] for s in test}
    pr = trivial_baseline(train, test)
    return {"test": _prf(online_f1(gt, pr, "smg")), "test_strict": _prf(online_f1(gt, pr, "strict"))}


def seeds_table(cfg: OnlineConfig, seeds: list[int], mixers: list[str]) -> list[dict]:
    """One row per (query mixer, seed): τ, validation F1 and test F1 (smg, strict). Mixers that cannot be
    imported are skipped by the caller (see :func:`mixer_available`)."""
    from dataclasses import replace

    rows = []
    for mixer in mixers:
        for seed in seeds:
            c = replace(cfg, query_mixer=mixer, optim=replace(cfg.optim, seed=seed))
            r = run_online(c)
            row = {"model": "PointTAD" if mixer == "mhsa" else "PointTAD + Mamba-MHSA", "seed": seed,
                   "status": r["status"]}
            if r["status"] == "ok":
                row |= {"tau": r["tau"], "val_f1": r["val"]["f1"], "f1": r["test"]["f1"],
                        "f1_strict": r["test_strict"]["f1"], "skipped_steps": r["trace"]["skipped_steps"]}
            rows.append(row)
    return rows


ABLATION_FIELDS = {"num_points": "Ns", "window": "β (tokens)", "num_layers": "L", "num_mamba": "M"}


def ablation(cfg: OnlineConfig, field_name: str, values: list, seeds: list[int]) -> list[dict]:
    """Table 2 of the paper: vary one setting of ``cfg``, all else fixed; one row per (value, seed) with the test
    F1 at the validation τ, the training trace and the run status ("stopped" when the NaN guard halted it)."""
    from dataclasses import replace

    if field_name not in ABLATION_FIELDS:
        raise ValueError(f"ablation field {field_name!r}: expected one of {list(ABLATION_FIELDS)}")
    rows = []
    for v in values:
        for seed in seeds:
            c = replace(cfg, **{field_name: v}, optim=replace(cfg.optim, seed=seed))
            r = run_online(c)
            row = {"field": field_name, "value": v, "seed": seed, "status": r["status"]}
            if r["status"] == "ok":
                row |= {"tau": r["tau"], "f1": r["test"]["f1"], "f1_strict": r["test_strict"]["f1"],
                        "skipped_steps": r["trace"]["skipped_steps"],
                        "max_grad_norm": max((g for g in r["trace"]["grad_norms"] if g is not None), default=None),
                        "grad_norms": r["trace"]["grad_norms"]}
            else:
                row["error"] = r["error"]
            rows.append(row)
    return rows


def plot_timeline(seq: Sequence, pred_rows: list, ax=None, num_classes: int = 17):
    """Ground truth (top lane) and predictions (bottom lane) of one sequence as coloured bars on a frame axis."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(8, 2.2))[1]
    cmap = plt.get_cmap("tab20", num_classes)
    for lane, rows in ((1, seq.gt), (0, pred_rows)):
        for lab, s, e in np.asarray(rows, dtype=np.float64).reshape(-1, 3):
            ax.barh(lane, e - s + 1, left=s, height=0.6, color=cmap(int(lab)), edgecolor="k", linewidth=0.3)
            ax.text((s + e) / 2, lane, str(int(lab)), ha="center", va="center", fontsize=6)
    ax.set_yticks([0, 1], ["predicted", "ground truth"])
    ax.set_xlim(1, seq.num_frames)
    ax.set_xlabel(f"label frame ({seq.fps:g} fps)")
    ax.set_title(seq.name)
    return ax


# ----------------------------------------------------------------------------------------------- MMA-52
def mma52_config(profile: str = "cpu", data_root: str = "", seed: int = 0, **overrides) -> OnlineConfig:
    """The official MMA-52 PointTAD baseline settings (Nq 24, Ns 30, 2 decoder layers, window 48 tokens of 4
    frames at 25 fps, PointTAD's MHSA), with the width and schedule scaled for CPU unless ``profile == "gpu"``."""
    from dataclasses import replace

    from mglib.studies.encoder import encoder_config

    # the encoder is the SMG-pretrained one of chapter 04 (the MMA-52 root only supplies the videos to encode)
    cfg = OnlineConfig(dataset="mma52", profile=profile, data_root=data_root, decode_fps=25.0, window=48,
                       num_queries=24, num_points=30, num_layers=2, query_mixer="mhsa",
                       encoder=encoder_config(profile))
    if profile != "gpu":
        cfg = replace(cfg, hidden=64, n_heads=4, ffn=128, mix_dim=16, dense_hidden=64,
                      optim=replace(cfg.optim, epochs=12, batch_size=8, lr=1e-3, milestones=(8,)))
    cfg = replace(cfg, optim=replace(cfg.optim, seed=seed))
    optim = {k[6:]: v for k, v in overrides.items() if k.startswith("optim.")}
    rest = {k: v for k, v in overrides.items() if not k.startswith("optim.")}
    return replace(cfg, **rest, optim=replace(cfg.optim, **optim))


def run_pointtad_mma52(profile: str = "cpu", data_root: str = "", seed: int = 0, **overrides) -> dict:
    """PointTAD on MMA-52 (or its synthetic stand-in): train on train, pick the epoch on val, score the test split.

    Returns ``{"pointtad": {"action": {mAP@0.1…0.9, average_mAP}, "body": {...}}`` — PointTAD's evaluator
    (``protocol="pointtad"``, ``tiou=mglib.metrics.POINTTAD_TIOU``) — ``"opentad"``: the MMAD paper's Table 3
    figures (:func:`mglib.metrics.mmad_table3`), plus ``num_test_videos``, ``val_mAP`` and ``config``.
    ``overrides``: OnlineConfig fields, ``optim.<field>`` for the optimiser. Chapter: notebooks/20_online.
    """
    cfg = mma52_config(profile, data_root, seed, **overrides)
    with torch_threads(cfg.encoder.threads):
        return _run_mma52(cfg)


def _run_mma52(cfg: OnlineConfig) -> dict:
    from mglib.metrics import POINTTAD_TIOU, detection_map, mmad_table3
    from mglib.train.config import to_dict
    from mglib.train.engine import load_model

    task, fm = _fit(cfg)
    if isinstance(fm, str):
        return {"status": "stopped", "error": fm, "config": to_dict(cfg)}
    model = load_model(task, run_dir(cfg), "best")
    test = task.split("test")
    gt, res = activitynet_dicts(task.predict(model, "test"), test)
    out = {"status": "ok", "pointtad": {}, "num_test_videos": len(test), "val_mAP": float(fm["best_score"]),
           "config": to_dict(cfg)}
    for level in ("action", "body"):
        r = detection_map(gt, res, tiou=POINTTAD_TIOU, protocol="pointtad", level=level, num_classes=52)
        out["pointtad"][level] = {f"mAP@{t:.1f}": float(m) for t, m in zip(r["tiou"], r["mAP"])}
        out["pointtad"][level]["average_mAP"] = float(r["average_mAP"])
    out["opentad"] = mmad_table3(gt, res, protocol="opentad")
    return out


def activitynet_dicts(preds: dict, seqs: list[Sequence]) -> tuple[dict, dict]:
    """MMA-52 ground truth and detections in the ActivityNet layout, seconds. GT frames are 0-based with an
    exclusive end (s / fps … e / fps); predicted positions come back from :func:`predict` as ``1 + f`` (the
    1-based label-frame convention of :mod:`mglib.windows`), hence the − 1."""
    gt = {"database": {s.name: {"subset": s.split, "duration": s.num_frames / s.fps, "annotations": [
        {"segment": [float(r[1]) / s.fps, float(r[2]) / s.fps], "label": int(r[0])} for r in s.gt]}
        for s in seqs}}
    res = {"results": {s.name: [{"segment": [(d[2] - 1) / s.fps, (d[3] - 1) / s.fps], "label": int(d[0]),
                                 "score": float(d[1])} for d in preds.get(s.name, [])] for s in seqs}}
    return gt, res


def seeds_summary(rows: list[dict], base: dict) -> tuple[list[dict], str]:
    """Mean ± std (over seeds) of test F1 per model beside the trivial baseline, in %, and a generated sentence:
    is each model above the baseline (mean − std > baseline), and does Mamba-MHSA beat PointTAD as in the paper?"""
    ok = [r for r in rows if r["status"] == "ok"]
    out, stats = [], {}
    for model in dict.fromkeys(r["model"] for r in ok):
        f = np.array([[r["f1"], r["f1_strict"]] for r in ok if r["model"] == model]) * 100
        m, s = f.mean(0), (f.std(0, ddof=1) if len(f) > 1 else np.zeros(2))
        stats[model] = (m, s)
        out.append({"model": model, "F1 % (smg)": f"{m[0]:.2f} ± {s[0]:.2f}",
                    "F1 % (strict)": f"{m[1]:.2f} ± {s[1]:.2f}", "runs": len(f),
                    # fractions, for the run record (the strings above are for display)
                    "f1_mean": m[0] / 100, "f1_std": s[0] / 100, "f1_strict_mean": m[1] / 100,
                    "f1_strict_std": s[1] / 100})
    b = 100 * np.array([base["test"]["f1"], base["test_strict"]["f1"]])
    out.append({"model": "trivial baseline", "F1 % (smg)": f"{b[0]:.2f}", "F1 % (strict)": f"{b[1]:.2f}", "runs": 1,
                "f1_mean": b[0] / 100, "f1_std": 0.0, "f1_strict_mean": b[1] / 100, "f1_strict_std": 0.0})
    words = []
    for model, (m, s) in stats.items():
        verdict = "clearly above" if m[0] - s[0] > b[0] else ("above, within one std of," if m[0] > b[0] else
                                                                 "not above")
        words.append(f"{model}: {verdict} the trivial baseline (smg F1 {m[0]:.2f} vs {b[0]:.2f}).")
    if len(stats) == 2:
        (m1, s1), (m2, s2) = stats["PointTAD"], stats["PointTAD + Mamba-MHSA"]
        if m2[0] - s2[0] > m1[0] + s1[0]:
            words.append("Mamba-MHSA beats PointTAD beyond the seed spread, as in the paper.")
        elif m2[0] > m1[0]:
            words.append("Mamba-MHSA is ahead on the mean but within the seed spread: the paper's gain is not "
                         "clearly reproduced here.")
        else:
            words.append("Mamba-MHSA is not ahead of PointTAD here: the paper's gain does not reproduce on this data.")
    return out, " ".join(words)
