"""Classification report, MA-52 body level, and PointTAD frame mAP."""
import numpy as np
import pytest

from mglib.errors import InputError
from mglib.metrics import ACTION_TO_BODY, classification_report, frame_map, ma52_report
from mglib.metrics.frame_map import average_precision, dense_targets


def test_report_hand_example():
    y = np.array([0, 1, 2, 2])
    s = np.array([[.9, .1, 0], [.2, .7, .1], [.5, .1, .4], [0, .1, .9]])
    r = classification_report(y, s, 3, topk=(1, 2))
    assert r["top1"] == 0.75 and r["top2"] == 1.0
    assert r["confusion"] == [[1, 0, 0], [0, 1, 0], [1, 0, 1]]
    # per class F1: c0 P=.5 R=1 -> 2/3; c1 1; c2 P=1 R=.5 -> 2/3
    assert r["macro_f1"] == pytest.approx((2 / 3 + 1 + 2 / 3) / 3)
    assert r["micro_f1"] == r["top1"]


def test_zero_support_class_scores_zero():
    r = classification_report([0, 0], np.array([[1.0, 0, 0], [1.0, 0, 0]]), 3)
    assert r["per_class_f1"] == [1.0, 0.0, 0.0] and r["macro_f1"] == pytest.approx(1 / 3)


def test_ma52_body_from_action():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 52, 200)
    logits = rng.normal(size=(200, 52))
    logits[np.arange(200), y] += 2.0
    r = ma52_report(y, logits)
    top1 = logits.argmax(1)
    assert r["body"]["top1"] == pytest.approx((ACTION_TO_BODY[top1] == ACTION_TO_BODY[y]).mean())
    assert r["body"]["top1"] >= r["action"]["top1"]
    assert r["F1_mean"] == pytest.approx((r["body"]["macro_f1"] + r["body"]["micro_f1"] + r["action"]["macro_f1"]
                                          + r["action"]["micro_f1"]) / 4)
    assert np.bincount(ACTION_TO_BODY).tolist() == [5, 6, 13, 8, 6, 10, 4]


def test_bad_shapes():
    with pytest.raises(InputError):
        classification_report([0, 5], np.zeros((2, 3)), 3)


def test_frame_map():
    assert average_precision(np.array([.9, .8, .7, .1]), np.array([1, 0, 1, 0])) == pytest.approx((1 + 2 / 3) / 2)
    y = dense_targets([(1, 1.0, 2.0)], n_frames=100, duration=4.0, num_classes=3, interval=4)
    assert y.shape == (25, 3) and y[:, 1].sum() == 7 and y[:, 0].sum() == 0  # cells 6..12
    r = frame_map([y * 0.9 + 0.05], [y])
    assert r["per_class_AP"] == [0.0, 1.0, 0.0] and r["mAP"] == pytest.approx(1 / 3)
