"""Official checkpoints into this project's models: one loading mechanism, one key map per official layout.

Layouts (key names and shapes: :mod:`mglib.models.official_layouts`):

| layout | file | into |
|---|---|---|
| ``videomae-pretrain`` | MCG-NJU VideoMAE pretraining, ``{"model": {"encoder.…", "decoder.…", …}}`` | :class:`~mglib.models.vit.VideoViT` |
| ``videomae-finetune`` | MCG-NJU VideoMAE fine-tuned, ``{"module": {…, "fc_norm.…", "head.…"}}`` | ``VideoViT`` |
| ``videomae-mmaction`` | mmaction2 VideoMAE (AdaTAD's backbones), ``{"state_dict": {"backbone.…", "cls_head.…"}}`` | ``VideoViT`` |
| ``i3d`` | pytorch-i3d ``rgb_imagenet.pt`` (PointTAD, MAC-2024 baseline) | :class:`~mglib.models.video_encoder.VideoEncoder` (width 1) |
| ``pyskl-posec3d`` | PYSKL / mmaction2 PoseConv3D, ``{"state_dict": {"backbone.…", "cls_head.fc_cls.…"}}`` | :class:`~mglib.models.poseconv3d.Recognizer3D` |
| ``pyskl-rgbpose`` | PYSKL / mmaction2 RGBPoseConv3D (``rgb_path``, ``pose_path``, ``fc_rgb``/``fc_pose``) | :class:`~mglib.models.poseconv3d.RGBPoseConv3D` |

What every load does: unwrap the container, rename every tensor to its place in the model, refuse a tensor whose
shape differs (one line naming the key) or that has no place, refuse a checkpoint that lacks a tensor the model
needs, and print one line: how many tensors loaded, which were not used (by design: a decoder, a classifier) and
which model tensors kept their initial values (by design: adapters, a new head). Pure functions of the state dict:
no network, the file must be on disk.

Readings (the official models have no exact counterpart here):
- VideoMAE's fixed sinusoid table (``pos_embed`` of the pretraining decoder or of mmaction2's encoder) is not a
  weight: the ViT computes its own for its token grid.
- A fine-tuned VideoMAE pools the tokens, then normalises (``fc_norm``); :class:`VideoViT` normalises every token,
  then pools. ``fc_norm`` becomes the ViT's final ``norm``: the same statistics, applied per token.
- Classifier heads load only with ``with_head=True`` (then their class count must match); by default they are
  reported as not used, since a study trains its own head for its own classes.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn

from mglib import paths
from mglib.errors import InputError

# (checkpoint key, tensor) -> (model key, tensor), or None: not used by design
Mapper = Callable[[str, torch.Tensor], "tuple[str, torch.Tensor] | None"]


@dataclass
class LoadReport:
    path: str
    layout: str
    loaded: int
    unused: list[str] = field(default_factory=list)  # checkpoint keys not used (by design)
    kept: list[str] = field(default_factory=list)  # model keys left at their initial values (by design)

    def line(self) -> str:
        return (f"{self.path}: {self.layout} checkpoint, {self.loaded} tensors loaded; not used: {_summary(self.unused)}; "
                f"kept initial: {_summary(self.kept)}")


def _summary(keys: list[str]) -> str:
    """``decoder.* 53, mask_token`` — keys grouped by their first name component."""
    if not keys:
        return "none"
    groups: dict[str, list[str]] = {}
    for k in keys:
        groups.setdefault(k.split(".")[0], []).append(k)
    return ", ".join(ks[0] if len(ks) == 1 else f"{g}.* ({len(ks)})" for g, ks in groups.items())


def read_state_dict(path, what: str) -> dict[str, torch.Tensor]:
    """Tensors of a local ``.pt``/``.pth``/``.safetensors`` file, unwrapped from ``state_dict``/``model``/``module``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: {what} not found (see README.md, section 'CUDA machine')")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj = load_file(str(path))
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated file, a pickle with objects other than tensors, not a checkpoint at all
        raise InputError(f"{path}: cannot read it as a {what} ({type(e).__name__}: {str(e).splitlines()[0][:160]})")
    while isinstance(obj, dict):
        inner = next((obj[k] for k in ("state_dict", "model", "module") if isinstance(obj.get(k), dict)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, dict) or not obj:
        raise InputError(f"{path}: expected a state dict (a mapping of names to tensors), got {type(obj).__name__}")
    bad = next((k for k, v in obj.items() if not isinstance(v, torch.Tensor)), None)
    if bad is not None:
        raise InputError(f"{path}: entry {bad!r} is a {type(obj[bad]).__name__}, expected a tensor")
    return {k.removeprefix("module."): v for k, v in obj.items()}  # DataParallel prefix


def load_mapped(model: nn.Module, state: dict[str, torch.Tensor], mapper: Mapper, path, layout: str,
                may_keep: Callable[[str], bool] = lambda k: False) -> LoadReport:
    """Put every tensor of ``state`` where ``mapper`` says; ``may_keep(model_key)``: may keep its initial value."""
    shown = paths.relative(path)
    own = model.state_dict()
    mapped, unused = {}, []
    for key, value in state.items():
        out = mapper(key, value)
        if out is None:
            unused.append(key)
            continue
        target, value, shape = out[0], out[1], tuple(value.shape)
        if target not in own:
            raise InputError(f"{shown}: tensor {key!r} of the {layout} checkpoint has no place in "
                             f"{type(model).__name__} (looked for {target!r})")
        if own[target].shape != value.shape:
            raise InputError(f"{shown}: tensor {key!r} has shape {shape}, {type(model).__name__} expects "
                             f"{tuple(own[target].shape)} at {target!r}")
        mapped[target] = value
    kept = [k for k in own if k not in mapped and not k.endswith("num_batches_tracked")]
    report = LoadReport(shown, layout, len(mapped), unused, [k for k in kept if may_keep(k)])
    needed = [k for k in kept if not may_keep(k)]
    if needed:
        raise InputError(f"{shown}: the {layout} checkpoint lacks {len(needed)} tensors {type(model).__name__} needs, "
                         f"e.g. {needed[0]!r} (is it the right model size?)")
    model.load_state_dict(mapped, strict=False)
    print(report.line(), file=sys.stderr)
    return report


# --- VideoMAE -------------------------------------------------------------------------------------------------

def videomae_layout(state: dict) -> str:
    if any(k.startswith("encoder.") for k in state):
        return "videomae-pretrain"
    if any(k.startswith("backbone.") for k in state):
        return "videomae-mmaction"
    return "videomae-finetune"


_MMACTION_RENAMES = ((".mlp.layers.0.0.", ".mlp.fc1."), (".mlp.layers.1.", ".mlp.fc2."))


def _videomae_mapper(layout: str) -> Mapper:
    prefix = {"videomae-pretrain": "encoder.", "videomae-mmaction": "backbone."}.get(layout, "")

    def mapper(key, value):
        if not key.startswith(prefix):  # decoder.*, encoder_to_decoder, mask_token, pos_embed; cls_head.*
            return None
        k = key[len(prefix):]
        if k == "pos_embed" or k.startswith("head."):  # a fixed sinusoid table; the classifier
            return None
        k = re.sub(r"^patch_embed\.(proj|projection)\.", "patch_embed.", k)
        for old, new in _MMACTION_RENAMES:
            k = k.replace(old, new)
        k = re.sub(r"^fc_norm\.", "norm.", k)
        return k, value

    return mapper


def load_videomae(vit: nn.Module, path) -> LoadReport:
    """A VideoMAE checkpoint (pretraining, fine-tuned or mmaction2) into a :class:`VideoViT` of the same size."""
    state = read_state_dict(path, "VideoMAE checkpoint")
    layout = videomae_layout(state)
    return load_mapped(vit, state, _videomae_mapper(layout), path, layout, may_keep=lambda k: ".adapter." in k)


# --- pytorch-i3d ----------------------------------------------------------------------------------------------

def load_i3d(model: nn.Module, path, with_head: bool = False) -> LoadReport:
    """pytorch-i3d's ``InceptionI3d`` (e.g. ``rgb_imagenet.pt``) into a width-1 :class:`VideoEncoder`; module names
    are the same. ``logits`` (a 1×1×1 conv) becomes ``head`` (a linear layer) with ``with_head=True``."""
    state = read_state_dict(path, "I3D weights file")

    def mapper(key, value):
        if key.startswith("logits."):
            if not with_head:
                return None
            return "head." + key.split(".")[-1], value.flatten(1) if value.dim() == 5 else value
        return key, value

    return load_mapped(model, state, mapper, path, "i3d", may_keep=lambda k: not with_head and k.startswith("head."))


# --- PYSKL / mmaction2 PoseConv3D and RGBPoseConv3D -----------------------------------------------------------

def _pathway_key(k: str) -> str:
    """A ``ResNet3d`` key (after the pathway prefix) → :class:`Pathway`'s: conv1 → stem, layerN → stages.N-1,
    ConvModule ``conv``/``bn`` → Sequential ``0``/``1``."""
    k = re.sub(r"^conv1\.conv\.", "stem.0.", k)
    k = re.sub(r"^conv1\.bn\.", "stem.1.", k)
    k = re.sub(r"^layer(\d+)\.", lambda m: f"stages.{int(m.group(1)) - 1}.", k)
    k = re.sub(r"\.(conv\d|downsample)\.conv\.", r".\1.0.", k)
    return re.sub(r"\.(conv\d|downsample)\.bn\.", r".\1.1.", k)


_PATHS = {"rgb_path": "rgb", "pose_path": "pose"}


def load_pyskl(model: nn.Module, path, with_head: bool = False) -> LoadReport:
    """A PYSKL / mmaction2 PoseConv3D checkpoint into a :class:`Recognizer3D`, or an RGBPoseConv3D one into an
    :class:`RGBPoseConv3D` (its cross-modal fusion modules, absent from the official model, keep their values)."""
    from mglib.models.poseconv3d import RGBPoseConv3D

    state = read_state_dict(path, "PYSKL checkpoint")
    two_stream = isinstance(model, RGBPoseConv3D)
    layout = "pyskl-rgbpose" if two_stream else "pyskl-posec3d"
    heads = {"fc_rgb": "rgb_head.fc", "fc_pose": "pose_head.fc"} if two_stream else {"fc_cls": "head.fc"}

    def mapper(key, value):
        if key.startswith("cls_head."):
            name, _, rest = key[len("cls_head."):].partition(".")
            return (f"{heads[name]}.{rest}", value) if with_head and name in heads else None
        if not key.startswith("backbone."):
            return None  # data_preprocessor buffers and the like
        k = key[len("backbone."):]
        if not two_stream:
            return f"backbone.{_pathway_key(k)}", value
        path_name, _, k = k.partition(".")
        lateral = re.match(r"layer(\d+)_lateral\.(conv|bn)\.(.+)", k)
        if lateral is None:
            return f"{_PATHS.get(path_name, path_name)}.{_pathway_key(k)}", value
        stage, part, rest = int(lateral.group(1)) - 1, lateral.group(2), lateral.group(3)
        side = 0 if path_name == "rgb_path" else 1  # lateral points pair (RGB stage, pose stage)
        i = next((j for j, pt in enumerate(model.points) if pt[side] == stage), None)
        if i is None:
            return f"{path_name}.{k}", value  # no such lateral here: refused as "no place"
        if path_name == "rgb_path":  # pose -> RGB: a plain conv
            return f"pose_to_rgb.{i}.{rest}", value
        return f"rgb_to_pose.{i}.{0 if part == 'conv' else 1}.{rest}", value  # RGB -> pose: deconv + BN

    def may_keep(k):
        return k.startswith("fusion.") or (not with_head and k.startswith(tuple(heads.values())))

    return load_mapped(model, state, mapper, path, layout, may_keep)
