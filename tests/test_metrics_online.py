"""SMG online F1: the worked example (starter-kit and strict protocols) and edge cases."""
import json
from pathlib import Path

import pytest

from mglib.errors import InputError
from mglib.metrics import online_f1
from mglib.metrics.online import alpha

EX = Path(__file__).parent / "fixtures" / "metrics_examples" / "smg_online_f1_01"


def example():
    d = json.loads((EX / "sequences_gt_and_predictions.json").read_text())
    return {k: v["gt"] for k, v in d.items()}, {k: v["pred"] for k, v in d.items()}


@pytest.mark.parametrize("protocol,key", [("smg", "starter_kit_behaviour(reuse_predictions=True)"),
                                          ("strict", "one_to_one_variant(reuse_predictions=False)")])
def test_example(protocol, key):
    exp = json.loads((EX / "expected_f1.json").read_text())[key]
    r = online_f1(*example(), protocol=protocol)
    assert (r["hits"], r["num_gt"], r["num_pred"]) == (exp["correct"], exp["n_gt"], exp["n_pred"])
    assert r["precision"] == pytest.approx(exp["precision"], abs=1e-9)
    assert r["recall"] == pytest.approx(exp["recall"], abs=1e-9)
    assert r["f1"] == pytest.approx(exp["F1"], abs=1e-9)
    for seq, s in exp["per_sequence"].items():
        assert r["per_sequence"][seq] == {"hits": s["correct"], "num_gt": s["n_gt"], "num_pred": s["n_pred"]}
    assert sum(c["hits"] for c in r["per_class"].values()) == r["hits"]


def test_alpha_is_strict():
    assert alpha((5, 300, 309), (5, 300, 330)) == pytest.approx(0.3)
    r = online_f1({"s": [(5, 300, 330)]}, {"s": [(5, 300, 309)]})
    assert r["hits"] == 0 and r["f1"] == 0.0


def test_many_to_one_quirk_and_edges():
    gt = {"s": [(1, 0, 10), (1, 0, 10)]}
    pr = {"s": [(1, 0, 10)]}
    assert online_f1(gt, pr, "smg")["hits"] == 2  # hits can exceed predictions
    assert online_f1(gt, pr, "strict")["hits"] == 1
    r = online_f1(gt, {})
    assert (r["precision"], r["recall"], r["f1"]) == (0.0, 0.0, 0.0)
    assert online_f1(gt, {"other": [(1, 0, 5)]})["ignored_predictions"] == 1
    with pytest.raises(InputError):
        online_f1({}, {})
    with pytest.raises(InputError):
        online_f1(gt, pr, "nope")
