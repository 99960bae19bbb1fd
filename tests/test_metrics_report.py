"""Chapter 02's tables and figures (mglib.metrics.report): they show the metric functions' numbers, formatted."""
import math

import numpy as np
import pytest

from mglib import book
from mglib.metrics import report as R
from mglib.metrics.reference import random_problem

TOY_GT = {"database": {"v1": {"subset": "val", "duration": 60.0, "annotations": [
    {"segment": [10, 20], "label": "A"}, {"segment": [30, 40], "label": "A"}]}}}


def toy_pred(shift):
    return {"results": {"v1": [{"segment": [10, 20], "label": "A", "score": 0.9},
                               {"segment": [11, 21], "label": "A", "score": 0.8},
                               {"segment": [28 + shift, 40 + shift], "label": "A", "score": 0.7},
                               {"segment": [45, 50], "label": "A", "score": 0.6}]}}


@pytest.fixture(autouse=True)
def chapter():
    book.set_chapter("02_metrics")


def test_tiou_table_shows_pointtad_below_the_threshold():
    t = R.tiou_table([([15, 20], [15, 25])])
    assert t.columns == ["prediction", "ground truth", "OpenTAD", "ActivityNet", "PointTAD"]
    assert t.rows == [["[15, 20]", "[15, 25]", "0.500000", "0.500000", "0.499995"]]
    assert t.number == "2.1"


@pytest.mark.parametrize("shift,best,tp05", [(2.0, 0.8333, [True, False, True, False]),
                                             (5.0, 0.4667, [True, False, False, False])])
def test_matches_follow_greedy_matching(shift, best, tp05):
    m = R.matches(TOY_GT, toy_pred(shift))
    assert m["best tIoU"].round(4).tolist() == [1.0, 0.8182, best, 0.0]
    assert m["TP at 0.5"].tolist() == tp05
    assert m["TP at 0.3"].tolist()[2] is True  # 0.4667 still passes 0.3
    assert R.ranked_hits(TOY_GT, toy_pred(shift), 0.5).tolist() == tp05  # already in score order


def test_pr_figure_caption_carries_the_ap():
    f = R.pr_figure(R.ranked_hits(TOY_GT, toy_pred(2.0), 0.5), num_gt=2, ap=5 / 6, threshold=0.5)
    assert f.png[:4] == b"\x89PNG" and "83.3 %" in f.caption


def test_threshold_table_reproduces_the_float_threshold_example():
    gt = {"database": {"v1": {"subset": "val", "annotations": [
        {"segment": [0, 10], "label": "A"}, {"segment": [20, 30], "label": "B"}]}}}
    pred = {"results": {"v1": [{"segment": [0, 3], "label": "A", "score": 0.9},
                               {"segment": [20, 27], "label": "B", "score": 0.8}]}}
    rows = R.threshold_table(gt, pred).rows
    assert rows[2] == ["0.3", "0.30000000000000004", "100.0", "50.0"]
    assert rows[-1][2:] == ["55.6", "44.4"]  # evaluation-protocols example tad_map_04: 0.5556 vs 0.4444


def test_chance_predictions_keep_everything_but_the_segments():
    gt, preds = random_problem(num_videos=5, num_preds=60, num_classes=5, seed=1)
    chance = R.chance_predictions(gt, preds, seed=0)
    assert chance == R.chance_predictions(gt, preds, seed=0)
    for vid, items in preds["results"].items():
        dur = gt["database"][vid]["duration"]
        for q, c in zip(items, chance["results"][vid]):
            assert (c["label"], c["score"]) == (q["label"], q["score"])
            assert 0 <= c["segment"][0] < c["segment"][1] <= 1.4 * dur


def test_table3_and_avg_are_in_percent():
    t = {"action": {"mAP@0.2": 0.5, "mAP@0.5": 0.4, "mAP@0.7": 0.3, "average_mAP": 0.25},
         "body": {"mAP@0.2": 0.6, "mAP@0.5": 0.5, "mAP@0.7": 0.4, "average_mAP": 0.35}, "AVG": 0.3}
    table = R.table3_table({"x": t})
    assert table.rows[0] == ["x", "action", "50.0", "40.0", "30.0", "25.0"]
    assert table.columns[-1] == "average mAP (%)"
    assert R.avg_box({"x": t}).items == ["x: AVG = 30.0 % (action 25.0 %, body 35.0 %)."]


def test_online_scores_contrast_the_two_rules_and_the_empty_baseline():
    gt = {"S": [(1, 0, 10), (1, 12, 22)]}
    scores = R.online_scores(gt, {"S": [(1, 0, 22)]})
    assert scores["smg"]["hits"] == 2 and scores["strict"]["hits"] == 1
    assert scores["no predictions (baseline)"]["f1"] == 0.0
    rows = R.online_table(scores).rows
    assert rows[0][4:] == ["200.0", "100.0", "133.3"]  # precision above 100 % under the starter-kit rule


def test_fn_table_marks_empty_buckets():
    ea = {"fn_rate": {"coverage": {"XS": 0.5, "S": None}, "length": {"XS": 0.25, "S": 0.0}}}
    t = R.fn_table(ea)
    assert t.rows == [["XS", "50.0", "25.0"], ["S", "—", "0.0"]]


def test_error_figures_and_box_from_a_real_analysis():
    gt, preds = random_problem(num_videos=6, num_preds=120, num_classes=6, seed=0)
    ea = R.errors(gt, preds, R.chance_predictions(gt, preds, 0))
    assert R.fp_figure(ea["detector"]).caption.startswith("False-positive profile")
    assert R.fn_figure(ea["detector"]).png[:4] == b"\x89PNG"
    box = R.errors_box(ea).items[0]
    assert f"detector {100 * ea['detector']['average_mAP_N']:.1f} %" in box


def test_time_matchers_checks_identity():
    bench = R.time_matchers(*random_problem(num_videos=10, num_preds=300, num_classes=5, seed=0))
    assert bench["identical"] is True and bench["predictions"] == 300
    assert bench["vectorised_s"] > 0 and math.isfinite(bench["reference_s"])
    row = R.speed_table(bench).rows[0]
    assert row[0] == "300" and row[3].endswith("×") and row[4] == "yes"
    assert np.isclose(float(row[3][:-1]), bench["reference_s"] / bench["vectorised_s"], atol=0.06)
