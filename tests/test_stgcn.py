import numpy as np
import torch

from mglib.models.stgcn import STGCN, hop_distance, spatial_graph, stgcn_config

# a 5-joint chain 3 - 1 - 0 - 2 - 4, centre 0
EDGES = [(0, 1), (0, 2), (1, 3), (2, 4)]


def test_hop_distance():
    assert hop_distance(5, EDGES, 0).tolist() == [0, 1, 1, 2, 2]


def test_spatial_partition_by_hand():
    A = spatial_graph(5, EDGES, center=0)
    assert A.shape == (3, 5, 5)
    assert np.array_equal(A[0], np.eye(5))
    inward = np.zeros((5, 5))
    for far, near in [(1, 0), (2, 0), (3, 1), (4, 2)]:
        inward[near, far] = 1
    # every column of the inward part has one entry (each non-centre joint has one parent): already normalised
    assert np.allclose(A[1], inward)
    out = inward.T.copy()
    out[:, 0] /= 2  # column of the centre has its two children
    assert np.allclose(A[2], out)
    assert np.allclose(A[1].sum(0)[1:], 1) and np.allclose(A[2].sum(0)[[0, 1, 2]], 1)


def test_disconnected_graph_raises():
    import pytest

    with pytest.raises(ValueError, match="not connected"):
        spatial_graph(4, [(0, 1)], 0)


def test_imigue22_graph_and_forward():
    edges = [(1, 0), (1, 2), (2, 3), (3, 4), (1, 5), (5, 6), (6, 7), (0, 8), (8, 10), (0, 9), (9, 11),
             *[(4, j) for j in range(17, 22)], *[(7, j) for j in range(12, 17)]]
    A = spatial_graph(22, edges, center=1)
    assert A[1].sum() == 21  # a tree: every joint but the centre has one inward edge, each column sums to 1
    m = STGCN(stgcn_config("small"), 22, edges, 1, num_classes=6)
    x = torch.randn(2, 1, 16, 22, 3)
    logits, feat = m(x, return_features=True)
    assert logits.shape == (2, 6) and feat.shape == (2, 1, 32, 8, 22)
    logits.sum().backward()
    assert m.blocks[0].gcn.importance.grad is not None


def test_paper_config_widths():
    cfg = stgcn_config("paper")
    assert len(cfg.channels) == 10 and cfg.channels[-1] == 256 and cfg.strides[4] == 2 and cfg.strides[7] == 2
