"""Study 1 as tasks of the training engine, and its cached runs.

Every model is trained by :func:`mglib.train.engine.fit` into a run folder under ``results/cache/classification/``
named by the hash of its resolved config (``reuse=True``: the same config is trained once, whichever chapter asks).
The engine keeps the weights of the epoch with the best validation top-1 (model selection on validation); the
test split is then scored once with those weights and stored beside them (``test.json``). The two-stream models
follow the paper's recipe: the RGB and pose single-stream models of the same seed are trained first and initialise
them.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F

from mglib import paths, records
from mglib.errors import InputError
from mglib.models.cmf import fusion_modules
from mglib.models.poseconv3d import RGBPoseConfig, RGBPoseConv3D, Recognizer3D, pose_config, rgb_config
from mglib.models.prototypes import PRMConfig, PrototypicalRefinement
from mglib.models.stgcn import STGCN, stgcn_config
from mglib.studies.classification.config import (TABLE_METHODS, TORCHVISION, TWO_STREAM, VARIANTS, Config,
                                                  RunConfig, check_run, run_config)
from mglib.studies.classification.data import IMiGUEClips, layout, load_splits, modalities, rgb_cache
from mglib.train.config import to_dict
from mglib.train.task import Task

NUM_CLASSES = 32


# ------------------------------------------------------------------------------------------------ model

class ClassifierNet(nn.Module):
    """One model of the study behind one call: ``forward(batch)`` -> ``{"logits": [per stream (B*clips, K)],
    "prm": L_PR or None}``. PRM modules (one per stream) live here, so their prototypes are checkpointed."""

    def __init__(self, cfg: RunConfig, num_classes: int, num_joints: int, edges):
        super().__init__()
        self.method, m = cfg.method, cfg.method
        self.streams = ("rgb", "pose") if m in TWO_STREAM else modalities(m)
        if m == "stgcn":
            self.net = STGCN(stgcn_config(cfg.size), num_joints, edges, center=1, num_classes=num_classes)
        elif m.startswith("poseconv3d"):
            self.net = Recognizer3D(pose_config(num_joints, cfg.size), num_classes, cfg.dropout)
        elif m == "rgb3d":
            self.net = Recognizer3D(rgb_config(cfg.size), num_classes, cfg.dropout)
        elif m in TORCHVISION:
            from mglib.models import tv_video

            ok, why = tv_video.available()
            if not ok:
                raise InputError(f"method {m}: {why}")
            self.net = tv_video.build(m, num_classes)
        else:
            mcfg = RGBPoseConfig(rgb_config(cfg.size), pose_config(num_joints, cfg.size, two_stream=True),
                                 num_classes=num_classes, dropout=cfg.dropout)
            fusion = fusion_modules(mcfg, tokens=cfg.cmf_tokens, heads=cfg.cmf_heads,
                                    rgb_frames=cfg.rgb_frames) if "cmf" in m else None
            self.net = RGBPoseConv3D(mcfg, fusion)
        self.prm = None
        if m.endswith("prm"):
            widths = [self.net.rgb.out_channels, self.net.pose.out_channels] if m in TWO_STREAM else \
                [self.net.backbone.out_channels]
            pcfg = PRMConfig(cfg.prm_dim, cfg.tau, cfg.rho, cfg.prm_variant)
            self.prm = nn.ModuleList([PrototypicalRefinement(w, num_classes, pcfg) for w in widths])

    def forward(self, batch, labels=None, return_features: bool = False):
        if self.method in TWO_STREAM:
            lr, lp, fr, fp = self.net(batch["rgb"].flatten(0, 1), batch["pose"].flatten(0, 1), return_features=True)
            logits, feats = [lr, lp], [fr, fp]
        else:
            x = batch[self.streams[0]].flatten(0, 1)
            if self.method in TORCHVISION:
                logits, feats = [self.net(x)], [None]
            else:
                lg, ft = self.net(x, return_features=True)
                logits, feats = [lg], [ft]
        out = {"logits": logits, "prm": None}
        if self.prm is not None and labels is not None:
            labels = labels.repeat_interleave(logits[0].shape[0] // labels.shape[0])  # one label per clip
            losses = [prm(f, lg, labels) for prm, f, lg in zip(self.prm, feats, logits)]
            out["prm"] = sum(loss for loss, _ in losses)
        if return_features:
            out["features"] = feats
        return out


def late_fusion(probs: list[np.ndarray], weights) -> np.ndarray:
    """Weighted sum of per-stream probabilities (the paper fuses RGB : pose 1:1)."""
    w = np.asarray(weights, np.float64)[: len(probs)]
    return sum(wi * p for wi, p in zip(w, probs)) / w.sum()


# ------------------------------------------------------------------------------------------------ task

class ClassificationTask(Task):
    name = "classification"
    Config = RunConfig

    def __init__(self, cfg: RunConfig):
        super().__init__(cfg)
        check_run(cfg)
        self._data = None

    def root(self) -> Path:
        return run_root(self.cfg)

    def load(self):
        """({split: annotations}, joint names, edges, flip permutation), read once."""
        if self._data is None:
            c = self.cfg
            splits, num_joints = load_splits(self.root(), (c.train_split, c.val_split, c.test_split))
            self._data = (splits, *layout(num_joints))
        return self._data

    def dataset(self, split: str, train: bool = False) -> IMiGUEClips:
        splits, _, _, flip = self.load()
        anns = splits[split][:self.cfg.max_clips or None]
        rgb = None
        if "rgb" in modalities(self.cfg.method):
            rgb = rgb_cache(self.root(), anns, self.cfg.rgb_size, keep=4 * self.cfg.rgb_frames)
        return IMiGUEClips(anns, self.cfg, train, rgb, flip, seed=self.cfg.optim.seed)

    def datasets(self):
        return self.dataset(self.cfg.train_split, train=True), self.dataset(self.cfg.val_split)

    def build_model(self):
        _, names, edges, _ = self.load()
        model = ClassifierNet(self.cfg, NUM_CLASSES, len(names), edges)
        if self.cfg.method in TWO_STREAM and (self.cfg.init_rgb or self.cfg.init_pose):
            from mglib.train.engine import load_model

            def single(run, method):
                if not run:
                    return None
                return load_model(ClassificationTask(dataclasses.replace(self.cfg, method=method)), run).net

            model.net.load_single_stream(single(self.cfg.init_rgb, "rgb3d"), single(self.cfg.init_pose, "poseconv3d"))
        return model

    def loss(self, model, batch):
        labels = batch["label"]
        out = model(batch, labels=labels)
        ce = [F.cross_entropy(lg, labels) for lg in out["logits"]]
        loss = sum(ce)  # RGBPoseHead: CE(rgb) + CE(pose), weights 1:1
        logs = {f"ce_{s}": float(v.detach()) for s, v in zip(_streams(model), ce)}
        if out["prm"] is not None:
            loss = loss + self.cfg.alpha * out["prm"]
            logs["prm"] = float(out["prm"].detach())
        return loss, logs

    @torch.no_grad()
    def predict(self, model, loader) -> dict:
        """Per-stream clip-averaged softmax probabilities and labels of a loader's samples."""
        probs, labels = None, []
        for batch in loader:
            out = model(batch)
            b = batch["label"].shape[0]
            ps = [F.softmax(lg.float(), 1).view(b, -1, lg.shape[1]).mean(1).cpu().numpy() for lg in out["logits"]]
            probs = [[p] for p in ps] if probs is None else [acc + [p] for acc, p in zip(probs, ps)]
            labels.append(batch["label"].cpu().numpy())
        return {"label": np.concatenate(labels), "probs": [np.concatenate(p) for p in probs]}

    def evaluate(self, model, loader):
        from mglib.metrics import classification_report

        pred = self.predict(model, loader)
        y, streams = pred["label"], _streams(model)
        rep = classification_report(y, late_fusion(pred["probs"], self.cfg.fusion_weights), NUM_CLASSES)
        metrics = {"score": rep["top1"], "top1": rep["top1"], "top5": rep["top5"], "macro_f1": rep["macro_f1"],
                   "chance": 1.0 / NUM_CLASSES}
        if len(streams) > 1:
            for s, p in zip(streams, pred["probs"]):
                metrics[f"top1_{s}"] = float((p.argmax(1) == y).mean())
        return metrics, {"label": y.tolist(), "streams": list(streams),
                         "probs": [np.round(p, 6).tolist() for p in pred["probs"]]}


def run_root(cfg: RunConfig) -> Path:
    """The dataset folder of a run: ``data_root``, or the synthetic smoke iMiGUE when it is empty."""
    return Path(cfg.data_root) if cfg.data_root else paths.synthetic_dir("imigue", "smoke")


def _streams(model) -> tuple[str, ...]:
    return getattr(model, "module", model).streams


# ------------------------------------------------------------------------------------------------ cached runs

@functools.lru_cache(maxsize=64)
def _file_digest(path: Path, mtime_ns: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_dir(cfg: RunConfig) -> Path:
    """Run folder named by the hash of the resolved config, of the dataset's annotation file and of the kernel
    variables: same config, data and kernels, same folder (regenerated data with other contents is trained anew)."""
    pkl = run_root(cfg) / "imigue.pkl"
    data = _file_digest(pkl, pkl.stat().st_mtime_ns) if pkl.exists() else ""
    blob = json.dumps({"config": to_dict(cfg), "data": data, "kernels": records.kernel_env()}, sort_keys=True)
    return paths.CACHE / "classification" / f"{cfg.method}_s{cfg.optim.seed}_{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def load_run_config(run) -> RunConfig:
    """The config a finished run was trained with (from its ``config.json``)."""
    path = Path(run) / "config.json"
    if not path.exists():
        raise InputError(f"{paths.relative(path)}: missing; train the run first")
    d = json.loads(path.read_text())["config"]
    return run_config(RunConfig(), paths.relative(path), **{f"optim.{k}": v for k, v in d.pop("optim").items()}, **d)


@torch.no_grad()
def evaluate_test(run) -> dict:
    """The best-on-validation weights of a finished run scored on its test split, computed once and cached in
    ``<run>/test.json``: ``{"metrics": {...}, "label": [...], "streams": [...], "probs": [...]}``."""
    from torch.utils.data import DataLoader

    from mglib.train.engine import load_model

    path = Path(run) / "test.json"
    if path.exists():
        return json.loads(path.read_text())
    task = ClassificationTask(load_run_config(run))
    model = load_model(task, run)
    loader = DataLoader(task.dataset(task.cfg.test_split), batch_size=task.cfg.optim.batch_size,
                        collate_fn=task.collate)
    metrics, pred = task.evaluate(model, loader)
    out = {"metrics": metrics, **pred}
    records.write_json_atomic(path, out)
    return out


def fit_run(cfg: RunConfig, threads: int = 1) -> dict:
    """Fit one model (or reuse its finished run): the engine's metrics, ``run_dir`` and ``test`` (test metrics)."""
    from mglib.train.engine import fit

    if threads > 0:
        torch.set_num_threads(threads)
    out = run_dir(cfg)
    metrics = fit(ClassificationTask(cfg), out, reuse=True)
    return {**metrics, "run_dir": out, "test": evaluate_test(out)["metrics"]}


def train_method(cfg: Config, method: str, seed: int, root, **fields) -> dict:
    """Train one method on the dataset at ``root`` the paper's way: a two-stream model starts from the RGB and pose
    single-stream models of the same seed (trained first, or reused) and is fine-tuned for ``cfg.fusion_epochs`` at
    ``cfg.fusion_lr``. ``fields`` change the run config (ablations); they do not reach the single-stream models."""
    common = {"data_root": str(root), "optim.seed": seed}
    if method in TWO_STREAM:
        rgb, pose = (train_method(cfg, m, seed, root) for m in ("rgb3d", "poseconv3d"))
        common.update(init_rgb=str(rgb["run_dir"]), init_pose=str(pose["run_dir"]))
        if cfg.fusion_epochs:
            common["optim.epochs"] = cfg.fusion_epochs
        if cfg.fusion_lr:
            common["optim.lr"] = cfg.fusion_lr
    return fit_run(run_config(cfg.run, "run", method=method, **common, **fields), cfg.threads)


def data_root(cfg: Config) -> Path:
    """The study's dataset: ``data_root`` (relative to the project root) or the profile's synthetic iMiGUE."""
    return paths.user_path(cfg.data_root) if cfg.data_root else paths.synthetic_dir("imigue", cfg.profile)


def available(method: str) -> bool:
    if method in TORCHVISION:
        from mglib.models import tv_video

        return tv_video.available()[0]
    return True


def _row(method: str, seed: int, m: dict, **extra) -> dict:
    t = m["test"]
    return {"method": method, "seed": seed, "val_top1": m["best_score"], "best_epoch": m["best_epoch"],
            "test_top1": t["top1"], "test_top5": t["top5"], "test_macro_f1": t["macro_f1"],
            "test_top1_rgb": t.get("top1_rgb", np.nan), "test_top1_pose": t.get("top1_pose", np.nan),
            "run_dir": str(m["run_dir"]), **extra}


def run(cfg: Config, methods=TABLE_METHODS) -> pd.DataFrame:
    """The main comparison: one row per (method, seed) of ``methods`` that can run here (torchvision rows only
    where torchvision imports): validation top-1 of the selected epoch, test scores of those weights."""
    root = data_root(cfg)
    rows = []
    for method in (m for m in methods if available(m)):
        for seed in cfg.seeds:
            rows.append(_row(method, seed, train_method(cfg, method, seed, root)))
    return pd.DataFrame(rows)


def ablations(cfg: Config) -> pd.DataFrame:
    """Each variant of ``cfg.variants`` and the method it modifies, on ``cfg.ablation_seeds``."""
    root = data_root(cfg)
    rows = []
    for name in cfg.variants:
        method, fields = VARIANTS[name]
        for seed in cfg.ablation_seeds:
            base, var = train_method(cfg, method, seed, root), train_method(cfg, method, seed, root, **fields)
            rows += [_row(method, seed, base, variant=name, arm="base"), _row(method, seed, var, variant=name,
                                                                               arm="variant")]
    return pd.DataFrame(rows)


def predictions(run, split: str = "test") -> dict:
    """Labels and per-stream probabilities of a finished run on ``test`` (best weights) or ``val`` (the last
    evaluation the engine stored)."""
    if split == "test":
        obj = evaluate_test(run)
    else:
        path = Path(run) / "predictions.json"
        if not path.exists():
            raise InputError(f"{paths.relative(path)}: no predictions; train the run first")
        obj = json.loads(path.read_text())
    return {"label": np.asarray(obj["label"]), "streams": obj["streams"], "probs": [np.asarray(p) for p in obj["probs"]]}


def fused(run, weights=None, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """(labels, probabilities) of a finished run; two streams fused with ``weights`` (default: the run's)."""
    pred = predictions(run, split)
    if weights is None:
        weights = json.loads((Path(run) / "config.json").read_text())["config"]["fusion_weights"]
    return pred["label"], late_fusion(pred["probs"], weights)


def majority_baseline(cfg: Config) -> dict:
    """Always the most frequent training class: its top-1 on the validation and test splits."""
    c = cfg.run
    splits, _ = load_splits(data_root(cfg), (c.train_split, c.val_split, c.test_split))
    top = np.bincount([a["label"] for a in splits[c.train_split]], minlength=NUM_CLASSES).argmax()
    return {name: float(np.mean([a["label"] == top for a in splits[s]]))
            for name, s in (("val", c.val_split), ("test", c.test_split))}


@torch.no_grad()
def features(run, split: str = "test") -> dict:
    """Per stream the pooled backbone vector (B, C) of a split's clips and, for a PRM model, the refined embedding
    F' (B, D) and the class prototypes (K, D)."""
    from torch.utils.data import DataLoader

    from mglib.train.engine import load_model

    task = ClassificationTask(load_run_config(run))
    model = load_model(task, run)
    labels, pooled, refined = [], [], []
    for batch in DataLoader(task.dataset(split), batch_size=16, collate_fn=task.collate):
        b = batch["label"].shape[0]
        feats = model(batch, return_features=True)["features"]  # per stream (B*clips, C, ...)
        labels.append(batch["label"].numpy())
        pooled.append([f.mean(dim=tuple(range(2, f.dim()))).view(b, -1, f.shape[1]).mean(1).numpy() for f in feats])
        if model.prm is not None:
            refined.append([prm.embed(f).view(b, -1, prm.cfg.dim).mean(1).numpy() for prm, f in zip(model.prm, feats)])
    res = {"label": np.concatenate(labels), "streams": list(model.streams),
           "pooled": [np.concatenate(x) for x in zip(*pooled)]}
    if refined:
        res["refined"] = [np.concatenate(x) for x in zip(*refined)]
        res["prototypes"] = [prm.prototypes.numpy().copy() for prm in model.prm]
    return res


# sweep a: the share of RGB-only classes -> pose only, RGB + pose fusion and + CMF; sweep b: the distance of the
# ambiguous pairs -> PoseConv3D with and without PRM (the pairs are ambiguous to the pose stream)
SWEEP_METHODS = {"cue": ("poseconv3d", "rgb3d", "rgbpose", "rgbpose_cmf"), "pairs": ("poseconv3d", "poseconv3d_prm")}


def sweeps(cfg: Config) -> pd.DataFrame:
    """Both mechanism sweeps on small balanced stand-ins (profile ``cfg.sweep_data``): one row per (sweep, level,
    method, seed), with the run folder and the dataset's folder."""
    from mglib.studies.classification.data import sweep_root

    # every knob named at every level, so the level both sweeps share (no twins, pairs as designed) is one dataset
    levels = [("cue", s, {"imbalance": 0.0, "rgb_cue_share": s, "pair_distance": 1.0}) for s in cfg.cue_shares]
    levels += [("pairs", d, {"imbalance": 0.0, "rgb_cue_share": 0.0, "pair_distance": d}) for d in cfg.pair_distances]
    rows = []
    for sweep, level, knobs in levels:
        root = sweep_root(cfg.sweep_data, **knobs)
        for method in SWEEP_METHODS[sweep]:
            for seed in cfg.sweep_seeds:
                rows.append(_row(method, seed, train_method(cfg, method, seed, root), sweep=sweep, level=level,
                                 data=str(root)))
    return pd.DataFrame(rows)
