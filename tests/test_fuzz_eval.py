"""Fuzz suite, evaluation: ``eval detection``, ``eval errors`` and ``eval online`` on malformed input.

The MMA-52 CSVs go through the same reader as ``data inspect`` (so both accept and refuse the same files); the
ActivityNet JSON ground truth is held to the same rules as the predictions; the SMG folders are named strictly.
"""
import json

import pytest

from mglib.cli import EXTRA_JSON_KEYS, build_parser
from tests.fuzzkit import accepted, cases, check, fixture, place, refused

GT_JSON, PRED_JSON = fixture("gt_json", "ok.json"), fixture("pred_json", "ok.json")
GT_CSV, SUBMISSION = fixture("mma52", "ok_quoted_video_id.csv"), fixture("submission", "ok.csv")
SPEC_KEYS = {  # cli.md
    "detection": {"tiou", "mAP", "average_mAP", "per_class_AP"},
    "errors": {"fp_profile", "fp_removal_gain", "fn_rate"},
    "online": {"precision", "recall", "f1", "hits", "num_gt", "num_pred"},
}


def detection(gt, pred, *more):
    return ["eval", "detection", "--ground-truth", gt, "--predictions", pred, "--json", *more]


def errors(gt, pred, *more):
    return ["eval", "errors", "--ground-truth", gt, "--predictions", pred, "--json", *more]


# ---------------------------------------------------------------------------------------------- detection / errors
@pytest.mark.parametrize("name,needle", cases("mma52"))
def test_ground_truth_csv_as_strict_as_data_inspect(capsys, name, needle):
    res = check(capsys, detection(fixture("mma52", name), SUBMISSION), needle, name)
    if needle is None:
        assert res["num_ground_truth"] == 3 and res["average_mAP"] > 0


@pytest.mark.parametrize("name,needle", cases("submission"))
def test_submission_csv(capsys, name, needle):
    res = check(capsys, detection(GT_CSV, fixture("submission", name)), needle, name)
    if needle is None:
        assert res["num_predictions"] >= 1 and res["ignored_predictions"] == 0


@pytest.mark.parametrize("cmd", [detection, errors])
@pytest.mark.parametrize("name,needle", cases("gt_json"))
def test_ground_truth_json(capsys, cmd, name, needle):
    pred = PRED_JSON
    if name == "labels_as_digit_strings.json":  # ground truth "3" against predicted 3: refused, never a silent mAP 0
        pred = fixture("pred_json", "label_integer_against_strings.json")
    res = check(capsys, cmd(fixture("gt_json", name), pred), needle, name)
    if needle is None and cmd is detection:
        assert res["num_ground_truth"] == 3 and res["average_mAP"] > 0


@pytest.mark.parametrize("cmd", [detection, errors])
@pytest.mark.parametrize("folder,name", [
    ("gt_json", "video_is_list.json"), ("gt_json", "annotations_object.json"),
    ("gt_json", "annotation_not_object.json"), ("gt_json", "no_database.json"), ("gt_json", "label_null.json"), ("pred_json", "item_not_object.json"),
    ("pred_json", "video_not_list.json"), ("pred_json", "results_list.json"), ("pred_json", "label_dict.json"),
])
def test_body_level_on_malformed_files(capsys, cmd, folder, name):
    # the other side is a valid MMA-52 file (integer classes), so the error can only be about this file
    gt, pred = (fixture(folder, name), SUBMISSION) if folder == "gt_json" else (GT_CSV, fixture(folder, name))
    refused(capsys, cmd(gt, pred, "--level", "body"), name)


@pytest.mark.parametrize("name,needle", cases("pred_json"))
def test_predictions_json(capsys, name, needle):
    res = check(capsys, detection(GT_JSON, fixture("pred_json", name)), needle, name)
    if needle is None:
        assert res["average_mAP"] > 0


def test_integer_labels_on_both_sides_score(tmp_path, capsys):
    gt = json.loads(GT_JSON.read_text())
    pred = json.loads(PRED_JSON.read_text())
    for v in gt["database"].values():
        for a in v["annotations"]:
            a["label"] = ord(a["label"])
    for items in pred["results"].values():
        for p in items:
            p["label"] = ord(p["label"])
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "pred.json").write_text(json.dumps(pred))
    as_ints = accepted(capsys, detection(tmp_path / "gt.json", tmp_path / "pred.json"))
    as_strings = accepted(capsys, detection(GT_JSON, PRED_JSON))
    assert as_ints["mAP"] == as_strings["mAP"] and as_ints["average_mAP"] > 0


@pytest.mark.parametrize("duration,needle", [
    (None, "field 'duration': missing"), (0, "field 'duration'"), (-3.0, "field 'duration'"),
    ("1e999", "field 'duration'"), (True, "field 'duration'"),
])
def test_errors_needs_a_positive_duration(tmp_path, capsys, duration, needle):
    gt = json.loads(GT_JSON.read_text())
    if duration is None:
        del gt["database"]["v1"]["duration"]
    else:
        gt["database"]["v1"]["duration"] = duration
    text = json.dumps(gt).replace('"1e999"', "1e999")
    (tmp_path / "gt.json").write_text(text)
    refused(capsys, errors(tmp_path / "gt.json", PRED_JSON), "gt.json", "video 'v1'", needle)


def test_errors_coverage_buckets_from_valid_durations(capsys):
    res = accepted(capsys, errors(GT_JSON, PRED_JSON))
    assert res["dropped_ground_truth"] == 0 and sum(v for v in res["fn_share"]["coverage"].values() if v) == 1


@pytest.mark.parametrize("which", ["ground truth", "predictions"])
@pytest.mark.parametrize("problem", ["missing", "folder"])
def test_eval_file_problems(tmp_path, capsys, which, problem):
    bad = tmp_path / "bad.json"
    if problem == "folder":
        bad.mkdir()
    gt, pred = (bad, PRED_JSON) if which == "ground truth" else (GT_JSON, bad)
    refused(capsys, detection(gt, pred), "bad.json", "missing file" if problem == "missing" else "is a folder")


# ---------------------------------------------------------------------------------------------- online
def _online(tmp_path, labels="smg_labels/ok_blank_lines.csv", pred="smg_pred/ok.csv", pred_name=None):
    place(fixture(*labels.split("/")), tmp_path / "gt" / "Sample0036" / "Sample0036_finelabels.csv")
    (tmp_path / "pred").mkdir(exist_ok=True)
    if pred is not None:
        place(fixture(*pred.split("/")), tmp_path / "pred" / (pred_name or "Sample0036_prediction.csv"))
    return ["eval", "online", "--ground-truth", tmp_path / "gt", "--predictions", tmp_path / "pred", "--json"]


@pytest.mark.parametrize("name,needle", cases("smg_labels"))
def test_online_ground_truth(tmp_path, capsys, name, needle):
    check(capsys, _online(tmp_path, labels=f"smg_labels/{name}"), needle, "Sample0036_finelabels.csv")


@pytest.mark.parametrize("name,needle", cases("smg_pred"))
def test_online_predictions(tmp_path, capsys, name, needle):
    res = check(capsys, _online(tmp_path, pred=f"smg_pred/{name}"), needle, "Sample0036_prediction.csv")
    if needle is None:
        assert (res["hits"], res["num_gt"], res["num_pred"]) == (2, 2, 2)


@pytest.mark.parametrize("layout,needle", [
    ("Sample00361_prediction.csv", "expected a file named SampleXXXX_prediction.csv"),
    ("Sample00011_prediction.csv", "expected a file named SampleXXXX_prediction.csv"),
    ("SampleABCD_prediction.csv", "expected a file named SampleXXXX_prediction.csv"),
    ("sample0036_prediction.csv", "expected a file named SampleXXXX_prediction.csv"),
    ("Sample0036/Sample0036_prediction.csv + flat", "a second prediction file for Sample0036"),
    ("Sample0037/Sample0036_prediction.csv", "predictions of Sample0036 in folder 'Sample0037'"),
    ("prediction file a folder", "Sample0036_prediction.csv: is a folder"),
    ("predictions a file", "pred: is a file"),
    ("predictions missing", "pred: missing folder"),
    ("ground truth SampleXYZ", "SampleXYZ: expected only sequence folders"),
    ("ground truth without labels", "Sample0040_finelabels.csv: missing file"),
])
def test_online_layout(tmp_path, capsys, layout, needle):
    argv = _online(tmp_path)
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    ok = fixture("smg_pred", "ok.csv")
    if layout.endswith("+ flat"):
        place(ok, pred / "Sample0036" / "Sample0036_prediction.csv")
    elif layout.startswith("Sample") or layout.startswith("sample"):
        place(ok, pred / layout)
    elif layout == "prediction file a folder":
        (pred / "Sample0036_prediction.csv").unlink()
        (pred / "Sample0036_prediction.csv").mkdir()
    elif layout == "predictions a file":
        for f in pred.iterdir():
            f.unlink()
        pred.rmdir()
        pred.write_text("x")
    elif layout == "predictions missing":
        for f in pred.iterdir():
            f.unlink()
        pred.rmdir()
    elif layout == "ground truth SampleXYZ":
        (gt / "SampleXYZ").mkdir()
    elif layout == "ground truth without labels":
        (gt / "Sample0040").mkdir()
    refused(capsys, argv, needle)


def test_online_prediction_one_folder_deeper(tmp_path, capsys):
    argv = _online(tmp_path, pred=None)
    place(fixture("smg_pred", "ok.csv"), tmp_path / "pred" / "Sample0036" / "Sample0036_prediction.csv")
    assert accepted(capsys, argv)["hits"] == 2


# ---------------------------------------------------------------------------------------------- JSON keys
def test_json_keys_are_the_spec_plus_those_listed_in_help(tmp_path, capsys):
    outputs = {"detection": accepted(capsys, detection(GT_JSON, PRED_JSON)),
               "errors": accepted(capsys, errors(GT_JSON, PRED_JSON)),
               "online": accepted(capsys, _online(tmp_path))}
    sub = build_parser()._subparsers._group_actions[0].choices["eval"]._subparsers._group_actions[0].choices
    for cmd, res in outputs.items():
        assert set(res) == SPEC_KEYS[cmd] | set(EXTRA_JSON_KEYS[cmd]), cmd
        help_text = sub[cmd].format_help().replace("\n", " ")
        assert all(k in help_text for k in EXTRA_JSON_KEYS[cmd]), cmd
