import torch

from mglib.models.poseconv3d import (RGBPoseConfig, RGBPoseConv3D, Recognizer3D, lateral_points, pose_config,
                                     rgb_config)


def test_pose_pathway_paper_shapes():
    # paper sizes: 128/256/512 stage widths, spatial /8, temporal /2 in the last stage
    m = Recognizer3D(pose_config(17, "paper"), num_classes=5).eval()
    logits, feat = m(torch.zeros(1, 17, 8, 32, 32), return_features=True)
    assert feat.shape == (1, 512, 4, 4, 4) and logits.shape == (1, 5)
    assert [m.backbone.cfg.out_channels(i) for i in range(3)] == [128, 256, 512]


def test_small_pathways_and_zero_init_residual():
    m = Recognizer3D(rgb_config("small"), num_classes=3).eval()
    logits, feat = m(torch.randn(2, 3, 8, 64, 64), return_features=True)
    assert feat.shape == (2, 128, 8, 8, 8) and logits.shape == (2, 3)
    bn = m.backbone.stages[0][0].conv3[1]
    assert torch.all(bn.weight == 0)


def _two_stream(fusion=None):
    cfg = RGBPoseConfig(rgb=rgb_config("small"), pose=pose_config(6, "small", two_stream=True), num_classes=4)
    return cfg, RGBPoseConv3D(cfg, fusion)


def test_laterals_shapes_small():
    cfg, m = _two_stream()
    m.eval()
    assert lateral_points(cfg) == [(1, 0)]
    fr, fp, seen = m.features(torch.randn(2, 3, 8, 64, 64), torch.randn(2, 6, 32, 32, 32))
    # lateral point: RGB stage 1 (64 ch, 8 x 16 x 16) meets pose stage 0 (32 ch, 32 x 16 x 16)
    s = seen[0]
    assert s["rgb"] == (2, 64, 8, 16, 16) and s["pose"] == (2, 32, 32, 16, 16)
    assert s["to_rgb"] == (2, 32, 8, 16, 16)  # pose -> RGB: same width, time / 4
    assert s["to_pose"] == (2, 4, 32, 16, 16)  # RGB -> pose: width / 16, time x 4
    assert m.rgb.stages[2][0].conv1[0].in_channels == 64 + 32
    assert m.pose.stages[1][0].conv1[0].in_channels == 32 + 4
    assert fr.shape == (2, 128, 8, 8, 8) and fp.shape == (2, 64, 32, 8, 8)
    lr, lp = m(torch.randn(2, 3, 8, 64, 64), torch.randn(2, 6, 32, 32, 32))
    assert lr.shape == lp.shape == (2, 4)


def test_laterals_shapes_paper_channel_widths():
    # the paper's widths at reduced resolution: 640 = 512 + 128 and 1280 = 1024 + 256 RGB inputs,
    # 160 = 128 + 32 and 320 = 256 + 64 pose inputs
    cfg = RGBPoseConfig(pose=pose_config(17, "paper", two_stream=True), num_classes=3)
    m = RGBPoseConv3D(cfg)
    assert m.rgb.stages[2][0].conv1[0].in_channels == 640 and m.rgb.stages[3][0].conv1[0].in_channels == 1280
    assert m.pose.stages[1][0].conv1[0].in_channels == 160 and m.pose.stages[2][0].conv1[0].in_channels == 320
    assert m.rgb_to_pose[0][0].out_channels == 32 and m.rgb_to_pose[1][0].out_channels == 64
    m.eval()
    with torch.no_grad():
        fr, fp, seen = m.features(torch.zeros(1, 3, 8, 64, 64), torch.zeros(1, 17, 32, 16, 16))
    assert fr.shape[1] == 2048 and fp.shape[1:3] == (512, 32)
    assert seen[1]["to_pose"][2] == 32 and seen[1]["to_rgb"][2] == 8


def test_load_single_stream_copies_weights():
    cfg, m = _two_stream()
    rgb = Recognizer3D(cfg.rgb, 4)
    pose = Recognizer3D(cfg.pose, 4)
    for p in list(rgb.parameters()) + list(pose.parameters()):
        torch.nn.init.normal_(p)
    n = m.load_single_stream(rgb, pose)
    assert n > 20
    assert torch.equal(m.rgb.stem[0].weight, rgb.backbone.stem[0].weight)
    assert torch.equal(m.pose_head.fc.weight, pose.head.fc.weight)
    w = m.rgb.stages[2][0].conv1[0].weight  # widened by the lateral: own channels first, lateral ones zero
    src = rgb.backbone.stages[2][0].conv1[0].weight
    assert torch.equal(w[:, :src.shape[1]], src) and torch.all(w[:, src.shape[1]:] == 0)
