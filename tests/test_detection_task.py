"""The detection task on tiny in-memory videos (no decoding): every setting builds, trains only what it should and
predicts; the TemporalMaxer head's shapes; the multi-label decoding of PointTAD's queries."""
import dataclasses

import numpy as np
import pytest
import torch

from mglib.models import actionformer as AF
from mglib.models.vit import VideoViT
from mglib.studies import detection as S
from mglib.studies.detection import data as D
from mglib.errors import InputError
from mglib.studies.detection import report as R
from mglib.studies.detection.config import FEATURE_VARIANTS, PAPER_TABLE4, SETTINGS, seeds_of, setting_config
from mglib.studies.detection.task import DetectionTask, predictions, topk_detections

TINY = {"img_size": 16, "patch_size": 8, "clip_frames": 8, "vit_dim": 16, "vit_depth": 2, "vit_heads": 2,
        "window_frames": 32, "head_dim": 16, "head_arch": [1, 1, 3], "epochs": 1, "batch_size": 4}


def fake_videos(n, seed, window=32, size=16, classes=(0, 7, 20)):
    """Each class lights one quadrant while its instance lasts; instances may overlap (multi-label)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        dur = float(rng.uniform(6, 12))
        frames = rng.integers(0, 40, (window, size, size, 3), dtype=np.uint8)
        inst = []
        for _ in range(int(rng.integers(1, 3))):
            c = int(rng.choice(classes))
            L = float(rng.uniform(1.5, 4.0))
            s = float(rng.uniform(0, dur - L))
            inst.append([s, s + L, c])
            a, b = int(s / dur * window), int(np.ceil((s + L) / dur * window))
            q = classes.index(c)
            frames[a:b, (q // 2) * 8:(q // 2) * 8 + 8, (q % 2) * 8:(q % 2) * 8 + 8] = 220
        out.append(D.Video(f"v{seed}_{i}", "val", dur, 30.0, np.asarray(inst), frames,
                           np.zeros((len(inst), 8, size, size, 3), np.uint8)))
    return out


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_settings_build_train_only_what_they_should_and_predict(setting, monkeypatch):
    task = DetectionTask(setting_config(S.config(TINY), setting, 0))
    monkeypatch.setattr(task, "load_vit", lambda: VideoViT(task.cfg.vit))
    model = task.build_model()
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    vit_trainable = {n for n in trainable if n.startswith("vit.")}
    if task.cfg.variant in FEATURE_VARIANTS:
        assert getattr(model, "vit", None) is None
    elif setting == "full":
        assert vit_trainable == {n for n, _ in model.vit.named_parameters(prefix="vit")}
    else:
        assert vit_trainable and all(".adapter." in n for n in vit_trainable)
    groups = task.param_groups(model)
    assert sum(len(g["params"]) for g in groups) == len(trainable)
    vids = fake_videos(4, 0)
    L = task.length
    feats = {v.video_id: np.random.default_rng(0).normal(size=(16, L)).astype(np.float32) for v in vids}
    data = D.DetectionData(vids, L, feats if task.cfg.variant in FEATURE_VARIANTS else None)
    batch = D.collate([data[i] for i in range(4)])
    loss, logs = task.loss(model.train(), batch)
    loss.backward()
    assert torch.isfinite(loss)
    if setting in ("standard", "tia", "dsta", "dsta-ours"):  # frozen backbone: gradients only in the adapters
        assert all(p.grad is None for n, p in model.vit.named_parameters() if ".adapter." not in n)
        assert not model.vit.training
    preds = predictions(model, [batch], vids, L)
    assert set(preds["results"]) == {v.video_id for v in vids}
    for rows in preds["results"].values():
        for r in rows:
            assert 0 <= r["segment"][0] < r["segment"][1] <= 12.0 and 0 <= r["label"] < 52


def test_temporalmaxer_head_shapes():
    task = DetectionTask(setting_config(S.config(TINY), "temporalmaxer", 0))
    cfg = task.head_config()
    assert cfg.pyramid == "maxpool"
    head = AF.ActionFormer(cfg)
    assert not any(isinstance(m, AF.TransformerBlock) for m in head.modules())  # max-pooling instead
    B, L = 2, task.length  # 16 steps, 4 levels: 16 + 8 + 4 + 2 points
    x, mask = torch.randn(B, cfg.in_dim, L), torch.ones(B, L, dtype=torch.bool)
    feats, masks = head.backbone(x, mask[:, None])
    assert [f.shape for f in feats] == [(B, cfg.embd_dim, L // 2 ** i) for i in range(cfg.arch[2] + 1)]
    cls, reg, valid = head(x, mask)
    P = sum(L // 2 ** i for i in range(cfg.arch[2] + 1))
    assert cls.shape == (B, P, 52) and reg.shape == (B, P, 2) and valid.shape == (B, P)
    out = head.predict(x, mask)
    assert len(out) == B and all(s.shape[1] == 2 and len(s) == len(sc) == len(lab) for s, sc, lab in out)


def test_topk_detections_pick_best_query_class_pairs():
    logits = torch.full((1, 2, 4), -10.0)  # 2 queries, 3 classes + background
    logits[0, 0, 1], logits[0, 0, 2] = 5.0, 4.0  # query 0: two plausible labels
    logits[0, 1, 0] = logits[0, 1, 3] = 3.0  # query 1: label 0 or background, p = 0.5
    seg = torch.tensor([[[0.25, 0.1], [0.75, 0.2]]])  # (center, length) in window units
    lab, score, se = topk_detections({"layers": [(logits, seg)]}, 3)
    assert lab[0].tolist() == [1, 0, 2]
    assert torch.all(score[0][:-1] >= score[0][1:])
    torch.testing.assert_close(se[0], torch.tensor([[0.2, 0.3], [0.65, 0.85], [0.2, 0.3]]))


def test_a_setting_config_differs_only_in_variant_seed_and_adapter_reading():
    study = S.config(TINY)
    a, b = setting_config(study, "dsta", 1), setting_config(study, "dsta-ours", 1)
    assert a.optim.seed == b.optim.seed == 1 and a.variant == b.variant == "dsta"
    assert (a.adapter.kernel_s, a.adapter.separate_down) == (1, True)
    assert (b.adapter.kernel_s, b.adapter.separate_down) == (3, False)
    assert dataclasses.replace(b, adapter=a.adapter) == a


def test_side_seeds_cut_only_the_rows_outside_the_papers_table4():
    study = S.config({**TINY, "seeds": [0, 1, 2, 3, 4], "side_seeds": [0, 1, 2]})
    assert seeds_of(study, "dsta") == seeds_of(study, "snippet") == (0, 1, 2, 3, 4)
    assert seeds_of(study, "pointtad") == seeds_of(study, "temporalmaxer") == seeds_of(study, "dsta-ours") == (0, 1, 2)
    assert seeds_of(S.config({**TINY, "seeds": [0, 1]}), "pointtad") == (0, 1)  # [] = every seed
    assert set(PAPER_TABLE4) == set(R.REPORTED_TABLE4)  # every seed exactly for the rows the paper reports
    with pytest.raises(InputError, match="side_seeds.*a subset of seeds"):
        S.config({**TINY, "seeds": [0, 1], "side_seeds": [0, 5]})


def test_captions_name_the_rows_that_ran_fewer_seeds():
    study = S.config({**TINY, "seeds": [0, 1, 2], "side_seeds": [0, 1]})
    rows = [{"setting": s, "seed": k, "amplitude": study.detection.data.amplitude}
            for s in ("tia", "dsta", "pointtad") for k in seeds_of(study, s)]
    runs = S.task.Runs(study, rows, {}, None)
    assert R._over_seeds(runs, ["tia", "dsta"]) == "3 seeds"
    assert R._over_seeds(runs, ["tia", "pointtad"]) == f"3 seeds (2 for {R.NAMES['pointtad']})"
