"""Official checkpoints load: fabricated state dicts with the official names and shapes (mglib.models.
official_layouts, written from the official code) go through the public loaders, and every tensor arrives."""
import math

import pytest
import torch
import torch.nn.functional as F

from mglib.errors import InputError
from mglib.models import official_layouts as OL
from mglib.models.adapters import AdapterConfig, add_adapters
from mglib.models.poseconv3d import (RGBPoseConfig, RGBPoseConv3D, Recognizer3D, load_pyskl_weights, pose_config,
                                     rgb_config)
from mglib.models.video_encoder import VideoEncoder, VideoEncoderConfig, load_i3d_weights
from mglib.models.vit import VideoViT, load_videomae, sinusoid_table, vit_config


def _save(tmp_path, name, obj):
    torch.save(obj, tmp_path / name)
    return tmp_path / name


def _official_videomae_tokens(sd, x, prefix, depth, heads):
    """The official encoder's forward (modeling_pretrain.PretrainVisionTransformerEncoder), from the raw dict."""
    g = lambda k: sd[prefix + k]  # noqa: E731
    w = g("patch_embed.proj.weight")
    t = F.conv3d(x, w, g("patch_embed.proj.bias"), stride=w.shape[2:]).flatten(2).transpose(1, 2)
    B, N, C = t.shape
    t = t + sinusoid_table(N, C)[None]
    for i in range(depth):
        b = f"blocks.{i}."
        h = F.layer_norm(t, (C,), g(b + "norm1.weight"), g(b + "norm1.bias"), 1e-6)
        bias = torch.cat([g(b + "attn.q_bias"), torch.zeros(C), g(b + "attn.v_bias")])
        q, k, v = F.linear(h, g(b + "attn.qkv.weight"), bias).reshape(B, N, 3, heads, C // heads).permute(2, 0, 3, 1, 4)
        a = ((q * (C // heads) ** -0.5) @ k.transpose(-2, -1)).softmax(-1) @ v
        t = t + F.linear(a.transpose(1, 2).reshape(B, N, C), g(b + "attn.proj.weight"), g(b + "attn.proj.bias"))
        h = F.layer_norm(t, (C,), g(b + "norm2.weight"), g(b + "norm2.bias"), 1e-6)
        h = F.linear(F.gelu(F.linear(h, g(b + "mlp.fc1.weight"), g(b + "mlp.fc1.bias"))), g(b + "mlp.fc2.weight"),
                     g(b + "mlp.fc2.bias"))
        t = t + h
    return F.layer_norm(t, (C,), g("norm.weight"), g("norm.bias"), 1e-6)


@pytest.fixture(scope="module")
def vit_s_pretrain(tmp_path_factory):
    """A fabricated VideoMAE ViT-S pretraining checkpoint: (state dict, path)."""
    sd = OL.fabricate(OL.videomae_pretrain(384, 12, decoder_dim=192))
    return sd, _save(tmp_path_factory.mktemp("vit_s"), "pt.pth", {"model": sd})


def test_videomae_small_pretraining_checkpoint(vit_s_pretrain):
    """ViT-S pretraining layout: wrapped in "model", encoder.* plus decoder.*, encoder_to_decoder, mask_token,
    pos_embed. The ViT computes what the official encoder computes with those weights."""
    sd, path = vit_s_pretrain
    assert "encoder.blocks.11.attn.q_bias" in sd and "encoder.blocks.0.attn.qkv.bias" not in sd
    vit = VideoViT(vit_config("small", img_size=32, num_frames=4)).eval()
    report = load_videomae(vit, path)
    assert report.layout == "videomae-pretrain" and report.loaded == 12 * 13 + 4 and report.kept == []
    assert any(k.startswith("decoder.") for k in report.unused) and "mask_token" in report.unused
    assert {"encoder_to_decoder.weight", "pos_embed"} <= set(report.unused)
    assert OL.not_arrived(vit, sd, ("decoder.", "encoder_to_decoder", "mask_token", "pos_embed")) == []
    assert report.loaded == len(vit.state_dict())  # and every ViT tensor came from the file
    x = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        ours, _ = vit(x)
        torch.testing.assert_close(vit.patch_embed(x), F.conv3d(x, sd["encoder.patch_embed.proj.weight"],
                                   sd["encoder.patch_embed.proj.bias"], stride=(2, 16, 16)))
        torch.testing.assert_close(ours, _official_videomae_tokens(sd, x, "encoder.", 12, 6), atol=1e-4, rtol=1e-4)
    assert "decoder.* (" in report.line() and "mask_token" in report.line()


def test_videomae_finetuned_checkpoint_into_adapted_vit(tmp_path):
    """Fine-tuned layout: wrapped in "module", no prefix, fc_norm and head; adapters keep their values."""
    sd = OL.fabricate(OL.videomae_finetune(384, 12, num_classes=400), seed=1)
    vit = add_adapters(VideoViT(vit_config("small", img_size=16, num_frames=2)), AdapterConfig("dsta"))
    report = load_videomae(vit, _save(tmp_path, "ft.pth", {"module": sd}))
    assert report.layout == "videomae-finetune" and {"head.weight", "head.bias"} == set(report.unused)
    assert report.kept and all(".adapter." in k for k in report.kept)
    torch.testing.assert_close(vit.norm.weight, sd["fc_norm.weight"])
    assert OL.not_arrived(vit.blocks[0].attn, {k: v for k, v in sd.items() if k.startswith("blocks.0.attn.")}) == []
    assert OL.not_arrived(vit, sd, ("head.",)) == []


def test_videomae_mmaction_checkpoint(tmp_path):
    """mmaction2's layout (AdaTAD's backbones): backbone.patch_embed.projection, FFN layers, fc_norm, cls_head."""
    sd = OL.fabricate(OL.videomae_mmaction(384, 12), seed=2)
    vit = VideoViT(vit_config("small", img_size=16, num_frames=2))
    report = load_videomae(vit, _save(tmp_path, "mm.pth", {"meta": {"epoch": 1}, "state_dict": sd}))
    assert report.layout == "videomae-mmaction"
    assert set(report.unused) == {"backbone.pos_embed", "cls_head.fc_cls.weight", "cls_head.fc_cls.bias"}
    torch.testing.assert_close(vit.blocks[3].mlp.fc1.weight, sd["backbone.blocks.3.mlp.layers.0.0.weight"])
    assert OL.not_arrived(vit, sd, ("cls_head.", "backbone.pos_embed")) == []


def test_videomae_refusals(vit_s_pretrain, tmp_path):
    sd, path = vit_s_pretrain
    with pytest.raises(InputError, match=r"'encoder.patch_embed.proj.weight' has shape \(384, 3, 2, 16, 16\)"):
        load_videomae(VideoViT(vit_config("base", img_size=16, num_frames=2)), path)  # ViT-S file, ViT-B model
    with pytest.raises(InputError, match="lacks 13 tensors"):
        load_videomae(VideoViT(vit_config("small", img_size=16, num_frames=2, depth=13)), path)
    layer_scale = {**sd, "encoder.blocks.0.gamma_1": torch.ones(384)}
    with pytest.raises(InputError, match="'encoder.blocks.0.gamma_1' .* has no place"):
        load_videomae(VideoViT(vit_config("small", img_size=16, num_frames=2)), _save(tmp_path, "ls.pth", layer_scale))
    with pytest.raises(InputError, match="not found"):
        load_videomae(VideoViT(vit_config("tiny")), tmp_path / "absent.pth")
    (tmp_path / "junk.pth").write_text("not a checkpoint")
    with pytest.raises(InputError, match="junk.pth: cannot read"):
        load_videomae(VideoViT(vit_config("tiny")), tmp_path / "junk.pth")


def test_i3d_rgb_imagenet(tmp_path):
    """pytorch-i3d's rgb_imagenet.pt: same module names, BN without num_batches_tracked, logits as a 1×1×1 conv."""
    sd = OL.fabricate(OL.i3d(400), seed=3)
    path = _save(tmp_path, "rgb_imagenet.pt", sd)
    enc = VideoEncoder(VideoEncoderConfig(width=1.0, num_classes=17)).eval()
    report = load_i3d_weights(enc, path)
    assert report.unused == ["logits.conv3d.weight", "logits.conv3d.bias"] and report.kept == ["head.weight", "head.bias"]
    assert OL.not_arrived(enc, sd, ("logits.",)) == [] and report.loaded == len(sd) - 2
    x = torch.randn(1, 3, 8, 32, 32)
    unit = enc.Conv3d_1a_7x7
    with torch.no_grad():
        want = F.relu(F.batch_norm(F.conv3d(F.pad(x, (2, 3, 2, 3, 2, 3)), sd["Conv3d_1a_7x7.conv3d.weight"], stride=2),
                                   sd["Conv3d_1a_7x7.bn.running_mean"], sd["Conv3d_1a_7x7.bn.running_var"],
                                   sd["Conv3d_1a_7x7.bn.weight"], sd["Conv3d_1a_7x7.bn.bias"], eps=1e-3))
        torch.testing.assert_close(unit(x), want)
    with_head = VideoEncoder(VideoEncoderConfig(width=1.0, num_classes=400))
    assert load_i3d_weights(with_head, path, with_head=True).unused == []
    torch.testing.assert_close(with_head.head.weight, sd["logits.conv3d.weight"].flatten(1))
    with pytest.raises(InputError, match=r"'logits.conv3d.weight' has shape \(400, 1024, 1, 1, 1\), .* \(17, 1024\)"):
        load_i3d_weights(enc, path, with_head=True)  # 17 classes here
    with pytest.raises(InputError, match="'Conv3d_1a_7x7.conv3d.weight' has shape"):
        load_i3d_weights(VideoEncoder(VideoEncoderConfig(width=0.125)), path)


def test_pyskl_posec3d(tmp_path):
    """PYSKL slowonly_r50 PoseConv3D (17 joints, NTU-60 head): state_dict wrapper, backbone.* and cls_head.*."""
    sd = OL.fabricate(OL.posec3d(60, 17), seed=4)
    path = _save(tmp_path, "posec3d.pth", {"meta": {"config": "slowonly_r50"}, "state_dict": sd})
    model = Recognizer3D(pose_config(17, "paper"), num_classes=60).eval()
    report = load_pyskl_weights(model, path, with_head=True)
    assert report.layout == "pyskl-posec3d" and report.unused == [] and report.kept == []
    assert OL.not_arrived(model, sd) == []
    torch.testing.assert_close(model.backbone.stages[2][0].downsample[0].weight,
                               sd["backbone.layer3.0.downsample.conv.weight"])
    x = torch.rand(2, 17, 8, 16, 16)
    with torch.no_grad():
        feat = model.backbone(x)
        want = F.linear(feat.mean((2, 3, 4)), sd["cls_head.fc_cls.weight"], sd["cls_head.fc_cls.bias"])
        torch.testing.assert_close(model(x), want)
    ours = Recognizer3D(pose_config(22, "paper"), num_classes=32)  # iMiGUE: 22 joints, 32 classes
    with pytest.raises(InputError, match=r"'backbone.conv1.conv.weight' has shape \(32, 17, 1, 7, 7\)"):
        load_pyskl_weights(ours, path)


def test_pyskl_rgbposeconv3d(tmp_path):
    """PYSKL RGBPoseConv3D: rgb_path/pose_path, the laterals layer{k}_lateral of both paths, fc_rgb/fc_pose."""
    sd = OL.fabricate(OL.rgbposeconv3d(num_classes=60), seed=5)
    assert sd["backbone.pose_path.layer1_lateral.conv.weight"].shape == (512, 32, 7, 1, 1)
    path = _save(tmp_path, "rgbpose.pth", {"state_dict": sd})
    model = RGBPoseConv3D(RGBPoseConfig(rgb_config("paper"), pose_config(17, "paper", two_stream=True),
                                        num_classes=32))
    report = load_pyskl_weights(model, path)
    assert report.layout == "pyskl-rgbpose" and len(report.unused) == 4 and report.kept == [
        "rgb_head.fc.weight", "rgb_head.fc.bias", "pose_head.fc.weight", "pose_head.fc.bias"]
    assert OL.not_arrived(model, sd, ("cls_head.",)) == []
    torch.testing.assert_close(model.pose_to_rgb[1].weight, sd["backbone.rgb_path.layer3_lateral.conv.weight"])
    torch.testing.assert_close(model.rgb_to_pose[0][1].running_var,
                               sd["backbone.pose_path.layer1_lateral.bn.running_var"])
    assert math.isclose(float(model.rgb.stages[2][0].conv1[0].weight.shape[1]), 512 + 128)
