"""Study 2 (online recognition): windows, the detector task, τ on validation, prediction files, the paired CI the
report uses, and the plumbing of the ablations and sweeps."""
import contextlib
import io
import json

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from mglib import book
from mglib import windows as W
from mglib.studies import online as S
from mglib.studies.online import data as D
from mglib.studies.online import report as R
from mglib.studies.online import task as T
from mglib.studies.online.config import OnlineConfig


def toy_sequences(n=3, T_=40, C=8, fps=30.0, seed=0, split="train"):
    """Tokens that light up channel `label` inside each gesture; GT in 1-based 30-fps label frames."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        feats = rng.normal(0, 0.1, (T_, C)).astype(np.float32)
        gt = []
        for a in (4, 18, 30):
            lab, b = int(rng.integers(0, 3)), a + int(rng.integers(3, 7))
            feats[a:b, lab] += 2.0
            fs, fe = W.tokens_to_frames([a, b], fps)
            gt.append([lab, round(fs), round(fe)])
        n_frames = int(W.tokens_to_frames(T_, fps))
        out.append(D.make_sequence(f"Sample{i + 1:04d}", split, n_frames, fps, feats, np.array(gt), 10.0, 4))
    return out


@pytest.fixture(autouse=True)
def eight_channels(monkeypatch):
    monkeypatch.setattr(T, "feature_dim", lambda enc: 8)  # the toy tokens have 8 channels


def tiny_cfg(**kw) -> OnlineConfig:
    cfg = OnlineConfig(hidden=16, num_queries=6, num_points=6, num_layers=1, n_heads=2, ffn=32, mix_dim=4,
                       dense_hidden=8, query_mixer="mhsa", window=16, point_init="tiled", dropout=0.0)
    cfg.optim.epochs, cfg.optim.batch_size, cfg.optim.lr = 2, 4, 2e-3
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cfg


def test_windows_datasets_and_predict_mapping():
    seqs = toy_sequences()
    tr = D.TrainWindows(seqs, window=16, overlap=0.75)
    x, t = tr[0]
    assert len(tr) > 0 and x.shape == (16, 8) and t["segments"].shape[1] == 2
    assert torch.all(t["segments"][:, 0] - t["segments"][:, 1] / 2 >= -1e-6)
    te = D.TestWindows(seqs, window=16)
    assert [st for i, st in te.items if i == 0] == W.test_starts(40, 16)
    task = T.OnlineTask(tiny_cfg())
    task._seqs = seqs
    model = task.build_model().eval()
    preds = T.predict(model, DataLoader(te, batch_size=2, collate_fn=D.collate), seqs, 16)
    for s in seqs:
        d = np.array(preds[s.name])
        assert d.shape == (6 * len(W.test_starts(40, 16)), 4)
        assert np.all(d[:, 2] >= 1 - 1e-6) and np.all(d[:, 3] <= s.num_frames + 1e-6)
        rows = T.prediction_rows(preds[s.name], 0.0, 0.5, s.num_frames)
        assert all(1 <= a <= b <= s.num_frames for _, a, b in rows)


def test_loss_trains_on_toy_windows():
    torch.manual_seed(0)
    seqs = toy_sequences()
    task = T.OnlineTask(tiny_cfg(hidden=32, num_layers=2, ffn=64))
    task._seqs = seqs
    model = task.build_model()
    loader = DataLoader(D.TrainWindows(seqs, 16, 0.75), batch_size=4, shuffle=True, collate_fn=D.collate)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    totals = []
    for _ in range(6):
        tot = 0.0
        for batch in loader:
            loss, _ = task.loss(model, batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += loss.item()
        totals.append(tot)
    assert totals[-1] < 0.7 * totals[0]


def test_tau_search_equals_scoring_each_tau_on_its_own():
    # choose_tau runs NMS once and thresholds afterwards; f1_at thresholds first: the two must agree at every τ
    rng = np.random.default_rng(0)
    seqs = [D.make_sequence(f"s{i}", "val", 400, 30.0, np.zeros((40, 4), np.float32),
                            np.array([[1, 20, 60], [3, 150, 200], [1, 300, 330]]), 10.0, 4) for i in range(3)]
    preds = {s.name: [[int(rng.integers(0, 4)), float(rng.random()), float(a), float(a + rng.integers(10, 60))]
                      for a in rng.integers(1, 340, 40)] for s in seqs}
    tau, r = T.choose_tau(preds, seqs, 0.3)
    per_tau = [(t, T.f1_at(preds, seqs, t, 0.3)["f1"]) for t in T.TAU_GRID]
    best = max(f for _, f in per_tau)
    assert best > 0 and r["f1"] == best and tau == max(t for t, f in per_tau if f == best)
    assert r == T.f1_at(preds, seqs, tau, 0.3)


def test_trivial_baseline_tiles_sequence():
    seqs = toy_sequences()
    base = T.trivial_baseline(seqs, seqs)
    for s in seqs:
        rows = base[s.name]
        assert rows[0][1] == 1 and rows[-1][2] == s.num_frames and len({r[0] for r in rows}) == 1


def test_mma52_frames_map_to_seconds_exactly():
    # MMA-52: 0-based frames with an exclusive end, stored + 1 (label-frame convention). A detection at the exact
    # token positions of the GT must give mAP 1.
    fps = 30.0
    inst = np.array([[3, 30, 60], [7, 75, 120]], dtype=np.float64)  # [label, start, end)
    seq = D.make_sequence("v0", "val", 150, fps, np.zeros((10, 2), np.float32), inst + [0, 1, 1], 25.0, 4)
    frames = W.tokens_to_frames(seq.gt_tok[:, 1:], fps, 25.0, 4)
    preds = {"v0": [[int(g[0]), 0.9, float(f[0]), float(f[1])] for g, f in zip(inst, frames)]}
    g, r = T.activitynet_dicts(preds, [seq])
    assert g["database"]["v0"]["annotations"][0]["segment"] == [1.0, 2.0]
    assert np.allclose(r["results"]["v0"][1]["segment"], [2.5, 4.0])
    assert T.mma52_metrics(preds, [seq])["action/average_mAP"] == 1.0


def test_run_online_end_to_end_tau_from_validation(tmp_path, monkeypatch):
    """A tiny run on toy tokens: τ from the validation sequences, a cached summary, prediction files that the eval
    CLI scores exactly like the run's own test F1."""
    from mglib import cli

    cfg = tiny_cfg()
    seqs = []
    for k, part in enumerate(["train", "train", "val", "test", "test"]):
        s = toy_sequences(1, seed=k, split=part)[0]
        s.name = f"Sample{k + 1:04d}"
        seqs.append(s)
    monkeypatch.setattr(T, "cached_sequences", lambda c: seqs)
    monkeypatch.setattr(T, "resolved", lambda c: c)
    monkeypatch.setattr(T.paths, "CACHE", tmp_path / "cache")
    r = T.run_online(cfg)
    assert r["status"] == "ok" and r["tau"] in T.TAU_GRID and len(r["val_curve"]) == 2
    assert len(r["grad_norms"]) == 2 * -(-len(D.TrainWindows(seqs[:2], 16, 0.75)) // 4)
    assert sum(r["true_hist"]) == sum(len(s.gt) for s in seqs[3:])
    assert sum(r["pred_hist"]) == r["test"]["num_pred"]
    from mglib.train.engine import load_model

    task = T.OnlineTask(cfg)
    task._seqs = seqs
    model = load_model(task, T.run_dir(cfg.query_mixer, cfg))
    assert T.choose_tau(task.predict(model, "val"), seqs[2:3], cfg.nms_iou)[0] == r["tau"]
    T.write_prediction_files(tmp_path / "pred", r["pred_rows"])
    T.write_ground_truth(tmp_path / "gt", T.gt_rows(seqs[3:]))
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = cli.main(["eval", "online", "--ground-truth", str(tmp_path / "gt"), "--predictions",
                       str(tmp_path / "pred"), "--json"])
    assert rc == 0 and json.loads(buf.getvalue())["f1"] == pytest.approx(r["test"]["f1"])
    (T.run_dir(cfg.query_mixer, cfg) / "metrics.json").unlink()  # the summary alone answers a second call
    assert T.run_online(cfg) == r


def _fake_run(f1: float, strict: float | None = None) -> dict:
    return {"status": "ok", "tau": 0.5, "test": {"f1": f1}, "test_strict": {"f1": f1 if strict is None else strict},
            "val_curve": [0.1, 0.5, 0.55, 0.56, 0.56], "pred_hist": [3, 1, 0], "true_hist": [2, 2, 0],
            "skipped_steps": 0, "grad_norms": [0.1, None, 0.2]}


def test_report_ci_is_the_paired_t_interval_over_the_same_seeds():
    mamba, mhsa = [0.50, 0.55, 0.52, 0.58, 0.51], [0.45, 0.50, 0.50, 0.51, 0.47]
    runs = {"seeds": [0, 1, 2, 3, 4], "runs": {"mhsa": [_fake_run(f) for f in mhsa],
                                               "mamba_mhsa": [_fake_run(f) for f in mamba]},
            "baseline": {"test": {"f1": 0.1}, "test_strict": {"f1": 0.1}}}
    d = R.comparison(runs)
    assert d == book.paired_difference(mamba, mhsa) and d["ci95_low"] > 0
    rec = R.record(runs, {"test_clip_acc": 0.9, "majority": 0.3})
    assert rec["PointTAD + Mamba-MHSA - PointTAD/diff_mean"] == pytest.approx(np.mean(np.subtract(mamba, mhsa)))
    assert rec["PointTAD/f1_mean"] == pytest.approx(np.mean(mhsa)) and rec["trivial baseline/f1_mean"] == 0.1
    assert rec["stream/test_clip_acc"] == 0.9 and rec["stream/majority"] == 0.3
    assert rec["PointTAD/val_rise_last4/diff_mean"] == pytest.approx(0.057)  # line through 0.5, 0.55, 0.56, 0.56
    text = " ".join(R.findings(runs).items)
    assert "PointTAD + Mamba-MHSA is ahead of PointTAD" in text and "target of 2× is met" in text
    assert "takes 75 % of the predictions" in text  # class 0: 3 of 4 predictions, half of the ground truth


def test_ablation_plumbing_varies_one_field_on_mamba_mhsa(monkeypatch):
    seen = []

    def fake(cfg):
        seen.append((cfg.query_mixer, cfg.num_points, cfg.window, cfg.optim.seed))
        return _fake_run(0.3 + cfg.num_points / 100)

    monkeypatch.setattr(T, "run_online", fake)
    monkeypatch.setattr(T, "baseline_f1", lambda c: {"test": {"f1": 0.1}})
    cfg = S.config({"profile": "smoke", "seeds": [0, 1, 2], "window": 128, "num_queries": 8, "num_points": 8,
                    "num_layers": 1, "num_mamba": 2, "hidden": 16, "n_heads": 2, "ffn": 32, "epochs": 1,
                    "lr": 0.001, "lr_step": 10, "batch_size": 4, "point_init": "tiled", "points_values": [4, 8],
                    "window_values": [64]})
    abl = S.run_ablations(cfg)
    assert {m for m, *_ in seen} == {"mamba_mhsa"} and len(seen) == 3 * 3
    assert (8, 16) in {(p, w) for _, p, w, _ in seen}  # β = 64 frames = 16 tokens, Ns at its default
    assert abl["default"] == {"num_points": 8, "window": 32}
    table = R.ablation_table(abl)
    assert [r[1] for r in table.rows] == ["4", "8", "64"]  # β shown in frames


def test_sweep_plumbing_generates_skeleton_only_levels(tmp_path, monkeypatch):
    monkeypatch.setattr(D.paths, "DATA", tmp_path)
    roots = []

    def fake(cfg):
        roots.append((cfg.data_root, cfg.encoder.data_root, cfg.query_mixer))
        return _fake_run(0.4)

    monkeypatch.setattr(T, "run_online", fake)
    monkeypatch.setattr(T, "baseline_f1", lambda c: {"test": {"f1": 0.1}})
    cfg = S.config({"profile": "smoke", "seeds": [0, 1], "window": 128, "num_queries": 8, "num_points": 8,
                    "num_layers": 1, "num_mamba": 2, "hidden": 16, "n_heads": 2, "ffn": 32, "epochs": 1,
                    "lr": 0.001, "lr_step": 10, "batch_size": 4, "point_init": "tiled", "difficulty": "amplitude",
                    "difficulty_values": [0.5, 1.0], "gap_values": [2.0]})
    sw = S.run_sweeps(cfg)
    root = D.sweep_root("smoke", "amplitude", 0.5)
    assert (root / ".complete").exists() and not list(root.glob("*/*.mp4")) and list(root.glob("*/*_skeleton.csv"))
    assert ("", "", "mhsa") in roots  # the default level reads the chapters' own data
    assert (str(root), "", "mamba_mhsa") in roots  # a level's data, read through the chapters' frozen stream
    assert len(sw["rows"]) == 3 * 2 * 2 and set(sw["baselines"]) == {"amplitude=0.5", "amplitude=1", "gap=2"}
    mtime = (root / ".complete").stat().st_mtime
    assert D.ensure_sweep_data("smoke", "amplitude", 0.5) == root and (root / ".complete").stat().st_mtime == mtime
    assert len(R.sweep_table(sw).rows) == 3


def test_reported_tables_quote_the_paper():
    best = R.REPORTED["table1"]["HFUT-VUT: PointTAD + Mamba-MHSA (2nd)"]
    for field_name, default in (("num_points", 30), ("window", 128), ("num_layers", 4), ("num_mamba", 2)):
        t = R.REPORTED["table2"][field_name]
        assert max(t, key=t.get) == default and t[default] == best == 14.34
