"""The study's parameter mapping (config) and the numbers its chapters generate (report), on hand-made runs."""
import json
import math

import numpy as np
import pandas as pd
import pytest

from mglib import book
from mglib.errors import InputError
from mglib.studies import classification as S
from mglib.studies.classification import report
from mglib.studies.classification.config import VARIANTS

CPU_CONFIG = {"size": "tiny", "pose_frames": 8, "rgb_frames": 2, "heatmap_size": 16, "rgb_size": 32,
              "optim.epochs": 15, "optim.lr": 0.1, "optim.milestones": []}


def test_config_maps_every_parameter_once():
    cfg = S.config({"profile": "cpu", "seeds": [0, 1, 2], "data_root": "", "threads": 1, "config": CPU_CONFIG,
                    "fusion_epochs": 5, "fusion_lr": 0.02, "ablation_seeds": [0, 1], "variants": ["cmf_time", "alpha_1"],
                    "sweep_seeds": [0], "sweep_data": "sweep", "cue_shares": [0, 0.17, 0.33],
                    "pair_distances": [0.5, 1, 2]})
    assert cfg.seeds == (0, 1, 2) and cfg.run.optim.epochs == 15 and cfg.run.optim.lr == 0.1
    assert cfg.run.size == "tiny" and cfg.run.cmf_tokens == "channel" and cfg.fusion_epochs == 5
    assert cfg.fusion_lr == 0.02
    assert cfg.variants == ("cmf_time", "alpha_1") and cfg.cue_shares == (0.0, 0.17, 0.33)
    assert cfg.pair_distances == (0.5, 1.0, 2.0) and cfg.sweep_data == "sweep"


@pytest.mark.parametrize("params,message", [
    ({"config": {"optim.epoch": 3}}, "parameter 'config': optim.epoch: unknown key 'optim.epoch'"),
    ({"config": {"sizes": "tiny"}}, "unknown key 'sizes'"),
    ({"config": {"size": "huge"}}, "expected one of paper, small, tiny"),
    ({"config": {"method": "rgb3d"}}, "key 'method' is set by the study"),
    ({"config": {"dropout": 1.5}}, "key 'dropout' is 1.5"),
    ({"config": {"optim.lr": -1}}, "optim.lr=-1: expected a value >= 0"),
    ({"config": {"cmf_tokens": "space"}}, "expected one of channel, time"),
    ({"variants": ["cmf_time", "cmf_space"]}, "parameter 'variants': item 1 is 'cmf_space'"),
    ({"seeds": [0, 0]}, "parameter 'seeds': seeds repeat"),
    ({"seeds": [-1]}, "parameter 'seeds': expected a list of integers >= 0"),
    ({"seeds": []}, "parameter 'seeds': expected at least one seed"),
    ({"fusion_epochs": -2}, "parameter 'fusion_epochs'"),
    ({"fusion_lr": -0.1}, "parameter 'fusion_lr'"),
    ({"cue_shares": [0.0, 0.5]}, "parameter 'cue_shares': item 1 is 0.5"),
    ({"pair_distances": [5.0]}, "parameter 'pair_distances': item 0 is 5.0"),
    ({"sweep_data": "huge"}, "parameter 'sweep_data'"),
    ({"lr": 0.1}, "parameter 'lr': not a parameter"),
])
def test_config_refuses_bad_parameters_in_one_line(params, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")) as e:
        S.config(params)
    assert "\n" not in str(e.value)


def test_every_variant_changes_real_fields():
    from mglib.studies.classification.config import RunConfig, run_config

    for name, (method, fields) in VARIANTS.items():
        cfg = run_config(RunConfig(size="tiny"), name, method=method, **fields)
        assert all(getattr(cfg, k) == v for k, v in fields.items())


def _runs(scores: dict) -> pd.DataFrame:
    """Hand-made rows: {method: [test top-1 per seed]}; validation top-1 = test + 0.01."""
    rows = []
    for m, vals in scores.items():
        for s, v in enumerate(vals):
            rows.append({"method": m, "seed": s, "val_top1": v + 0.01, "test_top1": v, "test_top5": min(1, v + .2),
                         "test_macro_f1": v / 2, "best_epoch": 3, "run_dir": ""})
    return pd.DataFrame(rows)


def test_differences_are_paired_t_intervals_and_recorded():
    a, b = [0.62, 0.65, 0.61, 0.66, 0.64], [0.60, 0.61, 0.60, 0.62, 0.60]
    runs = _runs({"poseconv3d": b, "rgbpose": a})
    diffs = report.differences(runs)
    assert list(zip(diffs["a"], diffs["b"])) == [("rgbpose", "poseconv3d")]  # the pairs both present
    d = np.subtract(a, b)
    half = 2.7764451051977987 * d.std(ddof=1) / math.sqrt(5)  # t_{0.975, 4}
    row = diffs.iloc[0]
    assert row["diff_mean"] == pytest.approx(d.mean()) and row["n"] == 5
    assert row["ci95_low"] == pytest.approx(d.mean() - half) and row["ci95_high"] == pytest.approx(d.mean() + half)
    rec = report.metrics(runs, diffs, {"val": 0.3, "test": 0.31})
    assert rec["diff/rgbpose-poseconv3d/ci95_low"] == pytest.approx(round(d.mean() - half, 4))
    assert rec["diff/rgbpose-poseconv3d/ci95_high"] == pytest.approx(round(d.mean() + half, 4))
    assert rec["test/top1_rgbpose_mean"] == pytest.approx(round(np.mean(a), 4))
    assert rec["test/top1_rgbpose_std"] == pytest.approx(round(np.std(a, ddof=1), 4))
    assert rec["top1_rgbpose"] == pytest.approx(round(np.mean(a) + 0.01, 4))  # validation, the selection metric
    assert rec["best_on_val"] == "rgbpose" and rec["test/top1_best_on_val"] == pytest.approx(round(np.mean(a), 4))
    json.dumps(rec)  # recordable
    # the sentence follows the interval
    assert report.verdicts(diffs)[0].startswith("RGBPoseConv3D is ahead of PoseConv3D")
    flat = report.differences(_runs({"poseconv3d": b, "rgbpose": [0.58, 0.66, 0.59, 0.64, 0.60]}))
    assert report.verdicts(flat)[0].startswith("No detectable difference")


def test_summary_table_has_baselines_and_quotes_the_paper():
    book.set_chapter("10_classification")
    runs = _runs({"poseconv3d": [0.6, 0.62], "rgbpose_cmf_prm": [0.63, 0.61]})
    t = report.summary_table(runs, {"val": 0.3, "test": 0.31})
    rows = {r[0]: r for r in t.rows}
    assert "RGBPose + CMF + PRM" in rows  # short names, spelled out in the caption
    top1 = t.columns.index("test top-1 (%)")
    assert rows["chance (uniform)"][top1] == "3.1" and rows["majority class of train"][top1] == "31.0"
    rep = t.columns.index("reported top-1 (%)")
    assert rows["PoseConv3D"][rep] == "61.11"
    assert rows["RGBPose + CMF + PRM"][rep] == "67.91"
    assert "over seeds (2 per row)" in t.caption
    quoted = report.reported_table()
    assert ["Ours (PoseConv3D)", "Skeleton (J)", "67.91"] in quoted.rows and len(quoted.rows) == 15


def test_pair_accuracy_counts_swaps(monkeypatch):
    y = np.array([25, 25, 22, 22, 6, 4])
    pred = np.array([25, 22, 22, 22, 4, 4])
    probs = np.eye(32)[pred]
    monkeypatch.setattr(report, "fused", lambda run, weights=None, split="test": (y, probs))
    runs = _runs({"rgbpose": [0.5, 0.5]})
    acc = report.pair_accuracy(runs, {"rgb_cue": [(25, 22)], "ambiguous": [(6, 4)]}).set_index("group")
    assert acc.loc["rgb_cue", "clips"] == 8 and acc.loc["rgb_cue", "correct"] == 6  # two seeds pooled
    assert acc.loc["rgb_cue", "swapped"] == 2 and acc.loc["ambiguous", "swapped"] == 2


def test_plateau_measures_the_end_of_the_curves():
    rows = [{"method": "poseconv3d", "seed": s, "epoch": e, "train_loss": 1.0, "val_top1": min(0.6, 0.1 * e) + s / 100}
            for s in range(2) for e in range(1, 13)]
    rows += [{"method": "rgb3d", "seed": s, "epoch": e, "train_loss": 1.0, "val_top1": (0.05 + s / 100) * e}
             for s in range(3) for e in range(1, 13)]
    p = report.plateau(pd.DataFrame(rows), last=5)
    assert p["poseconv3d"]["trend"] == "level" and p["poseconv3d"]["diff_mean"] == pytest.approx(0.0, abs=1e-12)
    assert p["rgb3d"]["trend"] == "rising" and p["rgb3d"]["diff_mean"] == pytest.approx(0.24)  # 0.05-0.07 a step
    lines = report.plateau_sentence(p)
    assert "PoseConv3D: across the last 5 epochs" in lines[0] and "levelled off" in lines[0]
    assert "still rising" in lines[1]
    short = report.plateau(pd.DataFrame([r for r in rows if r["epoch"] <= 3]), last=5)
    assert report.plateau_sentence(short) == ["Too few epochs to judge whether validation accuracy has levelled off."]


def test_sweep_gains_are_paired_per_level():
    rows = []
    for level in (0.0, 0.33):
        for s in range(3):
            gain = 0.2 * level + 0.01 * s
            rows += [{"sweep": "cue", "level": level, "method": m, "seed": s, "test_top1": 0.5 + g,
                      "pair_top1": 0.4 + 2 * g} for m, g in (("poseconv3d", 0), ("rgb3d", -0.2), ("rgbpose", gain),
                                                            ("rgbpose_cmf", gain + 0.01))]
    gains = report.sweep_gains(pd.DataFrame(rows))
    g = gains[(gains["a"] == "rgbpose") & (gains["b"] == "poseconv3d") & (gains["on"] == "changed classes")]
    assert g["diff_mean"].tolist() == pytest.approx([2 * 0.01, 2 * (0.066 + 0.01)])
    assert (g["n"] == 3).all()
    rec = report.sweep_metrics(gains)
    assert "sweep/cue/0.33/diff/rgbpose-poseconv3d/changed/ci95_low" in rec
    table = report.sweep_table(pd.DataFrame(rows), "cue")
    assert table.columns == ["method", "classes", "0.00", "0.33"] and len(table.rows) == 8
    assert table.rows[0][:3] == ["PoseConv3D", "all", "50.0 ± 0.0"] and table.rows[1][:3] == ["PoseConv3D", "changed", "40.0 ± 0.0"]


def test_separation_and_pca():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 10)
    centres = rng.normal(0, 1, (4, 6))
    tight = centres[y] + rng.normal(0, 0.05, (40, 6))
    loose = centres[y] + rng.normal(0, 1.0, (40, 6))
    assert report.separation(tight, y) > 10 * report.separation(loose, y)
    assert report.separation(tight[::10], y[::10]) is None  # one sample per class: undefined
    xy, extra, var = report.pca2(tight, centres)
    assert xy.shape == (40, 2) and extra.shape == (4, 2) and 0 < var <= 1


def test_key_results_follow_the_runs():
    book.set_chapter("10_classification")
    runs = _runs({"poseconv3d": [0.60, 0.61, 0.60, 0.62, 0.60], "rgbpose": [0.6] * 5,
                  "rgbpose_cmf_prm": [0.62, 0.65, 0.61, 0.66, 0.64]})
    box = report.key_results(runs, report.differences(runs), {"val": 0.3, "test": 0.31})
    assert box.items[0].startswith("The model chosen on validation, RGBPoseConv3D + CMF + PRM")
    assert "+32.6 points from the majority-class baseline" in box.items[0]  # mean 63.6 % against 31 %
    assert box.items[1].startswith("RGBPoseConv3D + CMF + PRM (the paper's method) is ahead of PoseConv3D")
    assert len(box.items) == 2  # the whole method's comparison only


def test_analysis_key_results_compare_separation_and_the_token_ablation():
    abl = pd.DataFrame([{"variant": v, "method": "rgbpose_cmf", "arm": arm, "seed": s, "test_top1": x}
                        for v in ("cmf_time", "prm_all") for s in range(3)
                        for arm, x in (("base", 0.6), ("variant", 0.6 + 0.01 * s))])
    d = report.ablation_differences(abl)
    items = report.analysis_key_results({"rgbpose_cmf": 1.5, "rgbpose_cmf_prm": 2.0}, d).items
    assert items[0].startswith("The separation of the test features is 2.00 with PRM and 1.50 without (higher")
    assert "not a measured effect" in items[0]  # one seed: no verdict
    assert len(items) == 2 and items[1].startswith("No detectable difference between CMF attending over time tokens")
    worse = report.analysis_key_results({"rgbpose_cmf": 2.0, "rgbpose_cmf_prm": 1.5}, d).items[0]
    assert "(not higher with PRM)" in worse
    assert "cannot be judged" in report.analysis_key_results({"rgbpose_cmf": None, "rgbpose_cmf_prm": 1.0}, d).items[0]


def test_sweep_key_results_take_the_hardest_level_of_each_sweep():
    rows = [{"sweep": sw, "level": lv, "a": a, "b": "poseconv3d", "on": on, "diff_mean": 0.1, "ci95_low": 0.05,
             "ci95_high": 0.15, "n": 3}
            for sw, a, levels in (("cue", "rgbpose", (0.0, 0.33)), ("pairs", "poseconv3d_prm", (0.5, 2.0)))
            for lv in levels for on in ("all classes", "changed classes")]
    items = report.sweep_key_results(pd.DataFrame(rows)).items
    assert len(items) == 2
    assert items[0].startswith("At share of classes whose cue is RGB-only 0.33: RGBPoseConv3D is ahead")
    assert items[1].startswith("At distance of the ambiguous pairs (x the body's) 0.50: PoseConv3D + PRM is ahead")


def test_architecture_figure_is_captioned():
    book.set_chapter("10_classification")
    fig = report.architecture_figure()
    assert fig.png.startswith(b"\x89PNG") and fig.number == "10.1"
    assert "CMF" in fig.caption and "PRM" in fig.caption
