"""Study 1: micro-gesture classification on iMiGUE (Chen et al. 2024) as a task of the training engine.

Methods (``ClassificationConfig.method``):

| method | input | model |
|---|---|---|
| ``stgcn`` | keypoints (x, y, score) | ST-GCN on the joint graph |
| ``poseconv3d_joint`` / ``poseconv3d_limb`` | joint / limb heatmap volumes | PoseConv3D pose pathway |
| ``rgb3d`` | RGB clip | SlowOnly RGB pathway (a 3D ResNet) |
| ``rgbpose`` | RGB + joint heatmaps | RGBPoseConv3D with laterals |
| ``rgbpose_cmf`` / ``rgbpose_prm`` / ``rgbpose_cmf_prm`` | RGB + joint heatmaps | + cross-modal fusion / prototypical refinement / both (the paper) |
| ``swin3d_t`` / ``r2plus1d_18`` | RGB clip | torchvision video models (optional dependency) |

Data: the PYSKL pickle ``<root>/imigue.pkl`` and one RGB clip per annotation ``<root>/rgb/<frame_dir>.mp4``.
Every clip is decoded once, cropped to its PoseCompact box and resized, and kept in an ``.npz`` cache under
``results/cache/classification/``; training reads frames from memory.

Pipeline readings (state: architectures.md section 3, 8.2):
- one PoseCompact box (padding 0.25, square, may leave the image) per clip, computed over all its frames and
  shared by the pose volume and the RGB crop, so both streams see the same region at the lateral points
  (pyskl's MMCompact idea; pyskl's PoseCompact would use the sampled frames only);
- no RandomResizedCrop: train-time augmentation is the horizontal flip (p = ``flip_prob``), applied to both
  modalities together with the left/right joint swap;
- test: ``test_clips`` clips per sample (fixed seed 255), softmax averaged over clips; two-stream models fuse the
  streams' probabilities with ``fusion_weights`` (1:1 by default);
- the pose stream of the two-stream models reads joint heatmaps (ambiguity 8: "Skeleton (J)").
Book chapters: ``10_classification``, ``11_classification_analysis``.
"""
from __future__ import annotations

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
from mglib.models.cmf import fusion_modules
from mglib.models.poseconv3d import RGBPoseConfig, RGBPoseConv3D, Recognizer3D, pose_config, rgb_config
from mglib.models.prototypes import PRMConfig, PrototypicalRefinement
from mglib.models.stgcn import STGCN, stgcn_config
from mglib.pose import pose_compact, pose_volume, resize_keypoints, uniform_sample_frames
from mglib.pose.skeleton import limb_flip_index, pairs_to_permutation
from mglib.train.config import OptimConfig
from mglib.train.task import Task

METHODS = ("stgcn", "poseconv3d_joint", "poseconv3d_limb", "rgb3d", "rgbpose", "rgbpose_cmf", "rgbpose_prm",
           "rgbpose_cmf_prm", "swin3d_t", "r2plus1d_18")
TORCHVISION = ("swin3d_t", "r2plus1d_18")
RGB_MEAN = np.array([123.675, 116.28, 103.53], np.float32)  # ImageNet statistics in 0-255, as mmaction2
RGB_STD = np.array([58.395, 57.12, 57.375], np.float32)


def _paper_optim() -> OptimConfig:
    # the paper's recipe: SGD 0.0075, momentum 0.9, wd 1e-4, batch 10, 30 epochs, lr / 10 at epochs 8 and 22
    return OptimConfig(epochs=30, batch_size=10, optimizer="sgd", lr=0.0075, weight_decay=1e-4, momentum=0.9,
                       schedule="step", milestones=(8, 22), gamma=0.1, grad_clip=40.0)


@dataclass
class ClassificationConfig:
    optim: OptimConfig = field(default_factory=_paper_optim)
    data_root: str = ""  # folder with imigue.pkl and rgb/; empty = the synthetic smoke data
    method: str = "poseconv3d_joint"
    size: str = "small"  # "paper": the paper's widths/depths; "small" / "tiny": the CPU models
    train_split: str = "train"
    val_split: str = "val"
    max_train: int = 0  # 0 = all clips of the split
    max_val: int = 0
    pose_frames: int = 32
    rgb_frames: int = 8
    stgcn_frames: int = 32
    heatmap_size: int = 32  # pose volume side (56 in the paper)
    rgb_size: int = 64  # RGB side (224 in the paper): must be 2x (small) or 4x (paper) the heatmap side
    sigma: float = 0.7
    flip_prob: float = 0.5
    test_clips: int = 1
    dropout: float = 0.5
    alpha: float = 0.2  # weight of L_PR (eq. 10)
    rho: float = 0.9  # prototype EMA momentum (eq. 6)
    tau: float = 0.125
    prm_dim: int = 256
    prm_variant: str = "tp"
    cmf_tokens: str = "time"
    cmf_heads: int = 8
    init_rgb: str = ""  # run folder of a trained rgb3d model (the paper's initialisation of the two streams)
    init_pose: str = ""  # run folder of a trained poseconv3d_joint model
    fusion_weights: tuple[float, ...] = (1.0, 1.0)  # RGB : pose


# ------------------------------------------------------------------------------------------------ data

def _layout(num_joints: int):
    """Joint names, graph edges and the left/right permutation of the iMiGUE 22-joint layout."""
    from mglib.data import imigue

    if num_joints != len(imigue.JOINT_NAMES_22):
        raise InputError(f"iMiGUE classification expects {len(imigue.JOINT_NAMES_22)} joints, got {num_joints}")
    return imigue.JOINT_NAMES_22, list(imigue.EDGES_22), pairs_to_permutation(num_joints, imigue.FLIP_PAIRS_22)


def clip_box(ann: dict):
    """PoseCompact box (x0, y0, x1, y1) over every frame of a clip (square, x1.25); None if too small."""
    _, _, box = pose_compact(ann["keypoint"][..., :2], tuple(ann.get("img_shape", (720, 1280))), hw_ratio=1.0)
    return box


def _crop_resize(frames: np.ndarray, box, size: int) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, size, size, 3) uint8: crop to ``box`` (zero padding outside), then resize."""
    t, h, w, _ = frames.shape
    x0, y0, x1, y1 = box if box is not None else (0, 0, w, h)
    canvas = np.zeros((t, y1 - y0, x1 - x0, 3), np.uint8)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if sx1 > sx0 and sy1 > sy0:
        canvas[:, sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = frames[:, sy0:sy1, sx0:sx1]
    x = torch.from_numpy(canvas).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()


def rgb_cache(root, anns: list[dict], size: int) -> dict[str, np.ndarray]:
    """Every clip's frames cropped to its box and resized to ``size``, decoded once and cached as ``.npz``."""
    from mglib.data.imigue import clip_video_path
    from mglib.data.video import read_video

    root = Path(root)
    pkl = root / "imigue.pkl"
    stamp = f"{pkl.resolve()}|{pkl.stat().st_mtime_ns if pkl.exists() else 0}|{size}|" + \
        ",".join(a["frame_dir"] for a in anns)
    key = hashlib.sha256(stamp.encode()).hexdigest()[:16]
    path = paths.CACHE / "classification" / f"rgb_{key}.npz"
    if path.exists():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    out = {}
    for a in anns:
        vid = clip_video_path(root, a["frame_dir"])
        if not vid.exists():
            raise InputError(f"{paths.relative(vid)}: missing RGB clip for annotation {a['frame_dir']!r}")
        frames, _ = read_video(vid)
        box = clip_box(a)
        if box is not None:  # keypoints live in img_shape pixels; the video may be stored at another size
            ih, iw = a.get("img_shape", frames.shape[1:3])
            sx, sy = frames.shape[2] / iw, frames.shape[1] / ih
            box = (int(box[0] * sx), int(box[1] * sy), int(box[2] * sx), int(box[3] * sy))
        out[a["frame_dir"]] = _crop_resize(frames, box, size)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **out)
    tmp.replace(path)
    return out


class IMiGUEClips(Dataset):
    """Items: ``{"label", "pose" (clips, C, T, S, S), "rgb" (clips, 3, T, S, S), "kp" (clips, M, T, V, 3)}``;
    only the inputs the method reads are built."""

    def __init__(self, anns, cfg: ClassificationConfig, train: bool, rgb: dict | None, limbs=None,
                 flip=None, seed: int = 0):
        self.anns, self.cfg, self.train, self.rgb = anns, cfg, train, rgb
        self.limbs, self.flip = limbs, flip
        self.limb_flip = limb_flip_index(limbs, flip) if limbs is not None else None
        self.modes = _modalities(cfg.method)
        self.rng = np.random.RandomState(seed)
        self.boxes = [clip_box(a) for a in anns]

    def __len__(self):
        return len(self.anns)

    def _indices(self, total, clip_len):
        if self.train:
            return uniform_sample_frames(total, clip_len, 1, rng=self.rng)[None]
        return uniform_sample_frames(total, clip_len, self.cfg.test_clips, test_mode=True).reshape(-1, clip_len)

    def __getitem__(self, i):
        a, c = self.anns[i], self.cfg
        flip = self.train and self.rng.rand() < c.flip_prob
        item = {"label": torch.tensor(a["label"])}
        kp, score = a["keypoint"][..., :2], a.get("keypoint_score", np.ones(a["keypoint"].shape[:3], np.float32))
        if "pose" in self.modes:
            box = self.boxes[i]
            if box is not None:
                kp_c, shape = kp - np.array(box[:2], np.float32) * (kp != 0), (box[3] - box[1], box[2] - box[0])
            else:
                kp_c, shape = kp, tuple(a.get("img_shape", (720, 1280)))
            s = c.heatmap_size
            kp_c = resize_keypoints(kp_c, shape, (s, s))
            vols = []
            for idx in self._indices(kp.shape[1], c.pose_frames):
                with_joints = c.method != "poseconv3d_limb"
                limbs = self.limbs if c.method == "poseconv3d_limb" else None
                v = pose_volume(kp_c[:, idx], score[:, idx], (s, s), c.sigma, limbs=limbs, with_joints=with_joints)
                if flip:  # mirror in pixel space and swap left/right channels
                    v = v[self.limb_flip if limbs is not None else self.flip][..., ::-1]
                vols.append(np.ascontiguousarray(v))
            item["pose"] = torch.from_numpy(np.stack(vols))
        if "rgb" in self.modes:
            frames = self.rgb[a["frame_dir"]]
            clips = []
            for idx in self._indices(len(frames), c.rgb_frames):
                x = (frames[idx].astype(np.float32) - RGB_MEAN) / RGB_STD  # (T, S, S, 3)
                if flip:
                    x = x[:, :, ::-1]
                clips.append(np.ascontiguousarray(x.transpose(3, 0, 1, 2)))
            item["rgb"] = torch.from_numpy(np.stack(clips))
        if "kp" in self.modes:
            h, w = a.get("img_shape", (720, 1280))
            xy = kp / np.array([w, h], np.float32) * 2 - 1  # PreNormalize2D: pixels -> [-1, 1]
            x = np.concatenate([xy, score[..., None]], -1)[:1]  # one person
            item["kp"] = torch.from_numpy(np.stack([x[:, idx] for idx in self._indices(kp.shape[1], c.stgcn_frames)]))
        return item


def _modalities(method: str) -> tuple[str, ...]:
    if method == "stgcn":
        return ("kp",)
    if method.startswith("poseconv3d"):
        return ("pose",)
    if method.startswith("rgbpose"):
        return ("rgb", "pose")
    return ("rgb",)


# ------------------------------------------------------------------------------------------------ model

class ClassifierNet(nn.Module):
    """One model of the study behind one call: ``forward(batch)`` -> ``{"logits": [per stream (B*clips, K)],
    "prm": L_PR or None}``. PRM modules (one per stream) live here, so their prototypes are checkpointed."""

    def __init__(self, cfg: ClassificationConfig, num_classes: int, num_joints: int, edges, num_limbs: int):
        super().__init__()
        self.method, m = cfg.method, cfg.method
        self.streams = ("rgb", "pose") if m.startswith("rgbpose") else _modalities(m)[:1]
        if m == "stgcn":
            self.net = STGCN(stgcn_config(cfg.size), num_joints, edges, center=1, num_classes=num_classes)
        elif m.startswith("poseconv3d"):
            ch = num_limbs if m == "poseconv3d_limb" else num_joints
            self.net = Recognizer3D(pose_config(ch, cfg.size), num_classes, cfg.dropout)
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
            pcfg = PRMConfig(cfg.prm_dim, cfg.tau, cfg.rho, cfg.prm_variant)
            self.prm = nn.ModuleList([PrototypicalRefinement(self.net.rgb.out_channels, num_classes, pcfg),
                                      PrototypicalRefinement(self.net.pose.out_channels, num_classes, pcfg)])

    def forward(self, batch, labels=None, return_features: bool = False):
        m = self.method
        if m.startswith("rgbpose"):
            lr, lp, fr, fp = self.net(batch["rgb"].flatten(0, 1), batch["pose"].flatten(0, 1), return_features=True)
            logits, feats = [lr, lp], [fr, fp]
        else:
            x = batch[_modalities(m)[0]].flatten(0, 1)
            if m in TORCHVISION:
                logits, feats = [self.net(x)], [None]
            else:
                lg, ft = self.net(x, return_features=True)
                logits, feats = [lg], [ft]
        out = {"logits": logits, "prm": None}
        if self.prm is not None and labels is not None:
            losses = [prm(f, lg, labels) for prm, f, lg in zip(self.prm, feats, logits)]
            out["prm"] = sum(l for l, _ in losses)
            out["prm_logs"] = [lg for _, lg in losses]
        if return_features:
            out["features"] = feats
        return out


def late_fusion(probs: list[np.ndarray], weights) -> np.ndarray:
    """Weighted sum of per-stream probabilities (the paper fuses RGB : pose 1:1; 2:1 and 1:2 are reported)."""
    w = np.asarray(weights, np.float64)[: len(probs)]
    return sum(wi * p for wi, p in zip(w, probs)) / w.sum()


# ------------------------------------------------------------------------------------------------ task

class ClassificationTask(Task):
    name = "classification"
    Config = ClassificationConfig

    def __init__(self, cfg: ClassificationConfig):
        super().__init__(cfg)
        if cfg.method not in METHODS:
            raise InputError(f"method {cfg.method!r}: expected one of {', '.join(METHODS)}")
        if cfg.method.startswith("rgbpose"):
            ratio = 4 if cfg.size == "paper" else 2  # RGB side / heatmap side where the laterals meet
            if cfg.pose_frames != 4 * cfg.rgb_frames:
                raise InputError(f"pose_frames={cfg.pose_frames}: the two-stream model needs 4 x rgb_frames "
                                 f"({4 * cfg.rgb_frames})")
            if cfg.rgb_size != ratio * cfg.heatmap_size:
                raise InputError(f"rgb_size={cfg.rgb_size}: size {cfg.size!r} needs {ratio} x heatmap_size "
                                 f"({ratio * cfg.heatmap_size})")
        self._data = None

    # data --------------------------------------------------------------------------------------------
    def root(self) -> Path:
        return Path(self.cfg.data_root) if self.cfg.data_root else paths.synthetic_dir("imigue", "smoke")

    def load(self):
        """(train annotations, val annotations, num_classes, joint names, edges, flip) — read once."""
        if self._data is None:
            from mglib.data.imigue import load_pyskl
            from mglib.taxonomy import IMIGUE_CLASSES

            c = self.cfg
            pkl = self.root() / "imigue.pkl"
            anns, split = load_pyskl(pkl)
            by_name = {a["frame_dir"]: a for a in anns}
            parts = []
            for name, cap in ((c.train_split, c.max_train), (c.val_split, c.max_val)):
                if name not in split:
                    raise InputError(f"{paths.relative(pkl)}, field 'split': no split {name!r} "
                                     f"(have: {', '.join(split)})")
                ids = split[name][:cap] if cap else split[name]
                parts.append([by_name[i] for i in ids])
            names, edges, flip = _layout(anns[0]["keypoint"].shape[2])
            self._data = (*parts, len(IMIGUE_CLASSES), names, edges, flip)
        return self._data

    def datasets(self):
        train, val, _, _, edges, flip = self.load()
        rgb = None
        if "rgb" in _modalities(self.cfg.method):
            rgb = rgb_cache(self.root(), train + val, self.cfg.rgb_size)
        return (IMiGUEClips(train, self.cfg, True, rgb, edges, flip, seed=self.cfg.optim.seed),
                IMiGUEClips(val, self.cfg, False, rgb, edges, flip))

    # model -------------------------------------------------------------------------------------------
    def build_model(self):
        _, _, k, names, edges, _ = self.load()
        model = ClassifierNet(self.cfg, k, len(names), edges, len(edges))
        if self.cfg.method.startswith("rgbpose") and (self.cfg.init_rgb or self.cfg.init_pose):
            from mglib.train.engine import load_model

            def single(run_dir, method):
                if not run_dir:
                    return None
                task = ClassificationTask(_replace(self.cfg, method=method))
                return load_model(task, run_dir).net

            model.net.load_single_stream(single(self.cfg.init_rgb, "rgb3d"), single(self.cfg.init_pose,
                                                                                    "poseconv3d_joint"))
        return model

    def loss(self, model, batch):
        labels = batch["label"]
        out = model(batch, labels=labels)
        ce = [F.cross_entropy(lg, labels) for lg in out["logits"]]
        loss = sum(ce)  # RGBPoseHead: CE(rgb) + CE(pose), weights 1:1
        logs = {f"ce_{s}": float(v.detach()) for s, v in zip(model_streams(model), ce)}
        if out["prm"] is not None:
            loss = loss + self.cfg.alpha * out["prm"]
            logs["prm"] = float(out["prm"].detach())
        return loss, logs

    @torch.no_grad()
    def predict(self, model, loader) -> dict:
        """Per-stream clip-averaged softmax probabilities, labels and frame ids of a loader's samples."""
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

        _, _, k, _, _, _ = self.load()
        pred = self.predict(model, loader)
        y, streams = pred["label"], model_streams(model)
        fused = late_fusion(pred["probs"], self.cfg.fusion_weights)
        rep = classification_report(y, fused, k)
        metrics = {"score": rep["top1"], "top1": rep["top1"], "top5": rep["top5"], "macro_f1": rep["macro_f1"],
                   "chance": 1.0 / k}
        if len(streams) > 1:
            for s, p in zip(streams, pred["probs"]):
                metrics[f"top1_{s}"] = float((p.argmax(1) == y).mean())
        return metrics, {"label": y.tolist(), "streams": list(streams),
                         "probs": [np.round(p, 6).tolist() for p in pred["probs"]]}


def model_streams(model) -> tuple[str, ...]:
    return getattr(model, "module", model).streams


def _replace(cfg, **kw):
    import dataclasses

    return dataclasses.replace(cfg, **kw)


def load_predictions(run_dir) -> dict:
    """The stored validation predictions (final evaluation) of a finished run, as arrays."""
    path = Path(run_dir) / "predictions.json"
    if not path.exists():
        raise InputError(f"{paths.relative(path)}: no predictions; train the run first")
    obj = json.loads(path.read_text())
    return {"label": np.asarray(obj["label"]), "streams": obj["streams"],
            "probs": [np.asarray(p) for p in obj["probs"]]}


# Table 2 of Chen et al. 2024 (chen2024prototype), top-1 % on the iMiGUE test set, keyed by our method name:
# (the paper's row, its number). Rows of ours without a counterpart in the paper are absent. The paper's ensemble
# combines VSwin-B, Li et al. (skeleton J + L) and its own model; ours combines the models of this study.
REPORTED_TABLE2 = {
    "stgcn": ("ST-GCN, skeleton (J)", 46.38),
    "poseconv3d_joint": ("PoseConv3D, skeleton (J)", 61.11),
    "swin3d_t": ("VSwin-T, RGB", 59.97),
    "rgbpose_cmf_prm": ("Ours (PoseConv3D + CMF + PRM)", 67.91),
    "ensemble": ("Ours (ensemble), RGB & skeleton (J + L)", 70.25),
}
