"""Configuration of study 1: one run (:class:`RunConfig`, what the training engine trains) and the study
(:class:`Config`, what a chapter asks for), built once from a notebook's parameters by :func:`config`.

Methods (``RunConfig.method``):

| method | input | model |
|---|---|---|
| ``stgcn`` | keypoints (x, y, score) | ST-GCN on the joint graph |
| ``poseconv3d`` / ``poseconv3d_prm`` | joint heatmap volumes | PoseConv3D pose pathway / + prototypical refinement |
| ``rgb3d`` | RGB clip | SlowOnly RGB pathway (a 3D ResNet) |
| ``rgbpose`` | RGB + joint heatmaps | RGBPoseConv3D with laterals |
| ``rgbpose_cmf`` / ``rgbpose_prm`` / ``rgbpose_cmf_prm`` | RGB + joint heatmaps | + cross-modal fusion / prototypical refinement / both (the paper) |
| ``swin3d_t`` / ``r2plus1d_18`` | RGB clip | torchvision video models (optional dependency) |
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

from mglib.errors import InputError
from mglib.train.config import OptimConfig, _choice, apply_overrides

METHODS = ("stgcn", "poseconv3d", "poseconv3d_prm", "rgb3d", "rgbpose", "rgbpose_cmf", "rgbpose_prm",
           "rgbpose_cmf_prm", "swin3d_t", "r2plus1d_18")
TORCHVISION = ("swin3d_t", "r2plus1d_18")
# rows of the Table 2 analogue (chapter 10), in order; the torchvision rows only where torchvision imports
TABLE_METHODS = ("stgcn", "poseconv3d", "rgb3d", "swin3d_t", "r2plus1d_18", "rgbpose", "rgbpose_cmf", "rgbpose_prm",
                 "rgbpose_cmf_prm")
TWO_STREAM = ("rgbpose", "rgbpose_cmf", "rgbpose_prm", "rgbpose_cmf_prm")
# ablations of chapter 11: name -> (the method it modifies, the run fields it changes)
VARIANTS = {
    "cmf_time": ("rgbpose_cmf", {"cmf_tokens": "time"}),  # this project's reading of the reference: time tokens
    "prm_all": ("rgbpose_cmf_prm", {"prm_variant": "all"}),  # FR-Head's V0: calibration terms for every sample
    "alpha_0.05": ("rgbpose_cmf_prm", {"alpha": 0.05}),
    "alpha_1": ("rgbpose_cmf_prm", {"alpha": 1.0}),
    "rho_0.5": ("rgbpose_cmf_prm", {"rho": 0.5}),
    "rho_0.99": ("rgbpose_cmf_prm", {"rho": 0.99}),
}
SWEEP_DATA = ("sweep", "sweep_smoke")  # profiles of the synthetic iMiGUE made for the sweeps (synth_imigue.py)
# run fields a chapter may not set through ``config``: the study sets them per run
_STUDY_SET = ("method", "data_root", "optim.seed", "init_rgb", "init_pose")


def _paper_optim() -> OptimConfig:
    # the paper's recipe: SGD 0.0075, momentum 0.9, wd 1e-4, batch 10, 30 epochs, lr / 10 at epochs 8 and 22
    return OptimConfig(epochs=30, batch_size=10, optimizer="sgd", lr=0.0075, weight_decay=1e-4, momentum=0.9,
                       schedule="step", milestones=(8, 22), gamma=0.1, grad_clip=40.0)


@dataclass
class RunConfig:
    """One model trained by the engine (``python -m mglib train classification --set ...``)."""
    optim: OptimConfig = field(default_factory=_paper_optim)
    data_root: str = ""  # folder with imigue.pkl and rgb/; empty = the synthetic smoke data
    method: str = _choice("poseconv3d", *METHODS)
    size: str = _choice("small", "paper", "small", "tiny")  # "paper": the paper's widths; "small"/"tiny": CPU
    train_split: str = "train"
    val_split: str = "val"
    test_split: str = "test"
    max_clips: int = 0  # 0: every clip of a split; n: its first n clips (dry runs)
    pose_frames: int = 32
    rgb_frames: int = 8
    stgcn_frames: int = 32
    heatmap_size: int = 32  # pose volume side (56 in the paper)
    rgb_size: int = 64  # RGB side (224 in the paper): 2x (small, tiny) or 4x (paper) the heatmap side
    sigma: float = 0.7
    flip_prob: float = 0.5
    test_clips: int = 1
    dropout: float = 0.5
    alpha: float = 0.2  # weight of L_PR (eq. 10)
    rho: float = 0.9  # prototype EMA momentum (eq. 6)
    tau: float = 0.125
    prm_dim: int = 256
    prm_variant: str = _choice("tp", "tp", "all")
    cmf_tokens: str = _choice("channel", "channel", "time")  # channel: the paper; time: this project's reading
    cmf_heads: int = 8
    init_rgb: str = ""  # run folder of a trained rgb3d model (the paper's initialisation of the two streams)
    init_pose: str = ""  # run folder of a trained poseconv3d model
    fusion_weights: tuple[float, ...] = (1.0, 1.0)  # RGB : pose


def check_run(cfg: RunConfig, where: str = "config") -> None:
    """Ranges and the shape constraints of the two-stream model; InputError naming the field."""
    def bad(name, expected, value):
        raise InputError(f"{where}: key {name!r} is {value!r}; expected {expected}")

    if cfg.max_clips < 0:
        bad("max_clips", "an integer >= 0", cfg.max_clips)
    for name in ("pose_frames", "rgb_frames", "stgcn_frames", "test_clips", "prm_dim", "cmf_heads"):
        if getattr(cfg, name) < 1:
            bad(name, "an integer >= 1", getattr(cfg, name))
    for name in ("heatmap_size", "rgb_size"):
        if getattr(cfg, name) < 8:
            bad(name, "an integer >= 8", getattr(cfg, name))
    for name, lo, hi in (("flip_prob", 0, 1), ("dropout", 0, 0.99), ("rho", 0, 0.999), ("alpha", 0, 100)):
        if not lo <= getattr(cfg, name) <= hi:
            bad(name, f"a number in [{lo}, {hi}]", getattr(cfg, name))
    for name in ("sigma", "tau", "optim.lr"):
        value = cfg.optim.lr if name == "optim.lr" else getattr(cfg, name)
        if not value > 0:
            bad(name, "a number > 0", value)
    if len(cfg.fusion_weights) != 2 or min(cfg.fusion_weights) < 0 or sum(cfg.fusion_weights) <= 0:
        bad("fusion_weights", "two weights >= 0, not both 0", list(cfg.fusion_weights))
    if cfg.method in TWO_STREAM:
        ratio = 4 if cfg.size == "paper" else 2  # RGB side / heatmap side where the laterals meet
        if cfg.pose_frames != 4 * cfg.rgb_frames:
            bad("pose_frames", f"4 x rgb_frames ({4 * cfg.rgb_frames}) for the two-stream model", cfg.pose_frames)
        if cfg.rgb_size != ratio * cfg.heatmap_size:
            bad("rgb_size", f"{ratio} x heatmap_size ({ratio * cfg.heatmap_size}) for size {cfg.size!r}",
                cfg.rgb_size)


def _fmt(value) -> str:
    return json.dumps(list(value)) if isinstance(value, (list, tuple)) else str(value)


def run_config(base: RunConfig, where: str = "config", **fields) -> RunConfig:
    """``base`` with ``fields`` set (``optim__seed`` or ``"optim.seed"`` address nested fields), checked."""
    items = [f"{k.replace('__', '.')}={_fmt(v)}" for k, v in fields.items()]
    cfg = apply_overrides(base, items, source=where)
    check_run(cfg, where)
    return cfg


# ------------------------------------------------------------------------------------------------ the study

@dataclass
class Config:
    """What one chapter of study 1 asks for. Built by :func:`config` from the notebook's parameters."""
    profile: str = "smoke"
    data_root: str = ""  # empty: the synthetic iMiGUE of the profile
    seeds: tuple[int, ...] = (0,)
    run: RunConfig = field(default_factory=RunConfig)  # every run's settings but method, seed and data
    fusion_epochs: int = 0  # epochs of the two-stream fine-tuning (0: run.optim.epochs)
    fusion_lr: float = 0.0  # its learning rate (0: run.optim.lr); lower keeps more of the single streams' weights
    threads: int = 1  # torch CPU threads (0: leave torch's default)
    ablation_seeds: tuple[int, ...] = ()
    variants: tuple[str, ...] = ()
    sweep_data: str = "sweep_smoke"
    sweep_seeds: tuple[int, ...] = ()
    cue_shares: tuple[float, ...] = ()  # sweep a: share of classes whose cue is RGB-only
    pair_distances: tuple[float, ...] = ()  # sweep b: contact-site distance of the ambiguous pairs, x the body's


def _seeds(name: str, value) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                                       for s in value):
        raise InputError(f"parameter {name!r}: expected a list of integers >= 0, got {value!r}")
    if len(set(value)) != len(value):
        raise InputError(f"parameter {name!r}: seeds repeat in {list(value)}")
    return tuple(value)


def _numbers(name: str, value, lo: float, hi: float) -> tuple[float, ...]:
    if not isinstance(value, (list, tuple)):
        raise InputError(f"parameter {name!r}: expected a list of numbers, got {value!r}")
    for i, v in enumerate(value):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
            raise InputError(f"parameter {name!r}: item {i} is {v!r}; expected a number in [{lo}, {hi}]")
    return tuple(float(v) for v in value)


def _config_dict(value, base: RunConfig) -> RunConfig:
    if not isinstance(value, dict):
        raise InputError(f"parameter 'config': expected a dict of run settings, got {value!r}")
    for key in value:
        if key in _STUDY_SET:
            raise InputError(f"parameter 'config': key {key!r} is set by the study for each run")
    return run_config(base, "parameter 'config':", **value)


def config(params: dict) -> Config:
    """The study's config from the full parameter dict of any of its notebooks (10, 11, 12). Cheap: no data, no
    models. Refuses, in one line naming the parameter, an unknown name, a bad key of ``config``, an unknown item of
    ``variants`` or ``sweep_data`` and any value out of range."""
    known = {f.name for f in dataclasses.fields(Config)} | {"config"}
    unknown = sorted(set(params) - known)
    if unknown:
        raise InputError(f"parameter {unknown[0]!r}: not a parameter of the classification study "
                         f"(known: {', '.join(sorted(known - {'run'}))})")
    p = dict(params)
    cfg = Config(profile=p.get("profile", "smoke"), data_root=p.get("data_root", ""))
    if "config" in p:
        cfg.run = _config_dict(p["config"], RunConfig(size="tiny"))
    for name in ("seeds", "ablation_seeds", "sweep_seeds"):
        if name in p:
            setattr(cfg, name, _seeds(name, p[name]))
    if not cfg.seeds:
        raise InputError("parameter 'seeds': expected at least one seed")
    for name in ("fusion_epochs", "threads"):
        if name in p:
            v = p[name]
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise InputError(f"parameter {name!r}: expected an integer >= 0, got {v!r}")
            setattr(cfg, name, v)
    if "fusion_lr" in p:
        v = p["fusion_lr"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 10:
            raise InputError(f"parameter 'fusion_lr': expected a number in [0, 10], got {v!r}")
        cfg.fusion_lr = float(v)
    if "variants" in p:
        for i, v in enumerate(p["variants"]):
            if v not in VARIANTS:
                raise InputError(f"parameter 'variants': item {i} is {v!r}; known: {', '.join(VARIANTS)}")
        cfg.variants = tuple(p["variants"])
    if "sweep_data" in p:
        if p["sweep_data"] not in SWEEP_DATA:
            raise InputError(f"parameter 'sweep_data': {p['sweep_data']!r}; expected one of {', '.join(SWEEP_DATA)}")
        cfg.sweep_data = p["sweep_data"]
    if "cue_shares" in p:
        from mglib.data.synth_imigue import max_rgb_cue_share

        cfg.cue_shares = _numbers("cue_shares", p["cue_shares"], 0.0, max_rgb_cue_share())
    if "pair_distances" in p:
        cfg.pair_distances = _numbers("pair_distances", p["pair_distances"], 0.0, 4.0)
    return cfg
