import math

import pytest
import torch

from mglib.models import actionformer as AF


def small_cfg(**kw):
    base = dict(in_dim=8, num_classes=6, max_seq_len=32, arch=(1, 1, 2), embd_dim=16, head_dim=16, n_head=2,
                mha_win_size=-1, regression_range=((0, 4), (4, 8), (8, 10000)), path_pdrop=0.0)
    base.update(kw)
    return AF.ActionFormerConfig(**base)


def assign(segs, labels, cfg=None):
    cfg = cfg or small_cfg()
    pts = AF.make_points(cfg)
    cls, off = AF.assign_labels(pts, torch.tensor(segs, dtype=torch.float32), torch.tensor(labels), cfg)
    return pts, cls, off


def positives(pts, cls):
    i = torch.nonzero(cls.sum(1) > 0).squeeze(1)
    return [(int(pts[j, 3]), int(pts[j, 0]), sorted(torch.nonzero(cls[j]).squeeze(1).tolist())) for j in i]


def test_points_layout():
    pts = AF.make_points(small_cfg())
    assert pts.shape == (32 + 16 + 8, 4)
    assert pts[32].tolist() == [0.0, 4.0, 8.0, 2.0] and pts[-1].tolist() == [28.0, 8.0, 10000.0, 4.0]


def test_assignment_short_segment_centre_sampling():
    # GT [10, 13]: centre 11.5, radius 1.5 strides → only t = 11, 12 at stride 1 (max distance 2 ∈ [0, 4])
    pts, cls, off = assign([[10.0, 13.0]], [3])
    assert positives(pts, cls) == [(1, 11, [3]), (1, 12, [3])]
    torch.testing.assert_close(off[11], torch.tensor([1.0, 2.0]))
    torch.testing.assert_close(off[12], torch.tensor([2.0, 1.0]))


def test_assignment_long_segment_goes_to_coarse_level_in_stride_units():
    pts, cls, off = assign([[0.0, 30.0], [10.0, 13.0]], [1, 3])
    pos = positives(pts, cls)
    assert (4, 12, [1]) in pos and (4, 16, [1]) in pos and (4, 20, [1]) in pos
    assert (1, 11, [3]) in pos and (1, 12, [3]) in pos
    assert len(pos) == 5
    j = 32 + 16 + 3  # stride 4, t = 12
    torch.testing.assert_close(off[j], torch.tensor([12.0 / 4, 18.0 / 4]))


def test_assignment_shortest_wins_and_ties_are_multi_hot():
    # both GTs cover t = 11 at stride 1; the shorter one ([10, 13], class 3) wins the point
    pts, cls, off = assign([[9.0, 13.5], [10.0, 13.0]], [2, 3])
    assert cls[11].tolist() == [0, 0, 0, 1, 0, 0]
    torch.testing.assert_close(off[11], torch.tensor([1.0, 2.0]))
    # identical segments of two classes: both labels at the same point
    pts, cls, _ = assign([[10.0, 13.0], [10.0, 13.0]], [3, 5])
    assert cls[11].tolist() == [0, 0, 0, 1, 0, 1]


def test_assignment_without_gt():
    pts, cls, off = assign(torch.zeros(0, 2).tolist(), [])
    assert cls.sum() == 0 and off.shape == (pts.shape[0], 2)


def test_focal_and_diou_values():
    fl = AF.sigmoid_focal_loss(torch.zeros(1), torch.ones(1))
    assert math.isclose(fl.item(), 0.25 * 0.25 * math.log(2), rel_tol=1e-6)
    d = AF.diou_loss_1d(torch.tensor([[1.0, 1.0], [1.0, 1.0]]), torch.tensor([[1.0, 1.0], [2.0, 0.0]]))
    torch.testing.assert_close(d, torch.tensor([0.0, 1 - 1 / 3 + 1 / 9]))


def test_soft_nms_hand_case():
    segs = torch.tensor([[0.0, 10.0], [0.0, 5.0], [0.0, 5.0], [20.0, 30.0]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    labels = torch.tensor([0, 0, 1, 0])
    s, p, l = AF.batched_soft_nms(segs, scores, labels, sigma=0.5, min_score=0.001, max_seg_num=10)
    got = {(tuple(a.tolist()), int(c)): float(b) for a, b, c in zip(s, p, l)}
    assert got[((0.0, 10.0), 0)] == pytest.approx(0.9)
    assert got[((0.0, 5.0), 0)] == pytest.approx(0.8 * math.exp(-0.25 / 0.5))  # IoU 0.5 with the first
    assert got[((0.0, 5.0), 1)] == pytest.approx(0.7)  # other class: untouched
    assert got[((20.0, 30.0), 0)] == pytest.approx(0.6)  # no overlap
    assert p.tolist() == sorted(p.tolist(), reverse=True)
    # min_score drops heavily decayed duplicates; max_seg_num truncates
    s, p, _ = AF.batched_soft_nms(torch.tensor([[0.0, 10.0], [0.0, 10.0]]), torch.tensor([0.9, 0.5]),
                                  torch.tensor([0, 0]), sigma=0.5, min_score=0.2)
    assert len(p) == 1
    _, p, _ = AF.batched_soft_nms(segs, scores, labels, max_seg_num=2)
    assert len(p) == 2


def test_batched_soft_nms_equals_per_class_reference():
    g = torch.Generator().manual_seed(0)
    start = torch.rand(60, generator=g) * 20
    segs = torch.stack([start, start + 0.5 + torch.rand(60, generator=g) * 8], 1)
    scores = torch.rand(60, generator=g)
    labels = torch.randint(0, 4, (60,), generator=g)
    s, p, l = AF.batched_soft_nms(segs, scores, labels, sigma=0.5, min_score=0.05, max_seg_num=1000)
    ref = []
    for c in range(4):
        m = torch.nonzero(labels == c).squeeze(1)
        idx, sc = AF.soft_nms(segs[m], scores[m], 0.5, 0.05)
        ref += [(round(float(b), 6), c) for b in sc]
    assert sorted(ref) == sorted((round(float(b), 6), int(c)) for b, c in zip(p, l))


def test_pyramid_shapes_and_masking():
    torch.manual_seed(0)
    cfg = small_cfg(arch=(2, 2, 5), max_seq_len=64, regression_range=((0, 4), (4, 8), (8, 16), (16, 32),
                                                                      (32, 64), (64, 10000)))
    m = AF.ActionFormer(cfg).eval()
    x = torch.randn(2, 8, 64)
    mask = torch.ones(2, 64, dtype=torch.bool)
    mask[1, 32:] = False
    feats, masks = m.backbone(x, mask[:, None])
    assert [f.shape[-1] for f in feats] == [64, 32, 16, 8, 4, 2]
    assert all(f.shape[:2] == (2, 16) for f in feats)
    assert [int(mk[1].sum()) for mk in masks] == [32, 16, 8, 4, 2, 1]
    cls, reg, valid = m(x, mask)
    assert cls.shape == (2, 126, 6) and reg.shape == (2, 126, 2) and valid.shape == (2, 126)
    assert (reg >= 0).all()
    # the class bias prior: initial probabilities ≈ 0.01
    assert abs(torch.sigmoid(cls[0]).mean().item() - 0.01) < 0.01
    # padding does not leak: the valid half of video 1 equals the same input cut to 32 steps (padded with other data)
    x2 = x.clone()
    x2[1, :, 32:] = 5.0
    cls2, _, _ = m(x2, mask)
    torch.testing.assert_close(cls2[1, :32], cls[1, :32])
    with pytest.raises(ValueError):
        m(torch.randn(1, 8, 40), torch.ones(1, 40, dtype=torch.bool))


def test_overfits_a_batch_and_decodes_it():
    # 8 videos, one action each, visible in the channel of its class; the head must localise and label them
    torch.manual_seed(0)
    m = AF.ActionFormer(small_cfg(init_loss_norm=10.0))
    g = torch.Generator().manual_seed(1)
    x = 0.3 * torch.randn(8, 8, 32, generator=g)
    segs, labs = [], []
    for b in range(8):
        L = int(torch.randint(3, 12, (1,), generator=g))
        s = int(torch.randint(0, 32 - L, (1,), generator=g))
        x[b, b % 3, s:s + L] += 2.0
        segs.append(torch.tensor([[float(s), float(s + L)]]))
        labs.append(torch.tensor([b % 3]))
    mask = torch.ones(8, 32, dtype=torch.bool)
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    for step in range(100):
        loss, logs = m.loss(x, mask, segs, labs)
        first = loss.item() if step == 0 else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert logs["num_pos"] == 32
    assert loss.item() < 0.05 * first
    m.eval()
    for b, (s, p, l) in enumerate(m.predict(x, mask)):
        assert int(l[0]) == b % 3
        assert AF.segment_iou(s[0], segs[b]).item() > 0.9
        assert (p[:-1] >= p[1:]).all()


@pytest.mark.parametrize("cin,cout,k,groups,bias", [(8, 6, 3, 1, True), (8, 8, 3, 8, False), (8, 8, 5, 8, True),
                                                    (8, 8, 3, 2, True), (8, 8, 1, 1, True)])
def test_masked_conv_shifted_products_equal_conv1d(cin, cout, k, groups, bias):
    # the CPU path writes stride-1 convolutions as shifted copies; values and gradients must be nn.Conv1d's
    torch.manual_seed(0)
    m = AF.MaskedConv1D(cin, cout, k, groups=groups, bias=bias)
    if bias:
        torch.nn.init.normal_(m.conv.bias)
    x = torch.randn(3, cin, 11, requires_grad=True)
    mask = torch.rand(3, 1, 11) > 0.3
    y, out_mask = m(x, mask)
    ref = m.conv(x) * mask
    assert torch.equal(out_mask, mask)
    torch.testing.assert_close(y, ref, atol=1e-5, rtol=1e-5)
    gy = torch.randn_like(y)
    got = torch.autograd.grad((y * gy).sum(), [x, *m.parameters()])
    want = torch.autograd.grad((ref * gy).sum(), [x, *m.parameters()])
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_channel_layer_norm_normalises_each_step_over_channels():
    ln = AF.ChannelLN(6)
    torch.nn.init.normal_(ln.weight)
    torch.nn.init.normal_(ln.bias)
    x = torch.randn(2, 6, 5)
    mu = x.mean(1, keepdim=True)
    var = (x - mu).pow(2).mean(1, keepdim=True)  # biased, as the official ActionFormer's LayerNorm
    torch.testing.assert_close(ln(x), (x - mu) / torch.sqrt(var + ln.eps) * ln.weight + ln.bias)
