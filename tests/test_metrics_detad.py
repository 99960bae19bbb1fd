"""DETAD-style analysis: the worked example with the bug-free labelling (expected_correct_overrides.json)."""
import json
from pathlib import Path

import numpy as np
import pytest

from mglib.errors import InputError
from mglib.metrics import DETAD_ACTIVITYNET_BUCKETS, error_analysis
from mglib.metrics.detad import bucketize

EX = Path(__file__).parent / "fixtures" / "metrics_examples" / "detad_01_error_profiling"
TOL = 1e-9


def strip(name):
    return name.replace(" Err", "")


@pytest.fixture(scope="module")
def result():
    gt = json.loads((EX / "ground_truth_with_characteristics.json").read_text())
    pr = json.loads((EX / "predictions.json").read_text())
    return error_analysis(gt, pr, tiou=[0.5, 0.7], subset="testing", buckets=DETAD_ACTIVITYNET_BUCKETS, details=True)


@pytest.fixture(scope="module")
def expected():
    off = json.loads((EX / "expected_detad_official.json").read_text())
    fix = json.loads((EX / "expected_correct_overrides.json").read_text())
    fp = off["fp_analysis"]
    fp["fp_profile_fraction_avg_over_tiou"].update(fix["fp_profile_fraction_avg_over_tiou"])
    fp["average_mAP_N_gain_when_removing"].update(fix["average_mAP_N_gain_when_removing"])
    for o in fix["per_prediction"]:
        for p in fp["per_prediction"]:
            if (p["video"], p["label"], p["segment"], p["score"]) == (o["video"], o["label"], o["segment"], o["score"]):
                p.update({k: v for k, v in o.items() if k.startswith("type@")})
    return off


def test_normalised_map(result, expected):
    fp = expected["fp_analysis"]
    assert result["N"] == fp["average_num_instance_per_class(N)"]
    assert result["average_mAP_N"] == pytest.approx(fp["average_mAP_N"], abs=TOL)
    assert result["mAP_N"] == pytest.approx(list(fp["mAP_N_per_tiou"].values()), abs=TOL)


def test_per_prediction_types_bug_free(result, expected):
    exp = {(p["video"], p["label"], tuple(p["segment"]), p["score"]): p for p in expected["fp_analysis"]["per_prediction"]}
    assert len(result["per_prediction"]) == len(exp)
    for p in result["per_prediction"]:
        e = exp[(p["video"], p["label"], tuple(p["segment"]), p["score"])]
        assert p["type@0.5"] == strip(e["type@0.5"]) and p["type@0.7"] == strip(e["type@0.7"])
    v3 = [p for p in result["per_prediction"] if p["video"] == "v3"]
    assert all(p["type@0.5"] == "Background" for p in v3)  # the stale-ground-truth bug is not reproduced


def test_fp_profile_and_gains(result, expected):
    fp = expected["fp_analysis"]
    for g, row in fp["fp_profile_fraction_avg_over_tiou"].items():
        for name, v in row.items():
            got = result["fp_profile"][g][strip(name)]
            assert (got is None) if v is None else got == pytest.approx(v, abs=TOL)
    assert result["fp_group_sizes"] == fp["group_sizes"]
    for name, v in fp["average_mAP_N_gain_when_removing"].items():
        assert result["fp_removal_gain"][strip(name)] == pytest.approx(v, abs=TOL)


def test_fn_and_sensitivity(result, expected):
    names = {"coverage": "coverage", "length": "length", "num-instances": "num_instances"}
    for off_name, name in names.items():
        present = expected["fn_analysis"][off_name]
        for b, v in result["fn_rate"][name].items():
            if b in present:
                assert v == pytest.approx(present[b]["fn_rate"], abs=TOL)
                assert result["fn_share"][name][b] == pytest.approx(present[b]["share_of_gt"], abs=TOL)
            else:
                assert v is None and result["fn_share"][name][b] is None
        for b, v in expected["sensitivity"][off_name].items():
            got = result["sensitivity"][name][b]
            assert (got is None) if v is None else got == pytest.approx(v, abs=TOL)


def test_result_is_strict_json(result):
    json.dumps(result, allow_nan=False)


def test_bucketize_matches_pandas_cut():
    edges = (0, 0.2, 0.4, 1)
    assert bucketize([0, 0.2, 0.2000001, 0.4, 1.0, 1.5, -1], edges).tolist() == [0, 0, 1, 1, 2, -1, -1]


def test_duration_required():
    gt = {"database": {"v": {"subset": "s", "annotations": [{"segment": [0, 1], "label": "A"}]}}}
    with pytest.raises(InputError, match="duration"):
        error_analysis(gt, {"results": {}})


def test_defaults_mmad_buckets_and_no_nan():
    from mglib.metrics.reference import random_problem
    gt, pr = random_problem(num_videos=20, num_preds=400, num_classes=10, seed=2)
    r = error_analysis(gt, pr)
    assert list(r["fn_rate"]) == ["coverage", "length", "num_instances"]
    assert list(r["fn_rate"]["num_instances"]) == ["XS", "S", "M", "L"]
    for row in r["fp_profile"].values():
        vals = [v for v in row.values() if v is not None]
        assert not vals or sum(vals) == pytest.approx(1.0)
    assert not np.isnan(r["average_mAP_N"])
    json.dumps(r, allow_nan=False)
