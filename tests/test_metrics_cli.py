"""``python -m mglib eval ...``: JSON keys of cli.md, file formats and one-line errors for malformed files."""
import json
from pathlib import Path

import pytest

from mglib.cli import main
from mglib.metrics import io

EX = Path(__file__).parent / "fixtures" / "metrics_examples"


def run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_detection_json(capsys):
    rc, out, err = run(capsys, "eval", "detection", "--ground-truth", str(EX / "tad_map_01_basic/ground_truth.json"),
                       "--predictions", str(EX / "tad_map_01_basic/predictions.json"), "--subset", "validation", "--json")
    res = json.loads(out)
    assert rc == 0 and {"tiou", "mAP", "average_mAP", "per_class_AP"} <= set(res)
    assert res["average_mAP"] == pytest.approx(0.358641975308642, abs=1e-9)


def test_detection_ignored_label_goes_to_stderr(capsys):
    rc, out, err = run(capsys, "eval", "detection", "--ground-truth", str(EX / "tad_map_03_gt_cleaning/ground_truth.json"),
                       "--predictions", str(EX / "tad_map_03_gt_cleaning/predictions_with_unknown_label.json"), "--json")
    assert rc == 0 and json.loads(out)["ignored_predictions"] == 1 and "1 prediction(s) ignored" in err


def write_mma(tmp_path, cls=9):
    gt = tmp_path / "val.csv"
    gt.write_text("id,video_id,start_frame,end_frame,class,total_frames,fps\n"
                  f"0,val0000,30,90,{cls},300,30.0\n1,val0000,100,200,40,300,30.0\n2,val0001,0,58,9,290,29.0\n")
    return gt


def test_mma52_csv_roundtrip_and_body_level(tmp_path, capsys):
    gt = write_mma(tmp_path)
    preds = {"results": {"val0000": [{"segment": [1.0, 3.0], "label": 9, "score": 0.9},
                                     {"segment": [100 / 30, 200 / 30], "label": 41, "score": 0.8}],
                         "val0001": [{"segment": [0.0, 2.0], "label": 9, "score": 0.7}]}}
    sub = io.write_predictions(tmp_path / "prediction.csv", preds)
    assert sub.read_text().splitlines()[0] == ",video_id,t_start,t_end,class,score"
    assert io.load_predictions(sub)["results"] == preds["results"]
    rc, out, _ = run(capsys, "eval", "detection", "--ground-truth", str(gt), "--predictions", str(sub), "--json")
    action = json.loads(out)
    assert action["per_class_AP"]["9"] == [1.0] * 9 and action["per_class_AP"]["40"] == [0.0] * 9
    assert action["ignored_predictions"] == 1  # class 41 has no ground truth
    rc, out, _ = run(capsys, "eval", "detection", "--ground-truth", str(gt), "--predictions", str(sub),
                     "--level", "body", "--json")
    body = json.loads(out)  # 9 -> head (1), 40 and 41 -> head-hand (5): now a match
    assert body["average_mAP"] == 1.0 and set(body["per_class_AP"]) == {"1", "5"}


@pytest.mark.parametrize("content,needle", [
    ("id,video_id,start_frame,end_frame,class,total_frames,fps\n0,v,1,5,52,300,30\n", "row 2, field 'class'"),
    ("id,video_id,start_frame,end_frame,class,total_frames,fps\n0,v,9,5,1,300,30\n", "row 2, field 'end_frame'"),
    ("id,video_id,start_frame,class\n0,v,1,2\n", "row 1: expected header id,video_id,start_frame,end_frame"),
    ("id,video_id,start_frame,end_frame,class,total_frames,fps\n0,v,x,5,1,300,30\n", "field 'start_frame'"),
])
def test_malformed_ground_truth_csv(tmp_path, capsys, content, needle):
    gt = tmp_path / "val.csv"
    gt.write_text(content)
    pr = tmp_path / "p.json"
    pr.write_text('{"results": {}}')
    rc, out, err = run(capsys, "eval", "detection", "--ground-truth", str(gt), "--predictions", str(pr))
    assert rc == 2 and out == "" and err.count("\n") == 1 and err.startswith("error: ") and needle in err


@pytest.mark.parametrize("content,needle", [
    ("not json", "not valid JSON"),
    ('{"foo": 1}', "'results' mapping"),
    ('{"results": {"v1": [{"segment": [1], "label": "A", "score": 0.5}]}}', "item 0, field 'segment'"),
    ('{"results": {"v1": [{"segment": [1, 2], "label": "A", "score": "hi"}]}}', "field 'score'"),
])
def test_malformed_predictions_json(tmp_path, capsys, content, needle):
    pr = tmp_path / "p.json"
    pr.write_text(content)
    rc, out, err = run(capsys, "eval", "detection", "--ground-truth", str(EX / "tad_map_01_basic/ground_truth.json"),
                       "--predictions", str(pr))
    assert rc == 2 and err.count("\n") == 1 and needle in err


def test_submission_class_out_of_range(tmp_path, capsys):
    gt = write_mma(tmp_path)
    sub = tmp_path / "prediction.csv"
    sub.write_text(",video_id,t_start,t_end,class,score\n0,val0000,1.0,2.0,77,0.5\n")
    rc, _, err = run(capsys, "eval", "detection", "--ground-truth", str(gt), "--predictions", str(sub))
    assert rc == 2 and "prediction.csv, row 2, field 'class'" in err and "0-51" in err


def test_bad_tiou_and_empty_subset(capsys):
    args = ["eval", "detection", "--ground-truth", str(EX / "tad_map_01_basic/ground_truth.json"),
            "--predictions", str(EX / "tad_map_01_basic/predictions.json")]
    rc, _, err = run(capsys, *args, "--tiou", "0.5,abc")
    assert rc == 2 and "--tiou" in err
    rc, _, err = run(capsys, *args, "--subset", "nope")
    assert rc == 2 and "no ground truth of subset 'nope'" in err


def test_online_cli(tmp_path, capsys):
    d = json.loads((EX / "smg_online_f1_01/sequences_gt_and_predictions.json").read_text())
    names = {"seq1": "Sample0036", "seq2": "Sample0037"}
    for seq, v in d.items():
        folder = tmp_path / "gt" / names[seq]
        folder.mkdir(parents=True)
        (folder / f"{names[seq]}_finelabels.csv").write_text("".join(f"{a},{b},{c}\n" for a, b, c in v["gt"]))
    io.write_smg_predictions(tmp_path / "pred", {names[s]: v["pred"] for s, v in d.items()})
    for protocol, f1 in (("smg", 0.7058823031141904), ("strict", 0.5882352442906617)):
        rc, out, _ = run(capsys, "eval", "online", "--ground-truth", str(tmp_path / "gt"), "--predictions",
                         str(tmp_path / "pred"), "--protocol", protocol, "--json")
        res = json.loads(out)
        assert {"precision", "recall", "f1", "hits", "num_gt", "num_pred"} <= set(res)
        assert res["f1"] == pytest.approx(f1, abs=1e-9)
    (tmp_path / "pred" / "Sample0036_prediction.csv").write_text("1,12\n")
    rc, _, err = run(capsys, "eval", "online", "--ground-truth", str(tmp_path / "gt"), "--predictions",
                     str(tmp_path / "pred"))
    assert rc == 2 and "Sample0036_prediction.csv, row 1" in err


def test_errors_cli(capsys):
    rc, out, _ = run(capsys, "eval", "errors", "--ground-truth",
                     str(EX / "detad_01_error_profiling/ground_truth_with_characteristics.json"),
                     "--predictions", str(EX / "detad_01_error_profiling/predictions.json"), "--tiou", "0.5,0.7",
                     "--json")
    res = json.loads(out)
    assert list(res["fp_profile"]) == [f"{k}G" for k in range(1, 11)]
    assert set(res["fp_profile"]["1G"]) == {"True Positive", "Double Detection", "Wrong Label", "Localization",
                                            "Confusion", "Background"}
    assert set(res["fp_removal_gain"]) == {"Double Detection", "Wrong Label", "Localization", "Confusion",
                                           "Background"}
    assert set(res["fn_rate"]) == {"coverage", "length", "num_instances"}
    assert res["fp_profile"]["3G"]["Background"] == 1.0
