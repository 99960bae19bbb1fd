"""The models of the ``gpu`` profile at the papers' size, each with an input and its study's training loss.

Used by ``python -m mglib doctor`` (AMP, throughput, activation checkpointing) and by the paper-size dry runs of
``tests/test_paper_models.py``. One function per study reads the notebooks' ``gpu`` parameters
(:func:`mglib.profiles.resolve`) and builds the models with the study's own code, without data or weights: the
model a ``gpu`` run trains, before it loads its checkpoint.

``example(batch, small)`` gives a training batch: at the ``gpu`` settings, or (``small=True``) the smallest input the
paper-size model accepts (the spatial size its strides allow, at the configured clip lengths). The detection ViT's
token grid is part of its config, so for a small input ``build(small=True)`` builds the same parameters for a
16×16 frame and a 64-frame window (the shortest the head's 2⁵ pyramid accepts).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn as nn

from mglib import profiles

# Table 4 of the MMAD paper (004), VideoMAE-S: trainable backbone parameters in the paper's "M" (2^20).
REPORTED_TABLE4_M = {"full": 20.89, "standard": 0.85, "tia": 0.96, "dsta": 1.80}


@dataclass
class PaperModel:
    name: str  # "<notebook(s)>/<model>"
    build: Callable[..., nn.Module]  # build(small=False)
    example: Callable[[int, bool], Any]  # (batch, small) -> a training batch on the CPU
    loss: Callable[[nn.Module, Any], torch.Tensor]  # the study's training loss of one batch (a scalar)
    batch_size: int  # the gpu profile's batch size
    reported_M: float | None = None  # the paper's trainable-parameter count (2^20 units), where it gives one
    counted: Callable[[nn.Module], int] | None = None  # what the paper counts (default: trainable parameters;
    # detection: the trainable ViT part, as Table 4)
    main: bool = False  # the paper's model of its study (AMP and throughput checks)
    skip: str | None = None  # why it cannot be built here (an optional dependency)
    variant_of: str | None = None  # the listed model it only resizes (same code, other integers)

    def count(self, model: nn.Module) -> int:
        if self.counted is not None:
            return self.counted(model)
        return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _trainable_under(prefix: str) -> Callable[[nn.Module], int]:
    return lambda m: sum(p.numel() for n, p in m.named_parameters() if n.startswith(prefix) and p.requires_grad)


def _to_loss(out) -> torch.Tensor:
    return out[0] if isinstance(out, tuple) else out


# --- 04: the I3D encoder ----------------------------------------------------------------------------------------

def encoder_models(profile: str = "gpu") -> list[PaperModel]:
    from mglib.studies.online import stream_rgb
    from mglib.studies.online.config import config
    from mglib.studies.online.task import RGBStreamTask

    cfg = config(profiles.resolve("04_video_encoder", profile)).streams["rgb"]
    task = RGBStreamTask(cfg)
    classes = cfg.num_classes + cfg.background

    def example(batch, small):
        t, s = (8, 32) if small else (cfg.clip_len, cfg.frame_size)  # I3D: TF-"same" padding, any size
        return torch.randn(batch, 3, t, s, s), torch.randint(0, classes, (batch,))

    return [PaperModel("04_video_encoder/i3d", lambda small=False: stream_rgb.build_encoder(cfg), example,
                       lambda m, b: _to_loss(task.loss(m, b)), cfg.optim.batch_size, main=True)]


# --- 10/11: classification on iMiGUE ----------------------------------------------------------------------------

def classification_models(profile: str = "gpu") -> list[PaperModel]:
    from mglib.data import imigue
    from mglib.pose.skeleton import pairs_to_permutation
    from mglib.models import tv_video
    from mglib.studies.classification import config as study_config
    from mglib.studies.classification.config import TABLE_METHODS, run_config
    from mglib.studies.classification.data import modalities
    from mglib.studies.classification.task import NUM_CLASSES, ClassificationTask, available

    p = profiles.resolve("10_classification", profile)
    study = study_config(p)
    joints, edges = len(imigue.JOINT_NAMES_22), list(imigue.EDGES_22)
    layout = ({}, imigue.JOINT_NAMES_22, edges, pairs_to_permutation(joints, imigue.FLIP_PAIRS_22))

    class LayoutOnly(ClassificationTask):
        def load(self):  # the iMiGUE layout without reading the data
            return layout

    def one(method):
        cfg = run_config(study.run, "doctor", method=method, data_root=p["data_root"],
                         **{"optim.seed": study.seeds[0]})
        task = LayoutOnly(cfg)

        def example(batch, small):
            heat = 8 if small else cfg.heatmap_size  # the pose path's stride-2 stages
            ratio = 4 if cfg.size == "paper" else 2  # RGB side / heatmap side (ClassificationTask)
            rgb = ratio * heat if method.startswith("rgbpose") else (32 if small else cfg.rgb_size)
            x = {"label": torch.randint(0, NUM_CLASSES, (batch,))}
            modes = modalities(method)
            if "pose" in modes:
                x["pose"] = torch.rand(batch, 1, joints, cfg.pose_frames, heat, heat)
            if "rgb" in modes:
                x["rgb"] = torch.randn(batch, 1, 3, cfg.rgb_frames, rgb, rgb)
            if "kp" in modes:
                x["kp"] = torch.rand(batch, 1, 1, cfg.stgcn_frames, joints, 3) * 2 - 1
            return x

        return PaperModel(f"10_classification/{method}", lambda small=False: task.build_model(), example,
                          lambda m, b: _to_loss(task.loss(m, b)), cfg.optim.batch_size,
                          main=method == "rgbpose_cmf_prm",
                          skip=None if available(method) else tv_video.available()[1])

    return [one(m) for m in TABLE_METHODS]


# --- 20/21: online recognition on SMG, PointTAD on MMA-52 --------------------------------------------------------

def online_models(profile: str = "gpu") -> list[PaperModel]:
    from mglib.studies.online import task as T
    from mglib.studies.online.config import MIXERS, config

    study = config(profiles.resolve("20_online", profile))  # as notebooks 20 and 21 build it
    ablations = config(profiles.resolve("21_online_ablations", profile))

    def model_config(cfg):
        with torch.device("meta"):  # it builds the RGB encoder to read its feature width
            return T.OnlineTask(cfg).model_config()

    def one(name, cfg, main=False, variant_of=None):
        task = T.OnlineTask(cfg)
        classes, in_dim = (17 if cfg.dataset == "smg" else 52), model_config(cfg).in_dim

        def example(batch, small):
            targets = [{"labels": torch.randint(0, classes, (2,)), "segments": torch.tensor([[0.3, 0.2], [0.7, 0.1]])}
                       for _ in range(batch)]
            return torch.randn(batch, 8 if small else cfg.window, in_dim), targets

        return PaperModel(name, lambda small=False: task.build_model(), example,
                          lambda m, b: _to_loss(task.loss(m, b)), cfg.optim.batch_size, main=main,
                          variant_of=variant_of)

    out = [one(f"20_online/pointtad_{mixer}", dataclasses.replace(study.detector, query_mixer=mixer),
               main=mixer == "mamba_mhsa") for mixer in MIXERS]
    out.append(one("20_online/pointtad_mma52", study.mma52))
    # 21's grids on the Mamba-MHSA model; a value that gives a model listed already (the window: an input length,
    # not a parameter) is not listed again
    base = dataclasses.replace(ablations.detector, query_mixer="mamba_mhsa")
    seen = [model_config(dataclasses.replace(study.detector, query_mixer=m)) for m in MIXERS]
    for field_name, values in ablations.ablations.items():
        for v in values:
            cfg = dataclasses.replace(base, **{field_name: v})
            mc = model_config(cfg)
            if mc not in seen:
                seen.append(mc)
                out.append(one(f"21_online_ablations/{field_name}={v}", cfg, variant_of=out[1].name))
    return out


# --- 30: detection on MMA-52 --------------------------------------------------------------------------------------

def detection_models(profile: str = "gpu") -> list[PaperModel]:
    """Chapter 30's settings at the profile's size, each built from the study's own config (``S.config``)."""
    from mglib.models.vit import VideoViT
    from mglib.studies import detection as S
    from mglib.studies.detection.config import FEATURE_VARIANTS, setting_config
    from mglib.studies.detection.task import DetectionTask

    study = S.config(profiles.resolve("30_mmad", profile))

    class NoWeights(DetectionTask):
        def load_vit(self):  # the paper-size ViT before its VideoMAE checkpoint is loaded
            return VideoViT(self.cfg.vit)

    def small_config(cfg):
        return dataclasses.replace(cfg, vit=dataclasses.replace(cfg.vit, img_size=cfg.vit.patch_size),
                                   data=dataclasses.replace(cfg.data, window_frames=math.lcm(
                                       2 ** cfg.head.arch[2] * cfg.vit.tubelet, cfg.vit.num_frames)))

    def one(name, setting, vit=None):
        cfg = setting_config(study, setting, study.seeds[0])
        if vit:
            cfg = dataclasses.replace(cfg, vit=dataclasses.replace(cfg.vit, **vit),
                                      head=dataclasses.replace(cfg.head, in_dim=vit.get("dim", cfg.vit.dim)))

        def build(small=False):
            return NoWeights(small_config(cfg) if small else cfg).build_model()

        def example(batch, small):
            c = small_config(cfg) if small else cfg
            length = c.data.window_frames // c.vit.tubelet
            if cfg.variant in FEATURE_VARIANTS:
                x = torch.randn(batch, c.vit.dim, length)
            else:
                x = torch.randn(batch, 3, c.data.window_frames, c.vit.img_size, c.vit.img_size)
            segs = torch.tensor([[2.0, 9.0], [length / 2, length - 3.0]])
            return {"x": x, "segments": [segs] * batch, "labels": [torch.tensor([3, 40])] * batch}

        task = NoWeights(cfg)
        return PaperModel(f"30_mmad/{name}", build, example, lambda m, b: _to_loss(task.loss(m, b)),
                          cfg.optim.batch_size, REPORTED_TABLE4_M.get(name), _trainable_under("vit."),
                          main=name == "dsta")

    out = [one(s, s) for s in study.settings]
    # Table 3's VideoMAE-B row (not a gpu-profile run: the notebook trains ViT-S)
    out.append(one("dsta_vit_b", "dsta", {"dim": 768, "heads": 12}))
    return out


def paper_models(profile: str = "gpu") -> list[PaperModel]:
    """Every model of the gpu profile's notebooks 04, 10/11, 20/21 and 30, at the papers' size (``profile="smoke"``:
    the same models at the smoke profile's sizes, for checks of the logic in seconds on a CPU)."""
    return (encoder_models(profile) + classification_models(profile) + online_models(profile)
            + detection_models(profile))
