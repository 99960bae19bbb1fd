"""Study 2's report helpers added for the chapter template: the architecture diagram and the recorded metrics of
chapters 04 and 21."""
import pytest

from mglib import book
from mglib.studies.online import report as R


def test_architecture_figure_is_a_numbered_captioned_png():
    book.set_chapter("20_online")
    fig = R.architecture_figure()
    assert fig.png.startswith(b"\x89PNG") and fig.number == "20.1"
    assert "Mamba-MHSA" in fig.caption and fig.anchor == "figure-architecture"


def test_streams_record_keeps_each_streams_measurements():
    streams = {"skeleton": {"test_clip_acc": 0.9, "majority": 0.3, "test_actionness_acc": 0.95,
                            "test_actionness_majority": 0.7, "nn_acc": 0.8, "params": 100, "causal": True},
               "rgb": {"majority": 0.3, "nn_acc": 0.4, "params": 200, "causal": False}}  # weights used as is
    rec = R.streams_record(streams)
    assert rec["skeleton/test_clip_acc"] == 0.9 and rec["rgb/nn_acc"] == 0.4
    assert "rgb/test_clip_acc" not in rec and not any(k.endswith("/causal") for k in rec)


def test_ablation_record_is_the_mean_and_sample_std_per_setting():
    def row(field, value, seed, f1):
        return {"field": field, "value": value, "seed": seed, "status": "ok", "test": {"f1": f1},
                "skipped_steps": 0}

    abl = {"rows": [row("num_mamba", 1, 0, 0.4), row("num_mamba", 1, 1, 0.6), row("num_mamba", 2, 0, 0.5),
                    row("num_mamba", 3, 0, 0.1) | {"status": "stopped"}],
           "baseline": {"test": {"f1": 0.1}}, "default": {"num_mamba": 2}}
    rec = R.ablation_record(abl)
    assert rec["num_mamba=1/f1_mean"] == pytest.approx(0.5)
    assert rec["num_mamba=1/f1_std"] == pytest.approx(0.1414, abs=1e-4)
    assert rec["num_mamba=2/f1_std"] == 0.0  # one seed: no spread to report
    assert "num_mamba=3/f1_mean" not in rec and rec["trivial baseline/f1"] == 0.1


def _runs(curves):
    return [{"status": "ok", "val_curve": c} for c in curves] + [{"status": "stopped", "val_curve": [0.0] * 6}]


def test_plateau_reads_the_end_of_the_validation_curves():
    flat = _runs([[0.1, 0.5, 0.70, 0.71, 0.70, 0.71], [0.1, 0.5, 0.72, 0.71, 0.72, 0.72], [0.2, 0.4, 0.69, 0.70,
                                                                                            0.69, 0.69]])
    p = R.plateau(flat)
    assert p["trend"] == "level" and p["n"] == 3 and abs(p["diff_mean"]) < 0.01
    assert "levelled off" in R.plateau_sentence("PointTAD", p)
    rising = R.plateau(_runs([[0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [0.1, 0.2, 0.32, 0.41, 0.52, 0.6]]))
    assert rising["trend"] == "rising" and rising["diff_mean"] == pytest.approx(0.3, abs=0.01)
    assert "still rising" in R.plateau_sentence("PointTAD", rising)
    falling = R.plateau(_runs([[0.1, 0.9, 0.8, 0.7, 0.6, 0.5], [0.1, 0.9, 0.81, 0.7, 0.61, 0.5]]))
    assert falling["trend"] == "falling"
    noisy = R.plateau(_runs([[0.1, 0.5, 0.5, 0.6, 0.7, 0.8], [0.1, 0.5, 0.7, 0.7, 0.67, 0.67]]))
    assert noisy["trend"] == "unclear" and noisy["ci95_low"] < 0 < noisy["ci95_high"]
    short = R.plateau(_runs([[0.1, 0.2, 0.3]]))
    assert short == {"trend": "short", "epochs": 3} and "too few" in R.plateau_sentence("PointTAD", short)
