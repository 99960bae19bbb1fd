"""Detection mAP: the worked examples (official numbers), protocol variants, project rules, properties."""
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mglib.metrics as M
from mglib.errors import InputError
from mglib.metrics import detection as D
from mglib.metrics.reference import random_problem, reference_ap

EX = Path(__file__).parent / "fixtures" / "metrics_examples"
TOL = 1e-9


def load(name, pred="predictions.json"):
    return json.loads((EX / name / "ground_truth.json").read_text()), json.loads((EX / name / pred).read_text())


def expected(name, file="expected_activitynet_and_opentad.json"):
    return json.loads((EX / name / file).read_text())


@pytest.mark.parametrize("name", ["tad_map_01_basic", "tad_map_02_score_ties", "tad_map_03_gt_cleaning"])
@pytest.mark.parametrize("block,tiou", [("tiou_0.1_to_0.9", np.linspace(0.1, 0.9, 9)),
                                        ("tiou_0.5_to_0.95", np.linspace(0.5, 0.95, 10))])
def test_examples_official(name, block, tiou):
    gt, pr = load(name)
    exp = expected(name)[block]
    an = M.detection_map(gt, pr, tiou, protocol="activitynet", subset="validation")
    ref = exp["activitynet_official"]
    assert an["mAP"] == pytest.approx(list(ref["mAP_per_threshold"].values()), abs=TOL)
    assert an["average_mAP"] == pytest.approx(ref["average_mAP"], abs=TOL)
    for k, key in enumerate(ref["ap_per_threshold_per_class"]):
        for cls, ap in ref["ap_per_threshold_per_class"][key].items():
            assert an["per_class_AP"][cls][k] == pytest.approx(ap, abs=TOL)
    ot = M.detection_map(gt, pr, tiou, protocol="opentad", subset="validation")
    assert ot["mAP"] == pytest.approx(list(exp["opentad"]["mAP_per_threshold"].values()), abs=TOL)
    assert ot["average_mAP"] == pytest.approx(exp["opentad"]["average_mAP"], abs=TOL)


def test_example01_table_and_default_thresholds():
    gt, pr = load("tad_map_01_basic")
    r = M.detection_map(gt, pr, subset="validation")  # literal 0.1..0.9, opentad
    assert r["tiou"] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    assert r["average_mAP"] == pytest.approx(0.358641975308642, abs=TOL)
    assert r["per_class_AP"]["D"] == [0.0] * 9  # GT but no prediction: 0 and still in the mean
    assert r["per_class_AP"]["A"][4] == pytest.approx(0.458333333, abs=1e-6)
    assert r["per_class_AP"]["B"][4] == pytest.approx(0.75, abs=TOL)


@pytest.mark.parametrize("name", ["tad_map_01_basic", "tad_map_04_threshold_float_repr"])
def test_examples_pointtad(name):
    gt, pr = load(name)
    exp = expected(name, "expected_pointtad.json")
    r = M.detection_map(gt, pr, exp["tiou"], protocol="pointtad", subset="validation")
    assert r["mAP"] == pytest.approx(exp["mAP"], abs=TOL)
    assert r["average_mAP"] == pytest.approx(exp["average_mAP"], abs=TOL)
    for k, cls in enumerate(exp["classes"]):
        assert r["per_class_AP"][cls] == pytest.approx([row[k] for row in exp["ap"]], abs=TOL)
    assert M.POINTTAD_TIOU == tuple(exp["tiou"])


@pytest.mark.parametrize("block", ["tiou_linspace_0.1_0.9_9", "tiou_literal_0.1_to_0.9"])
@pytest.mark.parametrize("protocol", ["activitynet", "opentad"])
def test_example04_threshold_floats(block, protocol):
    gt, pr = load("tad_map_04_threshold_float_repr")
    exp = expected("tad_map_04_threshold_float_repr")[block]
    r = M.detection_map(gt, pr, exp["thresholds_as_float"], protocol=protocol, subset="validation")
    key = "activitynet_official" if protocol == "activitynet" else "opentad"
    assert r["mAP"] == pytest.approx(exp[key]["mAP_per_threshold"], abs=TOL)
    assert r["average_mAP"] == pytest.approx(exp[key]["average_mAP"], abs=TOL)
    if block.startswith("tiou_literal"):
        assert r["tiou"] == list(M.DEFAULT_TIOU)


def test_unknown_label_is_ignored_and_counted():
    gt, pr = load("tad_map_03_gt_cleaning", "predictions_with_unknown_label.json")
    r = M.detection_map(gt, pr, subset="validation")
    assert r["average_mAP"] == pytest.approx(1.0)
    assert r["ignored_predictions"] == 1 and r["ignored_labels"] == ["C"]
    assert set(r["per_class_AP"]) == {"A", "B"}


def test_empty_ground_truth_is_an_error():
    gt, pr = load("tad_map_01_basic")
    with pytest.raises(InputError, match="subset 'testing'"):
        M.detection_map(gt, pr, subset="testing")


def test_known_taxonomy_rejects_out_of_range_label():
    gt = {"database": {"v": {"subset": "val", "annotations": [{"segment": [0, 1], "label": 3}]}}, "label_space": "ma52"}
    pr = {"results": {"v": [{"segment": [0, 1], "label": 60, "score": 0.5}]}}
    with pytest.raises(InputError, match="label 60 is not a class index 0-51"):
        M.detection_map(gt, pr)
    pr["results"]["v"][0]["label"] = 7  # a valid class without GT: ignored, counted
    assert M.detection_map(gt, pr)["ignored_predictions"] == 1


def test_malformed_prediction_is_one_line_error():
    gt, pr = load("tad_map_01_basic")
    pr["results"]["v2"][1]["segment"] = [5, 1]
    with pytest.raises(InputError, match=r"video 'v2', item 1, field 'segment'") as e:
        M.detection_map(gt, pr, subset="validation")
    assert "\n" not in str(e.value)
    pr["results"]["v2"][1] = {"segment": [0, 1], "label": "A"}
    with pytest.raises(InputError, match="item 1: expected an object with 'segment', 'label' and 'score'"):
        M.detection_map(gt, pr, subset="validation")


def test_tiou_functions():
    assert M.tiou([0, 3], [0, 10]) == 0.3
    assert M.tiou([15, 20], [15, 25], "pointtad") < 0.5
    assert M.tiou([2, 2], [2, 2], "activitynet") == 0.0  # official 0/0 NaN read as no overlap
    A = np.array([[0, 10], [5, 15.0]])
    B = np.array([[0, 10], [20, 30], [2.5, 12.5]])
    P = M.tiou_pairwise(A, B)
    assert P.shape == (2, 3)
    for i in range(2):
        for j in range(3):
            assert P[i, j] == M.tiou(A[i], B[j])


def test_vectorised_equals_reference_on_random_problem():
    gt, pr = random_problem(num_videos=60, num_preds=3000, num_classes=12, seed=3)
    for protocol in ("opentad", "activitynet", "pointtad"):
        g = D.ground_truth_table(gt, clean="opentad" if protocol == "opentad" else None)
        p = D.prediction_table(pr, g)
        fast = D.evaluate_tables(g, p, M.DEFAULT_TIOU, protocol)
        ref = reference_ap(g, p, M.DEFAULT_TIOU, protocol)
        assert np.array_equal(np.array(fast["mAP"]), ref.mean(1))


def test_body_level_and_table3():
    gt, pr = random_problem(num_videos=30, num_preds=800, num_classes=52, seed=5)
    body = M.detection_map(gt, pr, level="body")
    assert set(body["per_class_AP"]) <= {str(k) for k in range(7)}
    manual = M.detection_map(M.to_body_level(gt), M.to_body_level(pr))
    assert body["mAP"] == manual["mAP"]
    t3 = M.mmad_table3(gt, pr)
    assert t3["AVG"] == pytest.approx((t3["action"]["average_mAP"] + t3["body"]["average_mAP"]) / 2)
    assert t3["body"]["mAP@0.5"] == body["mAP"][4]


# ---- property tests -------------------------------------------------------------------------------------------------
segments = st.tuples(st.integers(0, 50), st.integers(1, 20)).map(lambda t: [float(t[0]), float(t[0] + t[1])])


@st.composite
def problems(draw):
    n_vid = draw(st.integers(1, 4))
    db = {}
    for v in range(n_vid):
        anns = [{"segment": draw(segments), "label": draw(st.integers(0, 51))} for _ in range(draw(st.integers(0, 4)))]
        db[f"v{v}"] = {"subset": "val", "duration": 100.0, "annotations": anns}
    if not any(v["annotations"] for v in db.values()):
        db["v0"]["annotations"].append({"segment": [0.0, 5.0], "label": 0})
    n_pred = draw(st.integers(0, 25))
    scores = draw(st.lists(st.integers(0, 10**6), min_size=n_pred, max_size=n_pred, unique=True))
    preds = {}
    for s in scores:
        vid = f"v{draw(st.integers(0, n_vid))}"  # may name a video without ground truth
        preds.setdefault(vid, []).append({"segment": draw(segments), "label": draw(st.integers(0, 51)),
                                          "score": s / 10**6})
    return {"database": db}, {"results": preds}


def perfect(gt):
    res = {}
    for k, (vid, v) in enumerate(gt["database"].items()):
        for i, a in enumerate(v["annotations"]):
            res.setdefault(vid, []).append({"segment": list(a["segment"]), "label": a["label"],
                                            "score": 1.0 - 0.001 * (10 * k + i)})
    return {"results": res}


@settings(max_examples=60, deadline=None)
@given(problems())
def test_perfect_predictions_give_one(problem):
    gt, _ = problem
    r = M.detection_map(gt, perfect(gt), protocol="activitynet")
    assert r["average_mAP"] == pytest.approx(1.0)


@settings(max_examples=60, deadline=None)
@given(problems(), st.randoms(use_true_random=False))
def test_permuting_predictions_changes_nothing(problem, rnd):
    gt, pr = problem
    flat = [(vid, p) for vid, items in pr["results"].items() for p in items]
    rnd.shuffle(flat)
    shuffled = {}
    for vid, p in flat:
        shuffled.setdefault(vid, []).append(p)
    a = M.detection_map(gt, pr)
    b = M.detection_map(gt, {"results": shuffled})
    assert a["mAP"] == pytest.approx(b["mAP"], abs=1e-12)
    assert not any(np.isnan(a["mAP"]))


@settings(max_examples=60, deadline=None)
@given(problems(), segments, st.integers(0, 51), st.floats(0, 1))
def test_prediction_on_video_without_gt_never_raises_ap(problem, seg, label, score):
    gt, pr = problem
    before = M.detection_map(gt, pr)
    extra = {"results": {**pr["results"], "nogt": [{"segment": seg, "label": label, "score": score}]}}
    after = M.detection_map(gt, extra)
    for cls, aps in after["per_class_AP"].items():
        assert all(x <= y + 1e-12 for x, y in zip(aps, before["per_class_AP"][cls]))


@settings(max_examples=40, deadline=None)
@given(problems())
def test_body_level_equals_action_level_after_mapping(problem):
    gt, pr = problem
    body = M.detection_map(gt, pr, level="body")
    mapped = M.detection_map(M.to_body_level(gt), M.to_body_level(pr))
    assert body["mAP"] == mapped["mAP"] and body["per_class_AP"] == mapped["per_class_AP"]
    assert body["ignored_predictions"] == mapped["ignored_predictions"]


@settings(max_examples=40, deadline=None)
@given(problems())
def test_vectorised_equals_reference_property(problem):
    gt, pr = problem
    g = D.ground_truth_table(gt)
    p = D.prediction_table(pr, g)
    assert np.array_equal(np.array(D.evaluate_tables(g, p)["mAP"]), reference_ap(g, p, M.DEFAULT_TIOU).mean(1))
