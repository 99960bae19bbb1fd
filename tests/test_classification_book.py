"""The runs and tables of the classification chapters, on the tiny in-memory iMiGUE of test_classification_study."""
import json

import numpy as np
import pandas as pd
import pytest
import torch

from mglib import paths
from mglib.errors import InputError
from mglib.studies import classification_book as cb
from tests.test_classification_study import root  # noqa: F401  (module fixture: 8 clips, 4 classes)

CONFIG = {"size": "tiny", "pose_frames": 8, "rgb_frames": 2, "stgcn_frames": 8, "heatmap_size": 16, "rgb_size": 32,
          "prm_dim": 8, "cmf_heads": 2, "optim.epochs": 1, "optim.batch_size": 4, "optim.optimizer": "sgd",
          "optim.lr": 0.01, "optim.schedule": "cosine", "optim.milestones": []}


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "CACHE", tmp_path / "cache")
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_config_validation_and_run_folder(root):  # noqa: F811
    a = cb.make_config("rgbpose_cmf_prm", 1, CONFIG, str(root))
    assert a.optim.seed == 1 and a.optim.lr == 0.01 and a.size == "tiny" and a.data_root == str(root)
    assert cb.run_dir(a) == cb.run_dir(cb.make_config("rgbpose_cmf_prm", 1, CONFIG, str(root)))
    assert cb.run_dir(a) != cb.run_dir(cb.make_config("rgbpose_cmf_prm", 1, CONFIG, str(root), alpha=0.5))
    assert cb.run_dir(a).name.startswith("rgbpose_cmf_prm_s1_")
    assert cb.run_dir(cb.make_config("rgbpose_cmf_prm", 1, {**CONFIG, "fusion_epochs": 3}, str(root))) == cb.run_dir(a)
    with pytest.raises(InputError, match="optim.lrr"):
        cb.make_config("rgb3d", 0, {"optim.lrr": 1})
    with pytest.raises(InputError, match="method"):
        cb.make_config("nope", 0, CONFIG)
    rel = cb.make_config("rgb3d", 0, CONFIG, "data/imigue")
    assert rel.data_root == str(paths.ROOT / "data" / "imigue")


def test_table_reuses_runs_and_builds_every_row(root, monkeypatch):  # noqa: F811
    from mglib.models import tv_video

    monkeypatch.setattr(tv_video, "available", lambda: (False, "torchvision is not importable"))
    methods = ["poseconv3d_limb", "rgb3d", "rgbpose_cmf_prm", "swin3d_t"]
    df = cb.run_table(methods, [0], CONFIG, str(root))
    # the two-stream model pulled in its single-stream initialisers (paper recipe) and used them
    init = cb.load_config(df.loc[df["method"] == "rgbpose_cmf_prm", "run_dir"].iloc[0])
    assert init.init_pose and init.init_rgb == df.loc[df["method"] == "rgb3d", "run_dir"].iloc[0]
    assert (paths.CACHE / "classification").exists() and sum(p.is_dir() for p in (paths.CACHE / "classification").iterdir()) == 4
    skipped = df[df["method"] == "swin3d_t"]
    assert skipped["skipped"].iloc[0] == "torchvision is not importable"
    ens = df[df["method"] == "ensemble"]
    assert len(ens) == 1 and ens["members"].iloc[0] == "rgbpose_cmf_prm + poseconv3d_limb + rgb3d"
    # the ensemble is the mean of its members' fused probabilities
    probs = [cb.fused_probs(r)[1] for r in df[df["method"].isin(["rgbpose_cmf_prm", "poseconv3d_limb", "rgb3d"])
                                              & (df["skipped"] == "")]["run_dir"]]
    y = cb.fused_probs(df["run_dir"].iloc[0])[0]
    assert ens["top1"].iloc[0] == pytest.approx(float((np.mean(probs, 0).argmax(1) == y).mean()))

    stamp = {p: p.stat().st_mtime_ns for p in (paths.CACHE / "classification").glob("*/metrics.json")}
    again = cb.run_table(methods, [0], CONFIG, str(root))
    assert {p: p.stat().st_mtime_ns for p in stamp} == stamp  # nothing retrained
    assert np.allclose(again["top1"].astype(float), df["top1"].astype(float), equal_nan=True)

    table = cb.summary_table(df)
    row = table.set_index("key")
    assert row.loc["swin3d_t", "top-1 (%)"].startswith("skipped: ")
    assert row.loc["swin3d_t", "reported top-1 (%)"] == "59.97" and row.loc["rgb3d", "reported top-1 (%)"] == ""
    assert row.loc["rgbpose_cmf_prm", "reported top-1 (%)"] == "67.91"
    assert row.loc["rgb3d", "chance top-1 / top-5 (%)"] == "3.1 / 15.6"

    curves = cb.learning_curves(df)
    assert set(curves["method"]) == {"poseconv3d_limb", "rgb3d", "rgbpose_cmf_prm"} and (curves["epoch"] == 1).all()

    fusion = cb.fusion_table(df).set_index("RGB : pose")
    y, p = cb.fused_probs(df.loc[df["method"] == "rgbpose_cmf_prm", "run_dir"].iloc[0], (1, 0))
    assert fusion.loc["1:0", "top-1 (%)"] == f"{100 * (p.argmax(1) == y).mean():.1f}"

    feats = cb.features(df.loc[df["method"] == "rgbpose_cmf_prm", "run_dir"].iloc[0])
    assert feats["streams"] == ["rgb", "pose"] and feats["pooled"][1].shape[0] == 4
    assert feats["refined"][1].shape == (4, 8) and feats["prototypes"][1].shape == (32, 8)
    assert np.allclose(np.linalg.norm(feats["refined"][0], axis=1), 1, atol=1e-5)

    conf = cb.confusion(df.loc[df["method"] == "rgb3d", "run_dir"].iloc[0])
    assert conf.sum() == 4


def _table(pairs):
    return pd.DataFrame([{"method": m, "seed": s, "top1": t, "skipped": ""} for m, s, t in pairs])


def test_findings_follow_the_numbers():
    helps = _table([("rgbpose_cmf", s, 0.5 + 0.01 * s) for s in range(3)] + [("rgbpose", s, 0.3) for s in range(3)])
    assert "helps on this data" in cb.finding(helps, "rgbpose_cmf", "rgbpose", "CMF")
    c = cb.compare(helps, "rgbpose_cmf", "rgbpose")
    assert c["diff"] == pytest.approx(21.0) and c["wins"] == 3 and c["n"] == 3
    hurts = _table([("rgbpose_cmf", s, 0.2) for s in range(3)] + [("rgbpose", s, 0.3 + 0.01 * s) for s in range(3)])
    assert "does not reproduce" in cb.finding(hurts, "rgbpose_cmf", "rgbpose", "CMF")
    noisy = _table([("rgbpose_cmf", s, v) for s, v in enumerate([0.5, 0.1, 0.31])] +
                   [("rgbpose", s, 0.3) for s in range(3)])
    assert "within the seed spread" in cb.finding(noisy, "rgbpose_cmf", "rgbpose", "CMF")
    one = _table([("rgbpose_cmf", 0, 0.5), ("rgbpose", 0, 0.3)])
    assert "too few seeds" in cb.finding(one, "rgbpose_cmf", "rgbpose", "CMF")


def test_confused_pairs_flag_generator_pairs():
    conf = np.eye(32, dtype=int) * 5
    conf[6, 4], conf[25, 22], conf[0, 1] = 4, 3, 1
    pairs = cb.confused_pairs(conf, top=5)
    assert list(pairs["true"]) == [6, 25, 0] and list(pairs["count"]) == [4, 3, 1]
    assert list(pairs["generator"]) == ["pose-ambiguous", "RGB-cue", ""]
    assert pairs["share of true class"].iloc[0] == pytest.approx(4 / 9, abs=1e-3)


def test_pca_and_separation():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 10)
    centres = rng.normal(0, 1, (4, 6))
    tight = centres[y] + rng.normal(0, 0.05, (40, 6))
    loose = centres[y] + rng.normal(0, 1.0, (40, 6))
    assert cb.separation(tight, y) > 10 * cb.separation(loose, y)
    assert cb.separation(tight[::10], y[::10]) is None  # one sample per class: undefined
    xy, extra, var = cb.pca2(tight, centres)
    assert xy.shape == (40, 2) and extra.shape == (4, 2) and 0 < var <= 1
    assert np.allclose(xy.mean(0), 0, atol=1e-9)
