"""Detection study on tiny in-memory videos (no decoding): data plumbing, variants, parameter groups, a short fit."""
import numpy as np
import pytest
import torch

pytest.importorskip("mglib.train.engine")
from mglib.studies import detection as D  # noqa: E402


def fake_videos(n, seed, window=32, size=16, classes=(0, 7, 20)):
    """Each class lights one quadrant while its instance lasts; instances may overlap (multi-label)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        dur = float(rng.uniform(6, 12))
        frames = rng.integers(0, 40, (window, size, size, 3), dtype=np.uint8)
        inst = []
        for k in range(int(rng.integers(1, 3))):
            c = int(rng.choice(classes))
            L = float(rng.uniform(1.5, 4.0))
            s = float(rng.uniform(0, dur - L))
            inst.append([s, s + L, c])
            a, b = int(s / dur * window), int(np.ceil((s + L) / dur * window))
            q = classes.index(c)
            frames[a:b, (q // 2) * 8:(q // 2) * 8 + 8, (q % 2) * 8:(q % 2) * 8 + 8] = 220
        out.append(D.Video(f"v{seed}_{i}", "val" if seed else "train", dur, 30.0, np.asarray(inst), frames))
    return out


def tiny_cfg(variant, **kw):
    cfg = D.detection_config("smoke", variant, **{
        "vit.img_size": 16, "vit.patch_size": 8, "vit.num_frames": 8, "vit.dim": 16, "vit.depth": 2, "vit.heads": 2,
        "data.window_frames": 32, "head.embd_dim": 16, "head.head_dim": 16, "head.n_head": 2,
        "head.arch": [1, 1, 3], "optim.epochs": 1, "optim.batch_size": 4, **kw})
    return cfg


def test_seconds_grid_roundtrip():
    seg = np.array([[1.0, 3.5]])
    g = D.seconds_to_grid(seg, 10.0, 16)
    np.testing.assert_allclose(g, [[1.1, 5.1]])
    np.testing.assert_allclose(D.grid_to_seconds(g, 10.0, 16), seg)


def test_sample_window_shape_and_uniform_indices():
    frames = np.arange(10, dtype=np.uint8)[:, None, None, None].repeat(8, 1).repeat(8, 2).repeat(3, 3)
    w = D.sample_window(frames, 5, 4)
    assert w.shape == (5, 4, 4, 3)
    assert w[:, 0, 0, 0].tolist() == [1, 3, 5, 7, 9]


def test_instance_clips_cover_instance():
    v = fake_videos(1, 0)[0]
    clips, labels = D.instance_clips([v], 8)
    assert clips.shape == (len(v.instances), 8, 16, 16, 3) and labels.tolist() == v.instances[:, 2].astype(int).tolist()


@pytest.mark.parametrize("variant", D.VARIANTS)
def test_variants_build_and_train_only_what_they_should(variant, monkeypatch):
    task = D.DetectionTask(tiny_cfg(variant))
    from mglib.models.vit import VideoViT
    monkeypatch.setattr(task, "load_vit", lambda: VideoViT(task.cfg.vit))
    model = task.build_model()
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    vit_trainable = {n for n in trainable if n.startswith("vit.")}
    if variant in D.FEATURE_VARIANTS:
        assert getattr(model, "vit", None) is None
    elif variant == "full":
        assert vit_trainable == {n for n, _ in model.vit.named_parameters(prefix="vit")}
    else:
        assert vit_trainable and all(".adapter." in n for n in vit_trainable)
    groups = task.param_groups(model)
    assert sum(len(g["params"]) for g in groups) == len(trainable)
    assert all(g["weight_decay"] == 0.0 for g in groups if all(p.ndim <= 1 for p in g["params"]))
    vids = fake_videos(4, 0)
    L = task.length
    feats = {v.video_id: np.random.default_rng(0).normal(size=(16, L)).astype(np.float32) for v in vids}
    data = D.DetectionData(vids, L, feats if variant in D.FEATURE_VARIANTS else None)
    batch = D.collate([data[i] for i in range(4)])
    loss, logs = task.loss(model.train(), batch)
    loss.backward()
    assert torch.isfinite(loss) and logs.get("num_pos", 1) > 0
    if variant in ("standard", "tia", "dsta"):  # frozen backbone: no gradient outside the adapters
        assert all(p.grad is None for n, p in model.vit.named_parameters() if ".adapter." not in n)
        assert not model.vit.training  # frozen backbone stays in eval mode
    preds = D.predictions(model, [batch], vids, L)
    assert set(preds["results"]) == {v.video_id for v in vids}
    for rows in preds["results"].values():
        for r in rows:
            assert 0 <= r["segment"][0] < r["segment"][1] and 0 <= r["label"] < 52


def test_trainable_params_report():
    cfg = tiny_cfg("tia")
    r = D.trainable_params(cfg)
    # per block: down 16·4+4, dw 4·3+4, pw 4·4+4, up 4·16+16, α → 169; 2 blocks
    assert r["params"] == 2 * (68 + 16 + 20 + 80 + 1)
    assert D.trainable_params(tiny_cfg("snippet"))["params"] == 0


def test_prior_baseline_is_content_free():
    train, val = fake_videos(6, 0), fake_videos(3, 1)
    preds = D.prior_baseline(train, val)
    assert set(preds["results"]) == {v.video_id for v in val}
    scores = {r["label"]: r["score"] for rows in preds["results"].values() for r in rows}
    assert abs(sum(scores.values()) - 1.0) < 1e-9


def test_topk_detections_pick_best_query_class_pairs():
    logits = torch.full((1, 2, 4), -10.0)  # 2 queries, 3 classes + background
    logits[0, 0, 1], logits[0, 0, 2] = 5.0, 4.0  # query 0: two plausible labels
    logits[0, 1, 0] = logits[0, 1, 3] = 3.0  # query 1: label 0 or background, p = 0.5
    seg = torch.tensor([[[0.25, 0.1], [0.75, 0.2]]])  # (center, length) in window units
    lab, score, se = D.topk_detections({"layers": [(logits, seg)]}, 3)
    assert lab[0].tolist() == [1, 0, 2]
    assert torch.all(score[0][:-1] >= score[0][1:])
    torch.testing.assert_close(se[0], torch.tensor([[0.2, 0.3], [0.65, 0.85], [0.2, 0.3]]))


def test_findings_are_computed_from_the_runs():
    cols = {c: 0.0 for c in D.TABLE3_COLUMNS}
    runs = [{**cols, "setting": "snippet", "seed": s, "AVG": a, "action/average_mAP": b}
            for s, (a, b) in enumerate([(0.20, 0.10), (0.21, 0.11), (0.19, 0.09)])]
    runs += [{**cols, "setting": "dsta", "seed": s, "AVG": a, "action/average_mAP": b}
             for s, (a, b) in enumerate([(0.06, 0.05), (0.12, 0.05), (0.09, 0.05)])]
    prior = {**cols, "setting": "prior", "AVG": 0.07, "action/average_mAP": 0.03}
    lines = D.findings(runs, prior)
    assert "AVG 20.00 ± 1.00 vs 7.00 (clearly above)" in lines[0]
    assert "AVG 9.00 ± 3.00 vs 7.00 (above)" in lines[1]
    assert "(low to high): dsta < snippet;" in lines[2] and lines[2].endswith("not reproduced.")
    assert "5.00 points" in lines[3] and "larger than twice" in lines[3]
