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


def test_mma52_frames_map_to_seconds_exactly():
    # MMA-52: 0-based frames, exclusive end. A detection at the exact token positions of the GT must give mAP 1.
    fps = 30.0
    gt = np.array([[3, 30, 60], [7, 75, 120]], dtype=np.float64)  # [label, start, end)
    tok = W.frames_to_tokens(gt[:, 1:] + 1, fps, 25.0, 4)
    seq = online.Sequence("v0", "test", 150, fps, np.zeros((10, 2), np.float32), gt, np.c_[gt[:, :1], tok])
    frames = W.tokens_to_frames(tok, fps, 25.0, 4)
    preds = {"v0": [[int(g[0]), 0.9, float(f[0]), float(f[1])] for g, f in zip(gt, frames)]}
    g, r = online.activitynet_dicts(preds, [seq])
    assert g["database"]["v0"]["annotations"][0]["segment"] == [1.0, 2.0]
    assert np.allclose(r["results"]["v0"][1]["segment"], [2.5, 4.0])
    from mglib.metrics import POINTTAD_TIOU, detection_map

    assert detection_map(g, r, tiou=POINTTAD_TIOU, protocol="pointtad", num_classes=52)["average_mAP"] == 1.0


def test_run_online_end_to_end_tau_from_validation(tmp_path, monkeypatch):
    """Tiny end-to-end run on toy features: τ from the validation sequences, prediction files that the eval CLI
    scores exactly like run_online's own test F1."""
    from mglib import cli
    from mglib.studies.encoder import feature_dim

    cfg = online.OnlineConfig(hidden=16, num_queries=6, num_points=6, num_layers=1, n_heads=2, ffn=32, mix_dim=4,
                              dense_hidden=8, query_mixer="mhsa", window=16, point_init="spread", dropout=0.0)
    cfg.optim.epochs, cfg.optim.batch_size, cfg.optim.lr = 2, 4, 2e-3
    C = feature_dim(cfg.encoder)
    seqs = []
    for k, part in enumerate(["train", "train", "val", "test", "test"]):
        s = toy_sequences(1, C=C, seed=k)[0]
        s.name, s.split = f"Sample{k + 1:04d}", part
        seqs.append(s)
    monkeypatch.setattr(online, "cached_sequences", lambda c: seqs)
    monkeypatch.setattr(online.paths, "CACHE", tmp_path / "cache")
    r = online.run_online(cfg, predictions_dir=tmp_path / "pred")
    assert r["status"] == "ok" and r["tau"] in online.TAU_GRID
    assert len(r["trace"]["grad_norms"]) == 2 * -(-len(online.TrainWindows(seqs[:2], 16, 0.75)) // 4)
    from mglib.train.engine import load_model

    task = online.OnlineTask(cfg)
    task._seqs = seqs
    model = load_model(task, online.run_dir(cfg))
    assert online.choose_tau(task.predict(model, "val"), seqs[2:3], cfg.nms_iou)[0] == r["tau"]
    online.write_ground_truth(tmp_path / "gt", [s for s in seqs if s.split == "test"])
    assert sorted(p.name for p in (tmp_path / "pred").iterdir()) == ["Sample0004_prediction.csv",
                                                                       "Sample0005_prediction.csv"]
    import contextlib
    import io
    import json

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = cli.main(["eval", "online", "--ground-truth", str(tmp_path / "gt"), "--predictions",
                       str(tmp_path / "pred"), "--json"])
    assert rc == 0
    assert json.loads(buf.getvalue())["f1"] == pytest.approx(r["test"]["f1"])
    # a second call reuses the finished run (same config → same folder, no retraining)
    assert online.run_online(cfg)["test"] == r["test"]


def test_reported_table2_has_the_paper_defaults_best():
    for field_name, best in (("num_points", 30), ("window", 128), ("num_layers", 4), ("num_mamba", 2)):
        t = online.REPORTED["table2"][field_name]
        assert max(t, key=t.get) == best and t[best] == online.REPORTED["table1"][
            "HFUT-VUT: PointTAD + Mamba-MHSA (2nd)"]


def test_seeds_summary_generates_the_verdict_from_numbers():
    from mglib.studies.online import seeds_summary

    rows = [{"model": "PointTAD", "status": "ok", "f1": f, "f1_strict": f} for f in (0.30, 0.32, 0.34)]
    rows += [{"model": "PointTAD + Mamba-MHSA", "status": "ok", "f1": f, "f1_strict": f} for f in (0.20, 0.22, 0.24)]
    base = {"test": {"f1": 0.1}, "test_strict": {"f1": 0.1}}
    table, text = seeds_summary(rows, base)
    assert table[0]["F1 % (smg)"] == "32.00 ± 2.00" and table[-1]["F1 % (smg)"] == "10.00"
    assert "PointTAD: clearly above" in text and "does not reproduce" in text
