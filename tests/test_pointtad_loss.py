import torch

from mglib.models.pointtad import PointTAD, PointTADConfig
from mglib.models.pointtad_loss import LossConfig, dense_targets, pointtad_loss


def test_dense_targets_inclusive_floor():
    t = [{"labels": torch.tensor([2]), "segments": torch.tensor([[0.35, 0.3]])}]  # [0.2, 0.5] → frames 2..5 of 10
    d = dense_targets(t, 10, 3)
    assert d[0, :, 2].tolist() == [0, 0, 1, 1, 1, 1, 0, 0, 0, 0] and d[0, :, :2].sum() == 0


def test_loss_finite_and_decreases_with_training():
    torch.manual_seed(0)
    cfg = PointTADConfig(num_classes=3, in_dim=8, hidden=32, num_queries=4, num_points=6, num_layers=2, n_heads=4,
                         ffn=64, mix_dim=8, dense_hidden=16, query_mixer="mhsa", dropout=0.0, point_init="spread")
    model = PointTAD(cfg)
    x = torch.randn(2, 16, 8)
    tg = [{"labels": torch.tensor([1]), "segments": torch.tensor([[0.3, 0.2]])},
          {"labels": torch.tensor([0, 2]), "segments": torch.tensor([[0.25, 0.3], [0.7, 0.2]])}]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(30):
        loss, logs = pointtad_loss(model(x), tg, LossConfig())
        assert torch.isfinite(loss) and set(logs) == {"ce", "seg", "iou", "dense"}
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0]


def test_loss_without_ground_truth_is_finite():
    cfg = PointTADConfig(num_classes=3, in_dim=8, hidden=16, num_queries=3, num_points=6, num_layers=1, n_heads=2,
                         ffn=32, mix_dim=4, dense_hidden=8, query_mixer="mhsa")
    out = PointTAD(cfg)(torch.randn(1, 8, 8))
    loss, logs = pointtad_loss(out, [{"labels": torch.zeros(0, dtype=torch.long), "segments": torch.zeros(0, 2)}],
                               LossConfig())
    assert torch.isfinite(loss) and logs["seg"] == 0.0
    loss.backward()
