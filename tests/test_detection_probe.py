"""The linear probe that checks the pretrained backbone, and the report built from a study's runs (tables, the
targets and the verdicts generated from paired seeds)."""
import numpy as np
import pytest
import torch

from mglib import book
from mglib.models.vit import VideoViT, ViTConfig
from mglib.studies import detection as S
from mglib.studies.detection.data import to_tensor
from mglib.studies.detection.pretrain import patch_features, pool, probe, probe_report
from mglib.studies.detection.task import THRESHOLDS, Runs

VIT = ViTConfig(img_size=16, patch_size=8, tubelet=2, num_frames=4, dim=16, depth=1, heads=2)


def clips(labels, seed, colours=None):
    """Clips of one flat colour per class (plus noise): separable by any encoder that is not degenerate."""
    rng = np.random.default_rng(seed)
    colours = colours if colours is not None else np.random.default_rng(99).integers(0, 255, (52, 3))
    x = np.empty((len(labels), 4, 16, 16, 3), np.uint8)
    for i, c in enumerate(labels):
        x[i] = np.clip(colours[c] + rng.normal(0, 3, (4, 16, 16, 3)), 0, 255)
    return x, np.asarray(labels)


def test_probe_separates_what_the_features_separate():
    torch.manual_seed(0)
    vit = VideoViT(VIT)
    train, val = clips([0, 1, 2] * 10, 0), clips([0, 1, 2, 0, 0, 1], 1)
    r = probe(vit, train, val)
    assert r["val_acc"] == 1.0 and r["train_acc"] == 1.0
    assert r["majority"] == pytest.approx(3 / 6) and (r["train_clips"], r["val_clips"]) == (30, 6)


def test_probe_stays_near_majority_when_features_carry_no_label():
    torch.manual_seed(0)
    vit = VideoViT(VIT)
    same = np.zeros((52, 3)) + 128  # every class looks the same
    r = probe(vit, clips([0, 1] * 20, 0, same), clips([0, 1] * 10, 1, same))
    assert r["val_acc"] <= 0.75 and r["majority"] == 0.5


def test_grid_pooling_keeps_one_vector_per_patch_position():
    vit = VideoViT(VIT)  # 16 px, patch 8: 2 x 2 positions of 16 channels
    x, _ = clips([0, 1, 2], 0)
    patches = patch_features(vit, x)
    assert patches.shape == (3, 4, 16) and pool(patches, "grid").shape == (3, 64)
    # mean pooling is the ViT's own spatially pooled feature, averaged over time
    assert torch.allclose(pool(patches, "mean"), vit.features(torch.stack([to_tensor(c) for c in x])).mean(-1),
                          atol=1e-6)
    with pytest.raises(ValueError, match="pooling 'max'"):
        pool(patches, "max")


def test_probe_report_fits_three_probes_and_heads_with_the_grid_one():
    torch.manual_seed(0)
    vit = VideoViT(VIT)
    train, val, corpus = clips([0, 1, 2] * 4, 0), clips([0, 1, 2, 0], 1), clips([0, 1, 2] * 6, 2)
    r = probe_report(vit, (train, val), corpus)
    assert [(row["pooling"], row["train_clips"]) for row in r["rows"]] == [("mean", 12), ("mean", 30), ("grid", 30)]
    assert r["val_acc"] == r["rows"][-1]["val_acc"] == 1.0 and r["majority"] == 0.5 and r["val_clips"] == 4


def fake_runs(avg_by_setting: dict, prior_avg: float, seeds=(0, 1, 2)) -> Runs:
    study = S.config({"seeds": list(seeds)})
    amp = study.detection.data.amplitude
    rows = []
    for s, vals in avg_by_setting.items():
        for seed, v in zip(seeds, vals):
            m = {f"{lv}/mAP@{t}": v for lv in ("action", "body") for t in THRESHOLDS}
            m.update({"action/average_mAP": v, "body/average_mAP": v, "AVG": v, "pointtad_eval/AVG": v})
            rows.append({"setting": s, "seed": seed, "amplitude": amp, "run": "", "params": 10, **m})
    prior = {f"{lv}/mAP@{t}": prior_avg for lv in ("action", "body") for t in THRESHOLDS}
    prior.update({"action/average_mAP": prior_avg, "body/average_mAP": prior_avg, "AVG": prior_avg})
    probes = [{"pooling": p, "trained_on": on, "train_acc": 0.9, "val_acc": v, "train_clips": n, "val_clips": 5}
            for p, on, v, n in (("mean", "training instances", 0.2, 10),
                                ("mean", "corpus + training instances", 0.25, 40),
                                ("grid", "corpus + training instances", 0.4, 40))]
    backbone = {"probe": {**probes[-1], "majority": 0.1, "rows": probes},
                "history": [{"epoch": e, "train_loss": 2.0, "held_out_loss": 2.1, "probe_val_acc": 0.3, "score": s}
                            for e, s in ((1, 0.2), (2, 0.5), (3, 0.5))]}
    return Runs(study, rows, {amp: prior}, backbone)


def test_findings_and_metrics_are_generated_from_the_runs():
    book.set_chapter("30_mmad")
    runs = fake_runs({"tia": [0.10, 0.12, 0.11], "dsta": [0.16, 0.17, 0.18], "snippet": [0.10, 0.13, 0.10]}, 0.05)
    lines = S.report.findings(runs)
    assert lines[0].startswith("The best setting, DSTA") and "3.4 × the class prior's 5.0 %" in lines[0]
    assert lines[0].endswith("met).")
    assert lines[1].endswith("above the class prior at every tIoU threshold at both levels.")
    snippet, dsta = lines[2:]  # one verdict per setting against TIA, in the study's order
    assert dsta.startswith("AVG: DSTA") and "is ahead of TIA" in dsta and "3 paired seeds" in dsta
    assert snippet.startswith("AVG: No detectable difference between snippet features + ActionFormer and TIA")
    m = S.report.metrics(runs)
    assert m["dsta/AVG"] == pytest.approx(0.17) and m["prior/AVG"] == 0.05 and m["probe/majority"] == 0.1
    assert {"tia/action_avg", "tia/body_avg", "prior/action_avg", "prior/body_avg", "probe/val_acc"} <= set(m)
    assert m["probe/val_acc"] == 0.4 and m["probe/mean_pooled_val_acc"] == 0.25
    probe_lines = S.report.probe_findings(runs)
    assert probe_lines[0].endswith("(target: 3 ×, met).")
    assert "reaches 40.0 % on the validation instance clips, 4.0 × the majority" in probe_lines[0]
    assert "give 25.0 % with the same training clips, and 20.0 % fitted on the 10 training" in probe_lines[1]
    assert [r[0] for r in S.report.probe_table(runs).rows] == ["mean over space and time"] * 2 + [
        "mean over time, per patch position", "majority class (trivial)"]


def test_pretraining_figure_stars_the_released_epochs_probe(monkeypatch):
    import matplotlib.pyplot as plt

    seen = []
    monkeypatch.setattr(book, "figure", lambda fig, *args: seen.append(fig))
    S.report.pretraining_figure(fake_runs({"tia": [0.1, 0.1, 0.1]}, 0.05))
    star = [ln for ln in seen[0].axes[1].lines if ln.get_marker() == "*"][0]
    assert list(star.get_xdata()) == [2] and list(star.get_ydata()) == [40.0]  # the first best epoch, the headline
    plt.close(seen[0])


def test_a_missed_target_is_reported_as_missed():
    runs = fake_runs({"tia": [0.06, 0.06, 0.07]}, 0.05)
    assert S.report.findings(runs)[0].endswith("missed).")


def test_tables_quote_the_paper_as_reported():
    book.set_chapter("30_mmad")
    runs = fake_runs({"tia": [0.10, 0.12, 0.11], "dsta": [0.16, 0.17, 0.18]}, 0.05)
    t4 = S.report.table4(runs)
    rep = [r for r in t4.rows if r[0] == S.report.NAMES["dsta"]][0]
    assert rep[-2:] == ["1.80M", "18.16"]
    action, body = S.report.table3(runs, "action"), S.report.table3(runs, "body")
    assert repr(action).startswith("Table 30.") and action.number != body.number
    rows = {r[0]: r for r in action.rows}
    assert rows["reported: DSTA, VideoMAE-S"][1:] == ["28.05", "20.40", "9.03", "18.16"]
    rows = {r[0]: r for r in body.rows}
    assert rows["reported: DSTA, VideoMAE-S"][1:] == ["47.14", "30.02", "8.37", "28.70"]
    rows = {r[0]: r for r in S.report.table3(runs, "AVG").rows}
    assert rows["reported: DSTA, VideoMAE-S"][1:] == ["23.43"]
    assert rows[S.report.NAMES["prior"]][-1] == "5.0" and rows[S.report.NAMES["tia"]][-1] == "11.0 ± 1.0"


def test_architecture_figure_is_captioned():
    book.set_chapter("30_mmad")
    fig = S.report.architecture_figure()
    assert fig.png.startswith(b"\x89PNG") and fig.number == "30.1"
    assert "adapter" in fig.caption and "DSTA" in fig.caption
