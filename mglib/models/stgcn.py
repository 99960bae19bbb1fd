"""ST-GCN (Yan et al. 2018) as in pyskl, with the graph built from any joint layout's edge list.

Graph: spatial partition (self / towards the centre / away from it), max hop 1, each part column-normalised
(A D^-1). Which end of an edge is "towards the centre" comes from hop distances to ``center``, so the same code
serves COCO-17, Kinect-25 and the iMiGUE 22-joint subset. Book chapter: ``10_classification``.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn


def hop_distance(num_nodes: int, edges, center: int) -> np.ndarray:
    """Hops from ``center`` to every joint along the undirected ``edges`` (inf where unreachable)."""
    adj = [[] for _ in range(num_nodes)]
    for a, b in edges:
        adj[a].append(b)
        adj[b].append(a)
    dist = np.full(num_nodes, np.inf)
    dist[center] = 0
    queue = deque([center])
    while queue:
        i = queue.popleft()
        for j in adj[i]:
            if dist[j] == np.inf:
                dist[j] = dist[i] + 1
                queue.append(j)
    return dist


def _col_normalise(a):
    deg = a.sum(0)
    return a / np.where(deg > 0, deg, 1)[None, :]


def spatial_graph(num_nodes: int, edges, center: int) -> np.ndarray:
    """Adjacency stack (3, V, V): identity, inward (to the centre) and outward parts, column-normalised.
    Edge (i -> j), i farther from the centre, sets ``A[1, j, i] = 1`` and ``A[2, i, j] = 1`` (pyskl's
    ``edge2mat``); columns are divided by their sums."""
    dist = hop_distance(num_nodes, edges, center)
    if np.isinf(dist).any():
        raise ValueError(f"joints {np.flatnonzero(np.isinf(dist)).tolist()} are not connected to centre {center}")
    inward = np.zeros((num_nodes, num_nodes))
    for a, b in edges:
        src, dst = (a, b) if dist[a] > dist[b] else (b, a)  # from the farther joint to the nearer one
        inward[dst, src] = 1
    return np.stack([np.eye(num_nodes), _col_normalise(inward), _col_normalise(inward.T)]).astype(np.float32)


@dataclass
class STGCNConfig:
    in_channels: int = 3  # x, y, score
    num_persons: int = 1
    channels: tuple = (64, 64, 64, 64, 128, 128, 128, 256, 256, 256)  # block widths; block 1 has no residual
    strides: tuple = (1, 1, 1, 1, 2, 1, 1, 2, 1, 1)  # temporal strides
    temporal_kernel: int = 9
    dropout: float = 0.0


def stgcn_config(size: str = "paper", in_channels: int = 3) -> STGCNConfig:
    if size == "paper":
        return STGCNConfig(in_channels)
    if size == "small":
        return STGCNConfig(in_channels, channels=(16, 16, 32, 32), strides=(1, 1, 2, 1))
    if size == "tiny":
        return STGCNConfig(in_channels, channels=(8, 16), strides=(1, 2), temporal_kernel=5)
    raise ValueError(f"unknown size {size!r} (paper, small, tiny)")


class GraphConv(nn.Module):
    """1x1 conv to K * C_out channels, aggregation with (A * importance) per partition, BN, ReLU."""

    def __init__(self, cin, cout, A: torch.Tensor):
        super().__init__()
        self.register_buffer("A", A)
        self.importance = nn.Parameter(torch.ones_like(A))  # learnable edge importance, initialised to 1
        self.conv = nn.Conv2d(cin, cout * A.shape[0], 1)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):  # (N, C, T, V)
        n, _, t, v = x.shape
        k = self.A.shape[0]
        x = self.conv(x).view(n, k, -1, t, v)
        x = torch.einsum("nkctv,kvw->nctw", x, self.A * self.importance)  # pyskl's contraction over A's rows
        return torch.relu(self.bn(x))


class TemporalConv(nn.Sequential):
    def __init__(self, cin, cout, kernel=9, stride=1):
        super().__init__(nn.Conv2d(cin, cout, (kernel, 1), (stride, 1), (kernel // 2, 0)), nn.BatchNorm2d(cout))


class STGCNBlock(nn.Module):
    def __init__(self, cin, cout, A, stride=1, residual=True, kernel=9, dropout=0.0):
        super().__init__()
        self.gcn = GraphConv(cin, cout, A)
        self.tcn = TemporalConv(cout, cout, kernel, stride)
        self.drop = nn.Dropout(dropout)
        if not residual:
            self.res = None
        elif cin == cout and stride == 1:
            self.res = nn.Identity()
        else:
            self.res = TemporalConv(cin, cout, 1, stride)

    def forward(self, x):
        res = 0 if self.res is None else self.res(x)
        return torch.relu(self.drop(self.tcn(self.gcn(x))) + res)


class STGCN(nn.Module):
    """Input (N, M, T, V, C) keypoints (x, y normalised to [-1, 1], score) -> logits (N, classes)."""

    def __init__(self, cfg: STGCNConfig, num_nodes: int, edges, center: int, num_classes: int):
        super().__init__()
        self.cfg = cfg
        A = torch.from_numpy(spatial_graph(num_nodes, edges, center))
        self.data_bn = nn.BatchNorm1d(cfg.num_persons * num_nodes * cfg.in_channels)
        blocks, cin = [], cfg.in_channels
        for i, (c, s) in enumerate(zip(cfg.channels, cfg.strides)):
            blocks.append(STGCNBlock(cin, c, A, s, residual=i > 0, kernel=cfg.temporal_kernel,
                                     dropout=cfg.dropout))
            cin = c
        self.blocks = nn.ModuleList(blocks)
        self.fc = nn.Linear(cin, num_classes)
        self.out_channels = cin

    def features(self, x):  # (N, M, T, V, C) -> (N, M, C', T', V)
        n, m, t, v, c = x.shape
        x = self.data_bn(x.permute(0, 1, 3, 4, 2).reshape(n, m * v * c, t))  # BN over (M, V, C) per frame
        x = x.view(n, m, v, c, t).permute(0, 1, 3, 4, 2).reshape(n * m, c, t, v)
        for block in self.blocks:
            x = block(x)
        return x.view(n, m, *x.shape[1:])

    def forward(self, x, return_features: bool = False):
        feat = self.features(x)
        logits = self.fc(feat.mean(dim=(3, 4)).mean(1))  # mean over T and V, then over persons
        return (logits, feat) if return_features else logits
