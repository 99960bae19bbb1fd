import pytest
import torch

from mglib.models.pointtad import (PointTAD, PointTADConfig, detections, points_to_segments, pseudo_length,
                                   sample_linear, update_points)


def tiny(**kw):
    base = dict(num_classes=5, in_dim=12, hidden=32, num_queries=6, num_points=9, num_layers=2, n_heads=4, ffn=64,
                mix_dim=8, dense_hidden=16, query_mixer="mhsa")
    base.update(kw)
    return PointTADConfig(**base)


def test_points_to_segments_uses_first_two_thirds_and_clamps():
    # Ns = 9 → the first 9 − 3 = 6 points define the segment; the last 3 are free semantic points
    p = torch.tensor([[0.3, 0.5, 0.4, 0.6, 0.45, 0.35, 0.0, 1.0, 0.9]])
    seg = points_to_segments(p)
    assert torch.allclose(seg, torch.tensor([[0.45, 0.3]]))
    p = torch.tensor([[-0.2, 0.5, 1.4, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]])
    assert torch.allclose(points_to_segments(p), torch.tensor([[0.5, 1.0]]))  # clamped to [0, 1]
    assert pseudo_length(p).item() == pytest.approx(1.6)  # the step size is not clamped


def test_update_rule_scales_by_pseudo_segment_length():
    p = torch.tensor([[0.2, 0.6, 0.4, 0.5, 0.3, 0.55, 0.9, 0.1, 0.0]])  # pseudo-length 0.6 − 0.2 = 0.4
    d = torch.linspace(-1, 1, 9).unsqueeze(0)
    assert torch.allclose(update_points(p, d), p + d * 0.5 * 0.4, atol=1e-6)
    centre = torch.full((1, 9), 0.5)  # zero-length start: the first update cannot move the points
    assert torch.equal(update_points(centre, d), centre)


def test_sampling_at_fractional_positions_is_linear_interpolation():
    T = 11
    feats = torch.stack([torch.arange(T, dtype=torch.float32), torch.arange(T, dtype=torch.float32) ** 2], -1)
    pos = torch.tensor([[0.0, 0.25, 0.5, 0.73, 1.0, 1.3, -0.2]])
    out = sample_linear(feats.unsqueeze(0), pos)[0]
    x = pos[0].clamp(0, 1) * (T - 1)
    assert torch.allclose(out[:, 0], x, atol=1e-6)  # a linear ramp is reproduced exactly
    lo, hi = x.floor(), (x.floor() + 1).clamp(max=T - 1)
    assert torch.allclose(out[:, 1], lo ** 2 + (x - lo) * (hi ** 2 - lo ** 2), atol=1e-5)


def test_sampling_rows_match_an_elementwise_gather_with_gradients():
    # sample_linear reads whole feature rows; the plain formulation gathers element-wise: same values and gradients
    g = torch.Generator().manual_seed(3)
    feats = torch.randn(3, 7, 5, generator=g, requires_grad=True)
    pos = (torch.rand(3, 20, generator=g) * 1.4 - 0.2).requires_grad_(True)  # some outside [0, 1]: clamped
    gy = torch.randn(3, 20, 5, generator=g)

    def gathered(f, p):
        x = p.clamp(0.0, 1.0) * (f.shape[1] - 1)
        i0 = x.floor().long().clamp(0, f.shape[1] - 1)
        i1 = (i0 + 1).clamp(max=f.shape[1] - 1)
        w1 = (x - i0.to(x.dtype)).unsqueeze(-1)
        f0, f1 = (torch.gather(f, 1, i.unsqueeze(-1).expand(-1, -1, f.shape[2])) for i in (i0, i1))
        return f0 * (1 - w1) + f1 * w1

    outs = [fn(feats, pos) for fn in (sample_linear, gathered)]
    grads = [torch.autograd.grad((o * gy).sum(), (feats, pos)) for o in outs]
    assert torch.equal(outs[0], outs[1])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)


def test_forward_shapes_init_and_gradients():
    torch.manual_seed(0)
    cfg = tiny()
    model = PointTAD(cfg)
    assert torch.all(model.query_points.weight == 0.5)
    for layer in model.layers:
        assert torch.equal(layer.sampler.offset[0].bias, torch.tensor([1.0, 2.0, 3.0, 4.0]))
    out = model(torch.randn(2, 16, 12))
    assert len(out["layers"]) == 2
    for logits, seg in out["layers"]:
        assert logits.shape == (2, 6, 6) and seg.shape == (2, 6, 2)
        assert torch.all(seg[..., 1] >= 0) and torch.all(seg >= 0) and torch.all(seg <= 1)
    assert out["dense"].shape == (2, 16, 5)
    sum(lg.sum() + sg.sum() for lg, sg in out["layers"]).backward()
    assert model.query_points.weight.grad is not None and model.query_points.weight.grad.abs().sum() > 0
    labels, scores, se = detections(out)
    assert labels.shape == (2, 6) and labels.max() < 5 and torch.all((scores > 0) & (scores <= 1))
    assert torch.all(se[..., 1] >= se[..., 0])


def test_spread_init_and_bad_mixer():
    m = PointTAD(tiny(point_init="spread"))
    assert torch.allclose(m.query_points.weight[0], torch.linspace(0.25, 0.75, 9))
    with pytest.raises(ValueError):
        PointTAD(tiny(query_mixer="lstm"))


def test_tiled_init_gives_each_query_its_own_slice_of_the_window():
    m = PointTAD(tiny(point_init="tiled", num_queries=4, num_points=9))
    p = m.query_points.weight.detach()
    assert torch.allclose(p[2], 0.5 + torch.linspace(0, 1, 9) / 4)  # query 2 of 4 spans [0.5, 0.75]
    seg = points_to_segments(p)  # the first 6 of 9 points: [i/4, i/4 + 5/32]
    assert torch.allclose(seg, torch.stack([torch.arange(4) / 4 + 5 / 64, torch.full((4,), 5 / 32)], 1))
