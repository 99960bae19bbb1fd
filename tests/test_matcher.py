import numpy as np
import torch

from mglib.models.matcher import hungarian_match, matching_cost, pairwise_iou


def test_pairwise_iou_plain_iou():
    a = torch.tensor([[0.5, 0.4]])  # [0.3, 0.7]
    b = torch.tensor([[0.6, 0.4], [0.9, 0.1], [0.5, 0.4]])  # [0.4, 0.8], [0.85, 0.95], same
    assert torch.allclose(pairwise_iou(a, b), torch.tensor([[0.3 / 0.5, 0.0, 1.0]]))
    z = torch.tensor([[0.5, 0.0]])
    assert pairwise_iou(z, z).item() == 0.0  # no NaN for zero-length segments


def test_matching_cost_weights_10_5_5():
    logits = torch.log(torch.tensor([[0.7, 0.2, 0.1]]))  # C = 2 + background
    segs = torch.tensor([[0.5, 0.4]])
    gt_l, gt_s = torch.tensor([1]), torch.tensor([[0.6, 0.4]])
    c = matching_cost(logits, segs, gt_l, gt_s)
    expected = 10 * (-0.2) + 5 * (0.1 + 0.0) + 5 * (-0.6)
    assert c.shape == (1, 1) and abs(c.item() - expected) < 1e-5


def test_hungarian_recovers_permutation():
    gt_s = torch.tensor([[0.2, 0.1], [0.5, 0.2], [0.8, 0.1]])
    gt_l = torch.tensor([0, 1, 0])
    perm = [3, 0, 1]  # query q = perm[g] predicts GT g exactly
    segs = torch.tensor([[0.9, 0.05]] * 5)
    logits = torch.zeros(5, 3)
    for g, q in enumerate(perm):
        segs[q] = gt_s[g]
        logits[q, gt_l[g]] = 5.0
    (qi, gi), empty = hungarian_match(logits[None].repeat(2, 1, 1), segs[None].repeat(2, 1, 1),
                                       [{"labels": gt_l, "segments": gt_s},
                                        {"labels": torch.zeros(0, dtype=torch.long), "segments": torch.zeros(0, 2)}])
    assert dict(zip(gi.tolist(), qi.tolist())) == {0: 3, 1: 0, 2: 1}
    assert len(empty[0]) == 0 and empty[0].dtype == np.int64


def test_batched_matching_equals_one_assignment_per_window():
    from scipy.optimize import linear_sum_assignment

    g = torch.Generator().manual_seed(0)
    B, Nq, C = 6, 7, 5
    logits, segs = torch.randn(B, Nq, C, generator=g), torch.rand(B, Nq, 2, generator=g)
    targets = [{"labels": torch.randint(0, C - 1, (n,), generator=g), "segments": torch.rand(n, 2, generator=g)}
               for n in (0, 1, 3, 0, 2, 4)]  # empty windows between full ones: the column offsets must hold
    for b, (qi, gi) in enumerate(hungarian_match(logits, segs, targets)):
        t = targets[b]
        if len(t["labels"]) == 0:
            assert len(qi) == len(gi) == 0
            continue
        want = linear_sum_assignment(matching_cost(logits[b], segs[b], t["labels"], t["segments"]).numpy())
        assert np.array_equal(qi, want[0]) and np.array_equal(gi, want[1])
