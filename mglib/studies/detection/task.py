"""The detection runs: the training-engine task of one setting and seed, and the cached runs of the chapters.

A setting's model: the (frozen / adapted / fine-tuned) ViT, spatially pooled to one feature per tubelet, feeding an
ActionFormer head (TemporalMaxer: the same head with a max-pooling pyramid); or a head alone on the frozen ViT's
cached snippet features (snippet, TemporalMaxer, PointTAD). Each run is scored at action and body level by
``mglib.metrics``; runs live under ``results/cache/detection/<profile>/``, keyed by their resolved config, so a
second execution re-reads them.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from mglib import paths
from mglib.models import actionformer as AF
from mglib.models import adapters as A
from mglib.models.vit import VideoViT, load_videomae
from mglib.studies.detection.config import (FEATURE_VARIANTS, DetectionConfig, StudyConfig, resolve_path, seeds_of,
                                            setting_config)
from mglib.studies.detection.data import (DetectionData, Video, collate, data_root, dataset_id, grid_to_seconds,
                                          ground_truth, load_split, prior_baseline, to_tensor)
from mglib.studies.detection.pretrain import pretrained_backbone, run_dir
from mglib.train.config import to_dict
from mglib.train.task import Task

THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


class Detector(nn.Module):
    """(frozen / adapted / fine-tuned) ViT → spatially pooled features (B, C, L) → ActionFormer."""

    def __init__(self, vit: VideoViT | None, head: AF.ActionFormer):
        super().__init__()
        self.vit, self.head = vit, head

    def forward(self, x, segments=None, labels=None):
        f = (self.vit.features(x) if self.vit is not None else x).float()
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
    """The multi-label baseline of Table 3: PointTAD (from the online study) on the frozen ViT's snippet features.

    Deviation: the paper's PointTAD row trains an I3D end to end; here it reads cached features like the other
    snippet rows. Its runs are scored twice: by the OpenTAD rules like every row, and by PointTAD's own rules.
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
            lab, score, se = topk_detections(out, self.topk) if self.topk else detections(out)
            grid = se * self.length - 0.5  # window units [0, 1] → ActionFormer's grid convention
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


def predictions(model: nn.Module, loader, videos: list[Video], length: int) -> dict:
    """ActivityNet results dict (seconds, integer labels) for every video of ``loader``."""
    results = {}
    model.eval()
    for batch in loader:
        for i, (segs, scores, labels) in zip(batch["index"].tolist(), model(batch["x"])):
            v = videos[i]
            sec = grid_to_seconds(segs.cpu().numpy(), v.duration, length)
            results[v.video_id] = [{"segment": [round(float(a), 4), round(float(b), 4)], "label": int(c),
                                    "score": round(float(s), 6)}
                                   for (a, b), s, c in zip(sec, scores.tolist(), labels.tolist()) if b > a]
    return {"results": results}


def table3_metrics(gt: dict, preds: dict, protocol: str = "opentad") -> dict:
    """Flat metrics: ``<level>/mAP@t`` for t = 0.1..0.9, ``<level>/average_mAP`` at action and body level, and
    ``AVG`` = the mean of the two averages (the MMAD paper's Table 3)."""
    from mglib.metrics.detection import detection_map

    out = {}
    for level in ("action", "body"):
        r = detection_map(gt, preds, THRESHOLDS, protocol, level=level, num_classes=52)
        out.update({f"{level}/mAP@{t}": m for t, m in zip(r["tiou"], r["mAP"])})
        out[f"{level}/average_mAP"] = r["average_mAP"]
    out["AVG"] = (out["action/average_mAP"] + out["body/average_mAP"]) / 2
    return out


class DetectionTask(Task):
    name = "detection"
    Config = DetectionConfig

    # backbone ---------------------------------------------------------------------------------------------------
    def backbone_path(self) -> Path:
        if self.cfg.backbone_ckpt:
            return resolve_path(self.cfg.backbone_ckpt)
        return pretrained_backbone(self.cfg) / "vit.safetensors"

    def load_vit(self) -> VideoViT:
        vit = VideoViT(self.cfg.vit)
        path = self.backbone_path()
        if path.suffix == ".safetensors":  # a backbone pretrained here: exactly this ViT's keys
            from safetensors.torch import load_file

            vit.load_state_dict(load_file(str(path)))
        else:
            load_videomae(vit, path)
        return vit

    @property
    def length(self) -> int:
        return self.cfg.data.window_frames // self.cfg.vit.tubelet

    def head_config(self) -> AF.ActionFormerConfig:
        pyramid = "maxpool" if self.cfg.variant == "temporalmaxer" else "transformer"
        return dataclasses.replace(self.cfg.head, in_dim=self.cfg.vit.dim, max_seq_len=self.length, pyramid=pyramid)

    # engine hooks -----------------------------------------------------------------------------------------------
    def build_model(self):
        c = self.cfg
        vit = self.load_vit() if c.variant not in FEATURE_VARIANTS else None
        torch.manual_seed(c.optim.seed)  # same head init whether or not pretraining just ran
        if c.variant == "pointtad":
            from mglib.models.pointtad import PointTADConfig

            h = c.pointtad_hidden
            return PointTADDetector(PointTADConfig(num_classes=52, in_dim=c.vit.dim, hidden=h, num_queries=24,
                                                   num_points=30, num_layers=2, ffn=4 * h, n_heads=4, mix_dim=16,
                                                   dense_hidden=h, query_mixer="mhsa"), self.length, c.pointtad_topk)
        if c.variant in A.KINDS:
            A.add_adapters(vit, dataclasses.replace(c.adapter, kind=c.variant))
            A.freeze_except_adapters(vit)
        return Detector(vit, AF.ActionFormer(self.head_config()))

    def snippet_features(self, videos: list[Video], split: str) -> dict[str, np.ndarray]:
        from mglib.train.features import cached_features

        vit = self.load_vit().eval()
        by_id = {v.video_id: v for v in videos}

        def extract(vid):
            with torch.no_grad():
                return vit.features(to_tensor(by_id[vid].frames)[None])[0].numpy()

        params = {"kind": "vit-features", "window": self.cfg.data.window_frames, "vit": to_dict(self.cfg.vit),
                  "crop": self.cfg.data.person_crop, "split": split}
        return cached_features(self.backbone_path(), dataset_id(data_root(self.cfg.data)), params, list(by_id),
                               extract)

    def datasets(self):
        c = self.cfg
        train, val = (load_split(c.data, s, c.vit.img_size, c.vit.num_frames) for s in ("train", "val"))
        ft = fv = None
        if c.variant in FEATURE_VARIANTS:
            ft, fv = self.snippet_features(train, "train"), self.snippet_features(val, "val")
        return DetectionData(train, self.length, ft), DetectionData(val, self.length, fv)

    def collate(self, items):
        return collate(items)

    def loss(self, model, batch):
        return model(batch["x"], batch["segments"], batch["labels"])

    def param_groups(self, model):
        c = self.cfg
        groups = {}
        for n, p in model.named_parameters():
            if not p.requires_grad:
                continue
            part = "adapter" if ".adapter." in f".{n}" else ("backbone" if n.startswith("vit.") else "head")
            no_wd = p.ndim <= 1 or n.endswith(".bias")  # norms, biases, α/β/γ and level scales
            groups.setdefault((part, no_wd), []).append(p)
        lr = {"adapter": c.adapter_lr, "backbone": c.backbone_lr, "head": c.optim.lr}
        return [{"params": ps, "lr": lr[part], "weight_decay": 0.0 if no_wd else c.optim.weight_decay}
                for (part, no_wd), ps in groups.items()]

    def evaluate(self, model, loader):
        videos = loader.dataset.videos
        preds = predictions(model, loader, videos, self.length)
        gt = ground_truth(videos)
        metrics = table3_metrics(gt, preds)
        if self.cfg.variant == "pointtad":  # PointTAD's own evaluator rules (no cleaning, union + 1e-4)
            metrics.update({f"pointtad_eval/{k}": v for k, v in table3_metrics(gt, preds, "pointtad").items()})
        metrics["score"] = metrics["AVG"]
        return metrics, preds


# --- runs -----------------------------------------------------------------------------------------------------------

def run_detection(cfg: DetectionConfig) -> tuple[dict, Path]:
    """Train (or reuse) one detection run in the results cache; returns (metrics, run folder)."""
    from mglib.train.engine import fit

    out = run_dir(f"det-{cfg.variant}", cfg)
    return fit(DetectionTask(cfg), out, reuse=True), out


def trainable_params(cfg: DetectionConfig) -> int:
    """Trainable parameters of the backbone part: the adapters, the whole ViT for "full", none on features."""
    if cfg.variant in FEATURE_VARIANTS:
        return 0
    vit = VideoViT(cfg.vit)
    if cfg.variant in A.KINDS:
        A.add_adapters(vit, dataclasses.replace(cfg.adapter, kind=cfg.variant))
        A.freeze_except_adapters(vit)
    return A.count_params(vit)


@dataclass
class Runs:
    """Everything a chapter shows: one row per run, the trivial baseline per amplitude, the backbone's record."""
    study: StudyConfig
    rows: list[dict]  # setting, seed, amplitude, run (folder), params, then the flat metrics of table3_metrics
    prior: dict[float, dict]  # amplitude -> flat metrics of the class-prior detector
    backbone: dict = field(default_factory=dict)  # probe, pretraining history (no checkpoint given)
    data: dict = field(default_factory=dict)  # counts of the data the runs saw


def _prior(cfg: DetectionConfig) -> tuple[dict, dict]:
    c = cfg
    train, val = (load_split(c.data, s, c.vit.img_size, c.vit.num_frames) for s in ("train", "val"))
    L = c.data.window_frames // c.vit.tubelet
    steps = np.array([(e - s) / v.duration * L for v in train for s, e, _ in v.instances])
    counts = {"train_videos": len(train), "val_videos": len(val), "train_instances": len(steps),
              "val_instances": int(sum(len(v.instances) for v in val)), "feature_steps": L,
              "median_instance_steps": float(np.median(steps)), "share_below_one_step": float(np.mean(steps < 1))}
    return table3_metrics(ground_truth(val), prior_baseline(train, val)), counts


def _row(cfg: DetectionConfig, setting: str) -> dict:
    m, out = run_detection(cfg)
    return {"setting": setting, "seed": cfg.optim.seed, "amplitude": cfg.data.amplitude, "run": paths.relative(out),
            "params": trainable_params(cfg), "train_time_s": m["timing"]["wall_time_s"],
            **{k: v for k, v in m.items() if "/" in k or k == "AVG"}}


def backbone_record(cfg: DetectionConfig) -> dict:
    if cfg.backbone_ckpt:
        return {}
    folder = pretrained_backbone(cfg)
    history = json.loads((folder / "metrics.json").read_text())["history"]
    return {"probe": json.loads((folder / "probe.json").read_text()), "run": paths.relative(folder),
            "history": [{"epoch": h["epoch"], "train_loss": h["train_loss"], **h["eval"]} for h in history]}


def run(study: StudyConfig) -> Runs:
    """Chapter 30: every setting × seed (cached), the trivial baseline and the backbone's pretraining and probe."""
    backbone = backbone_record(study.detection)
    rows = [_row(setting_config(study, s, seed), s) for s in study.settings for seed in seeds_of(study, s)]
    prior, counts = _prior(study.detection)
    return Runs(study, rows, {study.detection.data.amplitude: prior}, backbone, counts)


def run_sweep(study: StudyConfig) -> Runs:
    """Chapter 31: the sweep settings × seeds at every amplitude, each on data rendered at that amplitude, all with
    the one backbone pretrained at the study's own amplitude (frozen, like a VideoMAE checkpoint)."""
    base = study.detection
    rows, prior = [], {}
    for amp in study.sweep_amplitudes:
        for s in study.sweep_settings:
            for seed in study.sweep_seeds:
                cfg = setting_config(study, s, seed)
                if amp != base.data.amplitude:  # other data, the study's backbone (its file names the run)
                    ckpt = base.backbone_ckpt or paths.relative(pretrained_backbone(base) / "vit.safetensors")
                    cfg = dataclasses.replace(cfg, backbone_ckpt=ckpt,
                                              data=dataclasses.replace(cfg.data, amplitude=amp))
                rows.append(_row(cfg, s))
        prior[amp] = _prior(dataclasses.replace(base, data=dataclasses.replace(base.data, amplitude=amp)))[0]
    return Runs(study, rows, prior, backbone_record(base))
