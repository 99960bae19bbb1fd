"""The backbone before detection: pretraining on synthetic trimmed clips, and the linear probe that checks it.

No VideoMAE weights can be downloaded on the CPU machine, and a ViT trained from scratch on the 120 training videos of
the ``cpu`` profile stays at the majority class. The paper's backbone was pretrained on a large recognition dataset;
the stand-in here is a corpus of trimmed single-action clips rendered by the same body model as the MMA-52 stand-in
(a synthetic MA-52, the recognition dataset MMA-52 was cut from): classes drawn with the training split's class
frequencies, subjects that appear in no MMA-52 split, and, with probability ``distractor``, a second action of another
body part during the clip, as in MMA-52's co-occurring instances. The clips are cropped to the person box like the
detection data. On the gpu profile a VideoMAE checkpoint replaces all of this.

The probe: logistic regression on frozen features, scored on the MMA-52 validation instance clips next to the
majority-class accuracy. During pretraining it reads mean-pooled features fitted on the training instances; the
released encoder's check (:func:`probe_report`) also fits on the corpus, and reads the tokens per patch position.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from mglib import paths, records
from mglib.models.vit import VideoMAEPretrainer, VideoViT, ViTConfig, tube_mask
from mglib.studies.detection.config import DataConfig, DetectionConfig, PretrainConfig
from mglib.studies.detection.data import (ClipData, crop_resize, data_root, dataset_id, instance_clips, load_split,
                                          person_box, spread, to_tensor)
from mglib.train.config import OptimConfig, to_dict
from mglib.train.task import Task

CORPUS_SUBJECTS = 300  # distinct people in the corpus; their ids start after any MMA-52 subject's
SUBJECT_BASE = 10_000


@dataclass
class PretrainRun:
    """What a pretraining run depends on (the engine's config: ``optim`` first-class)."""
    optim: OptimConfig
    pretrain: PretrainConfig
    vit: ViTConfig
    data: DataConfig


def pretrain_run(cfg: DetectionConfig) -> PretrainRun:
    return PretrainRun(cfg.pretrain.optim, cfg.pretrain, dataclasses.replace(cfg.vit, checkpoint=False), cfg.data)


# --- the clip corpus ------------------------------------------------------------------------------------------------

def corpus(run: PretrainRun, class_freq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``run.pretrain.clips`` trimmed clips (N, clip_frames, S, S, 3) uint8 and their action labels (N,)."""
    from mglib.data import body, gestures, synth_mma52
    from mglib.data.render import render
    from mglib.data.synthetic import duration_frames, make_camera, make_event, resolve_knobs

    knobs = resolve_knobs("mma52", **run.data.knobs())
    size = synth_mma52.PROFILES[run.data.profile].size if run.data.profile in synth_mma52.PROFILES else 64
    p = np.maximum(class_freq, 0.5) / np.maximum(class_freq, 0.5).sum()  # unseen classes still appear, rarely
    fps, nf = 30.0, run.vit.num_frames
    clips, labels = [], []
    for i in range(run.pretrain.clips):
        rng = np.random.default_rng([20250, i])
        sid = SUBJECT_BASE + int(rng.integers(CORPUS_SUBJECTS))
        subj = body.make_subject(sid, np.random.default_rng([20251, sid]))
        c = int(rng.choice(52, p=p))
        prim = gestures.MA52[c]
        d = duration_frames(prim, subj, rng, knobs, fps)
        n, s = d + 40, 20
        events = [make_event(prim, s, s + d - 1, subj, rng, knobs)]
        if rng.random() < run.pretrain.distractor:
            others = [k for k in range(52) if body.channels(gestures.MA52[k]) != body.channels(prim)]
            c2 = int(rng.choice(others, p=p[others] / p[others].sum()))
            d2 = min(duration_frames(gestures.MA52[c2], subj, rng, knobs, fps), n - 1)
            s2 = int(rng.integers(0, n - d2))
            events.append(make_event(gestures.MA52[c2], s2, s2 + d2 - 1, subj, rng, knobs))
        J, props = body.animate(subj, n, fps, events, rng)
        frames = render(J, props, subj, make_camera("mma52", rng, size), spread(s, s + d, nf, n), rng,
                        limb_colours=knobs.limb_colours)
        box = person_box(frames) if run.data.person_crop else (0, 0, size, size)
        clips.append(crop_resize(frames, box, run.vit.img_size))
        labels.append(c)
    return np.stack(clips), np.asarray(labels)


# --- the linear probe ---------------------------------------------------------------------------------------------

POOLINGS = ("mean", "grid")


@torch.no_grad()
def patch_features(vit: VideoViT, clips: np.ndarray, batch: int = 64) -> torch.Tensor:
    """(N, H'·W', C): the frozen ViT's tokens of each clip averaged over time, one vector per patch position."""
    was = vit.training
    vit.eval()
    out = []
    for i in range(0, len(clips), batch):
        tok, (B, n, t, h, w) = vit(torch.stack([to_tensor(c) for c in clips[i:i + batch]]))
        out.append(tok.view(B, n * t, h * w, -1).mean(1))
    vit.train(was)
    return torch.cat(out)


def pool(patches: torch.Tensor, pooling: str) -> torch.Tensor:
    """``mean``: (N, C), averaged over the frame too, all that the detector's per-step features keep of space;
    ``grid``: (N, H'·W'·C), so the probe can tell *which body part* moves (most MMA-52 classes differ in that)."""
    if pooling not in POOLINGS:
        raise ValueError(f"pooling {pooling!r}: expected one of {POOLINGS}")
    return patches.mean(1) if pooling == "mean" else patches.flatten(1)


def fit_probe(ft: torch.Tensor, yt: np.ndarray, fv: torch.Tensor, yv: np.ndarray, wd: float = 1e-3) -> dict:
    """Multinomial logistic regression (L-BFGS, L2 weight ``wd``) on standardised features; accuracies on both sets
    and the majority-class accuracy on validation (the share of its most frequent class: the best any constant
    answer can do)."""
    yt_t, yv_t = torch.from_numpy(yt), torch.from_numpy(yv)
    mu, sd = ft.mean(0), ft.std(0) + 1e-6
    ft, fv = (ft - mu) / sd, (fv - mu) / sd
    W = torch.zeros(ft.shape[1], 52, requires_grad=True)
    b = torch.zeros(52, requires_grad=True)
    # a convex problem: stop at a small gradient (the default 1e-7 spends half the iterations past any change in
    # the accuracies)
    opt = torch.optim.LBFGS([W, b], max_iter=500, tolerance_grad=1e-5, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(ft @ W + b, yt_t) + wd * W.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        acc_t = float(((ft @ W + b).argmax(1) == yt_t).float().mean())
        acc_v = float(((fv @ W + b).argmax(1) == yv_t).float().mean())
    return {"train_acc": acc_t, "val_acc": acc_v, "majority": float(np.bincount(yv).max() / len(yv)),
            "train_clips": int(len(yt)), "val_clips": int(len(yv))}


def probe(vit: VideoViT, train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray],
          wd: float = 1e-3) -> dict:
    """Linear probe on the mean-pooled frozen features of ``train`` (clips, labels), scored on ``val``: the probe
    followed during pretraining (:func:`fit_probe`)."""
    ft, fv = (pool(patch_features(vit, clips), "mean") for clips in (train[0], val[0]))
    return fit_probe(ft, train[1], fv, val[1], wd)


def probe_report(vit: VideoViT, instances, clip_corpus, wd: float = 1e-3) -> dict:
    """The released encoder's probes, all scored on the validation instance clips. Three rows: mean-pooled features
    fitted on the training instances (the probe followed during pretraining), then mean-pooled and grid features
    fitted on the corpus plus the training instances (a few hundred training instances are few for 52 classes).
    The headline (``val_acc``, ``majority``, ...) is the last row: the check that the tokens see the actions."""
    (tc, ty), (vc, vy) = instances
    ft, fc, fv = (patch_features(vit, clips) for clips in (tc, clip_corpus[0], vc))
    both, y_both = torch.cat([fc, ft]), np.concatenate([clip_corpus[1], ty])
    rows = []
    for pooling, f, y, on in (("mean", ft, ty, "training instances"),
                              ("mean", both, y_both, "corpus + training instances"),
                              ("grid", both, y_both, "corpus + training instances")):
        rows.append({"pooling": pooling, "trained_on": on, **fit_probe(pool(f, pooling), y, pool(fv, pooling), vy, wd)})
    return {**rows[-1], "rows": rows}


def class_frequencies(instances) -> np.ndarray:
    """The corpus draws its classes with the training instances' class counts."""
    return np.bincount(instances[0][1], minlength=52).astype(float)


def probe_clips(run: PretrainRun):
    """((clips, labels) of the training instances, the same of the validation instances)."""
    return tuple(instance_clips(load_split(run.data, split, run.vit.img_size, run.vit.num_frames))
                 for split in ("train", "val"))


# --- pretraining ----------------------------------------------------------------------------------------------------

class SupervisedPretrainer(nn.Module):
    def __init__(self, cfg: ViTConfig, num_classes: int = 52):
        super().__init__()
        self.encoder = VideoViT(cfg)
        self.head = nn.Linear(cfg.dim, num_classes)

    def forward(self, x):  # (B, 3, T, S, S) → (B, classes)
        return self.head(self.encoder.features(x).mean(-1))


class PretrainTask(Task):
    """Supervised (or masked-autoencoding) pretraining on the clip corpus; each evaluation also runs the probe."""

    name = "detection-pretrain"
    Config = PretrainRun

    def build_model(self):
        c = self.cfg
        if c.pretrain.mode == "mae":
            return VideoMAEPretrainer(c.vit, c.pretrain.decoder_dim, c.pretrain.decoder_depth, 2, c.pretrain.mask_ratio)
        return SupervisedPretrainer(c.vit)

    def datasets(self):
        c = self.cfg
        self.probe_data = probe_clips(c)
        clips, labels = self.corpus = corpus(c, class_frequencies(self.probe_data))
        k = max(1, int(round(c.pretrain.held_out * len(clips))))
        return ClipData(clips[k:], labels[k:]), ClipData(clips[:k], labels[:k])

    def loss(self, model, batch):
        x, y = batch
        if self.cfg.pretrain.mode == "mae":
            return model(x), {}
        return F.cross_entropy(model(x), y), {}

    def evaluate(self, model, loader):
        total, n, correct = 0.0, 0, 0
        for x, y in loader:
            if self.cfg.pretrain.mode == "mae":  # a fixed mask per batch: comparable across epochs
                mask = tube_mask(x.shape[0], self.cfg.vit.grid, self.cfg.pretrain.mask_ratio,
                                 generator=torch.Generator().manual_seed(n)).to(x.device)
                total += float(model(x, mask)) * len(y)
            else:
                logits = model(x)
                total += float(F.cross_entropy(logits, y, reduction="sum"))
                correct += int((logits.argmax(1) == y).sum())
            n += len(y)
        p = probe(model.encoder, *self.probe_data, wd=self.cfg.pretrain.probe_wd)
        metrics = {"held_out_loss": total / n, "probe_val_acc": p["val_acc"], "probe_majority": p["majority"]}
        if self.cfg.pretrain.mode == "mae":
            metrics["score"] = -total / n
        else:
            metrics["held_out_acc"] = correct / n
            metrics["score"] = correct / n
        return metrics, {}


def run_dir(kind: str, cfg) -> Path:
    """A cache folder per resolved config, data (the annotations and the generator that rendered them) and kernel
    variables, so every setting and seed has its own run, reuse works, and regenerated data is never read through an
    old run."""
    blob = json.dumps({"config": to_dict(cfg), "data": dataset_id(data_root(cfg.data)),
                       "kernels": records.kernel_env()}, sort_keys=True)
    return paths.CACHE / "detection" / cfg.data.profile / f"{kind}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def pretrained_backbone(cfg: DetectionConfig) -> Path:
    """Train (or reuse) the pretraining run of ``cfg``; returns its folder, holding ``vit.safetensors`` (the encoder
    that scored best on the held-out clips), ``probe.json`` (its probe) and the engine's ``metrics.json``."""
    from safetensors.torch import load_file, save_file

    from mglib.train.engine import BEST, fit

    run = pretrain_run(cfg)
    out = run_dir("pretrain", run)
    if (out / "vit.safetensors").exists() and (out / "probe.json").exists():
        return out
    task = PretrainTask(run)
    fit(task, out, reuse=True)
    state = load_file(str(out / BEST))
    vit = VideoViT(run.vit)
    vit.load_state_dict({k[len("encoder."):]: v for k, v in state.items() if k.startswith("encoder.")})
    instances = getattr(task, "probe_data", None) or probe_clips(run)
    clip_corpus = getattr(task, "corpus", None) or corpus(run, class_frequencies(instances))  # a reused run
    result = probe_report(vit, instances, clip_corpus, wd=run.pretrain.probe_wd)
    (out / "probe.json").write_text(json.dumps(result, indent=1))
    save_file(vit.state_dict(), str(out / "vit.safetensors"))
    return out
