import numpy as np
import pytest
import torch

pytest.importorskip("mglib.train.task")  # the engine lands separately
from torch.utils.data import DataLoader  # noqa: E402

from mglib import windows as W  # noqa: E402
from mglib.studies import online  # noqa: E402


def toy_sequences(n=3, T=40, C=8, fps=30.0, seed=0):
    """Features that light up channel `label` inside each gesture; GT in 1-based 30-fps label frames."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        feats = rng.normal(0, 0.1, (T, C)).astype(np.float32)
        gt = []
        for a in (4, 18, 30):
            lab, b = int(rng.integers(0, 3)), a + int(rng.integers(3, 7))
            feats[a:b, lab] += 2.0
            fs, fe = W.tokens_to_frames([a, b], fps)
            gt.append([lab, round(fs), round(fe)])
        gt = np.array(gt, dtype=np.float64)
        tok = np.stack([gt[:, 0], W.frames_to_tokens(gt[:, 1], fps), W.frames_to_tokens(gt[:, 2], fps)], 1)
        n_frames = int(W.tokens_to_frames(T, fps))
        out.append(online.Sequence(f"Sample{i + 1:04d}", "train", n_frames, fps, feats, gt, tok))
    return out


def test_windows_datasets_and_predict_mapping():
    seqs = toy_sequences()
    tr = online.TrainWindows(seqs, window=16, overlap=0.75)
    assert len(tr) > 0
    x, t = tr[0]
    assert x.shape == (16, 8) and t["segments"].shape[1] == 2
    assert torch.all(t["segments"][:, 0] - t["segments"][:, 1] / 2 >= -1e-6)
    te = online.TestWindows(seqs, window=16)
    assert [st for i, st in te.items if i == 0] == W.test_starts(40, 16)
    cfg = online.OnlineConfig(hidden=16, num_queries=4, num_points=6, num_layers=1, n_heads=2, ffn=32, mix_dim=4,
                              dense_hidden=8, query_mixer="mhsa")
    task = online.OnlineTask(cfg)
    task._seqs = seqs
    pcfg = task.model_config()
    pcfg.in_dim, pcfg.num_classes = 8, 3
    model = online.PointTAD(pcfg).eval()
    preds = online.predict(model, DataLoader(te, batch_size=2, collate_fn=online.collate), seqs, 16)
    for s in seqs:
        d = np.array(preds[s.name])
        assert d.shape == (4 * len(W.test_starts(40, 16)), 4)
        assert np.all(d[:, 2] >= 1 - 1e-6) and np.all(d[:, 3] <= s.num_frames + 1e-6)
        rows = online.prediction_rows(preds[s.name], 0.0, 0.5, s.num_frames)
        assert all(1 <= a <= b <= s.num_frames for _, a, b in rows)


def test_loss_trains_on_toy_windows():
    torch.manual_seed(0)
    seqs = toy_sequences()
    cfg = online.OnlineConfig(hidden=32, num_queries=6, num_points=6, num_layers=2, n_heads=2, ffn=64, mix_dim=8,
                              dense_hidden=16, query_mixer="mhsa", window=16, point_init="spread", dropout=0.0)
    task = online.OnlineTask(cfg)
    task._seqs = seqs
    pcfg = task.model_config()
    pcfg.in_dim, pcfg.num_classes = 8, 3
    model = online.PointTAD(pcfg)
    loader = DataLoader(online.TrainWindows(seqs, 16, 0.75), batch_size=4, shuffle=True,
                        collate_fn=online.collate)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    first = last = None
    for epoch in range(6):
        tot = 0.0
        for batch in loader:
            loss, logs = task.loss(model, batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += loss.item()
        first = tot if first is None else first
        last = tot
    assert last < 0.7 * first


def test_trivial_baseline_tiles_sequence():
    seqs = toy_sequences()
    base = online.trivial_baseline(seqs, seqs)
    for s in seqs:
        rows = base[s.name]
        assert rows[0][1] == 1 and rows[-1][2] == s.num_frames and len({r[0] for r in rows}) == 1
