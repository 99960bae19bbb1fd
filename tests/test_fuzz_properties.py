"""Fuzz suite, generated inputs (hypothesis): every reader accepts exactly what the format allows.

Each property pairs a reader with an independent oracle written here from the format description: a generated
input is accepted if and only if the oracle says it is valid, and then read as the oracle reads it; otherwise the
refusal is one line. The tiled detection matcher is compared with the whole-matrix computation it replaces.
"""
import csv
import io
import json
import math
import pickle
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mglib.data import imigue
from mglib.errors import InputError
from mglib.metrics import detad
from mglib.metrics.detection import greedy_match, ground_truth_table, prediction_table
from mglib.train.config import apply_overrides
from mglib.train.toy import ToyConfig
from tests.fuzzkit import run_cli

FUZZ = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
TRICKY = ["", " ", "0", "7", " 7 ", "-1", "+6", "1_0", "\u0663", "\uff17", "nan", "inf", "-inf", "1e3", "7.0", "7.5",
          '"8"', "0x1f", "99999999999999999999", "30", "29", "30.0", "29.0", "52", "51", "train0000", "a b", "x,y",
          "\u00e9", "\x00", '"', "1 0", "0.", ".5", "-0"]


def _cell(token: str) -> str:
    """What a CSV reader makes of a token: quotes removed, surrounding blanks stripped."""
    return (next(csv.reader([token]), None) or [""])[0].strip() if token.count('"') != 1 else token


def _int(token: str):
    t = _cell(token)
    return int(t.split(".")[0]) if re.fullmatch(r"-?[0-9]+(\.0*)?", t) else None


def _refused_one_line(rc, out, err):
    lines = err.splitlines()
    return rc == 2 and out == "" and len(lines) == 1 and lines[0].startswith("error: ")


# ---------------------------------------------------------------------------------------------- MMA-52 CSV
def mma52_valid(cells) -> bool:
    rid, vid, s, e, c, total, fps = cells
    ints = [_int(x) for x in (rid, s, e, c, total, fps)]
    if None in ints or any(("\x00" in x or "\n" in x) for x in cells):
        return False
    rid, s, e, c, total, fps = ints
    return (rid == 0 and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", _cell(vid)) is not None and fps in (29, 30)
            and 0 <= c <= 51 and 0 <= s <= e <= total and total > 0)


@FUZZ
@given(changes=st.lists(st.tuples(st.integers(0, 6), st.sampled_from(TRICKY)), max_size=2))
def test_mma52_csv_accepted_iff_valid(tmp_path_factory, capsys, changes):
    cells = ["0", "train0000", "23", "71", "9", "168", "30.0"]
    for j, token in changes:
        cells[j] = token
    if any(c.count('"') == 1 or "," in c and not c.startswith('"') for c in cells):
        return  # a lone quote or comma changes the row's shape: covered by the hand-written files
    root = tmp_path_factory.mktemp("mma")
    (root / "anns").mkdir()
    (root / "anns" / "train.csv").write_text("id,video_id,start_frame,end_frame,class,total_frames,fps\n"
                                             + ",".join(cells) + "\n")
    valid = mma52_valid(cells)
    event(f"valid={valid}")
    rc, out, err = run_cli(capsys, "data", "inspect", "--dataset", "mma52", root, "--json")
    if valid:
        res = json.loads(out)
        assert rc == 0 and res["num_instances"] == 1 and res["class_counts"] == {str(_int(cells[4])): 1}, err
    else:
        assert _refused_one_line(rc, out, err) and "train.csv, row 2" in err, (cells, rc, err)
    # eval reads the same file as ground truth with the same verdict
    sub = root / "sub.csv"
    sub.write_text(",video_id,t_start,t_end,class,score\n0,train0000,0.5,2.0,9,0.9\n")
    rc, out, err = run_cli(capsys, "eval", "detection", "--ground-truth", root / "anns" / "train.csv",
                           "--predictions", sub, "--json")
    assert (rc == 0) == valid and (valid or _refused_one_line(rc, out, err)), (cells, err)


# ---------------------------------------------------------------------------------------------- predictions JSON
json_values = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10**20), st.booleans(),
                        st.none(), st.text(max_size=4), st.lists(st.integers(0, 3), max_size=3),
                        st.dictionaries(st.text(max_size=2), st.integers(), max_size=1))


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


@FUZZ
@given(broken=st.sampled_from([None, "score", "start", "end", "label"]), value=json_values,
       good=st.tuples(st.floats(0, 1), st.floats(0, 10), st.floats(10, 30), st.sampled_from(["A", "B", "C"])))
def test_prediction_fields_accepted_iff_valid(tmp_path_factory, capsys, broken, value, good):
    fields = dict(zip(("score", "start", "end", "label"), good))
    if broken:  # one field at a time takes any JSON value
        fields[broken] = value
    score, start, end, label = fields.values()
    root = tmp_path_factory.mktemp("pred")
    gt = {"database": {"v1": {"subset": "s", "duration": 40.0, "annotations": [
        {"segment": [1.0, 5.0], "label": "A"}, {"segment": [10.0, 20.0], "label": "B"}]}}}
    pred = {"results": {"v1": [{"segment": [2.0, 5.0], "label": "A", "score": 0.5},
                               {"segment": [start, end], "label": label, "score": score}]}}
    (root / "gt.json").write_text(json.dumps(gt))
    (root / "pred.json").write_text(json.dumps(pred))  # NaN and Infinity are written as JSON does not allow
    valid = _number(score) and _number(start) and _number(end) and end >= start and isinstance(label, str)
    event(f"valid={valid}")
    rc, out, err = run_cli(capsys, "eval", "detection", "--ground-truth", root / "gt.json", "--predictions",
                           root / "pred.json", "--json")
    if valid:
        res = json.loads(out)
        assert rc == 0 and 0 <= res["average_mAP"] <= 1 and res["num_predictions"] == 2, err
    else:
        assert _refused_one_line(rc, out, err) and "pred.json" in err, (score, start, end, label, err)


# ---------------------------------------------------------------------------------------------- PYSKL annotations
def _array(shape, dtype, fill):
    if dtype == "U2":
        return np.full(shape, "1")
    with np.errstate(all="ignore"):
        return np.full(shape, fill).astype(dtype)


arrays = st.one_of(
    st.builds(_array, st.lists(st.integers(0, 3), min_size=2, max_size=5).map(tuple),
              st.sampled_from(["f4", "f8", "i4", "u1", "c8", "?", "U2", ">f8"]),
              st.sampled_from([0.5, 1e300, np.nan, -3.0])),
    st.builds(_array, st.tuples(st.just(1), st.integers(1, 3), st.just(22), st.sampled_from([2, 3])),
              st.sampled_from(["f4", "f8"]), st.just(0.5)))
labels = st.one_of(st.integers(-2, 40), st.floats(-1, 40), st.booleans(), st.text(max_size=2), st.none(),
                   st.integers(0, 31).map(np.int64), st.integers(0, 31).map(lambda v: np.array([v])),
                   st.lists(st.integers(0, 3), max_size=2))


def pyskl_valid(a) -> bool:
    label = a["label"]
    if isinstance(label, np.ndarray):
        label = label.reshape(()).item() if label.size == 1 and label.dtype.kind in "iu" else None
    if not isinstance(label, (int, np.integer)) or isinstance(label, bool) or not 0 <= label <= 31:
        return False
    kp, sc, total = a["keypoint"], a.get("keypoint_score"), a.get("total_frames")
    with np.errstate(all="ignore"):
        finite = lambda x: np.isfinite(x.astype(np.float32)).all()  # noqa: E731
        if not (isinstance(kp, np.ndarray) and kp.dtype.kind in "iuf" and kp.ndim == 4 and kp.shape[-1] in (2, 3)
                and min(kp.shape[:3]) >= 1 and finite(kp)):
            return False
        if sc is not None and not (isinstance(sc, np.ndarray) and sc.dtype.kind in "iuf"
                                   and sc.shape == kp.shape[:3] and finite(sc)):
            return False
    return total is None or (isinstance(total, (int, np.integer)) and not isinstance(total, bool)
                             and total == kp.shape[1])


@FUZZ
@given(broken=st.sampled_from([None, "label", "keypoint", "keypoint_score", "total_frames", "frame_dir"]),
       label=labels, keypoint=arrays, score=st.none() | arrays, total=st.none() | st.integers(0, 4) | st.floats(0, 4),
       frame_dir=st.sampled_from(["", 7, b"0001_0"]), T=st.integers(1, 3))
def test_pyskl_annotation_accepted_iff_valid(tmp_path_factory, broken, label, keypoint, score, total, frame_dir, T):
    good = {"label": 5, "keypoint": np.ones((1, T, 22, 2), np.float32), "keypoint_score": np.ones((1, T, 22)),
            "total_frames": T, "frame_dir": "0001_0"}
    if broken:  # one field at a time takes any value
        good[broken] = {"label": label, "keypoint": keypoint, "keypoint_score": score, "total_frames": total,
                        "frame_dir": frame_dir}[broken]
    label, keypoint, score, total, frame_dir = (good[k] for k in ("label", "keypoint", "keypoint_score",
                                                                  "total_frames", "frame_dir"))
    a = {"frame_dir": frame_dir, "label": label, "keypoint": keypoint}
    if score is not None:
        a["keypoint_score"] = score
    if total is not None:
        a["total_frames"] = total
    p = tmp_path_factory.mktemp("pkl") / "a.pkl"
    p.write_bytes(pickle.dumps({"split": {"train": ["0001_0"] if frame_dir == "0001_0" else []},
                                "annotations": [a]}))
    valid = isinstance(frame_dir, str) and frame_dir != "" and pyskl_valid(a)
    event(f"valid={valid}")
    try:
        anns, split = imigue.load_pyskl(p)
    except InputError as e:
        assert not valid and "\n" not in str(e) and str(p) in str(e), (a, e)
        return
    assert valid, a
    b = anns[0]
    assert type(b["label"]) is int and b["keypoint"].dtype == np.float32 and np.isfinite(b["keypoint"]).all()
    assert b["total_frames"] == b["keypoint"].shape[1] and split == {"train": ["0001_0"]}


@settings(max_examples=250, deadline=None, derandomize=True, database=None)
@given(protocol=st.integers(0, 5), edits=st.lists(st.tuples(st.sampled_from(["set", "insert", "delete", "cut"]),
                                                            st.floats(0, 1), st.integers(0, 255)), min_size=1,
                                                  max_size=4))
def test_mutated_pickles_never_crash(tmp_path_factory, protocol, edits):
    obj = {"split": {"train": ["0001_0"]}, "annotations": [
        {"frame_dir": "0001_0", "label": 3, "total_frames": 2, "img_shape": (720, 1280),
         "keypoint": np.arange(88, dtype=np.float32).reshape(1, 2, 22, 2), "keypoint_score": np.ones((1, 2, 22))}]}
    data = bytearray(pickle.dumps(obj, protocol=protocol))
    for kind, where, byte in edits:
        if not data:
            break
        i = min(int(where * len(data)), len(data) - 1)
        if kind == "set":
            data[i] = byte
        elif kind == "insert":
            data.insert(i, byte)
        elif kind == "delete" and len(data) > 1:
            del data[i]
        elif kind == "cut":
            data = data[:i]
    p = tmp_path_factory.mktemp("mut") / "m.pkl"
    p.write_bytes(bytes(data))
    try:
        anns, _ = imigue.load_pyskl(p)
    except InputError as e:
        assert "\n" not in str(e)
        event("refused")
        return
    event("read")
    assert all(a["keypoint"].dtype == np.float32 and 0 <= a["label"] <= 31 for a in anns)


# ---------------------------------------------------------------------------------------------- --set
FIELDS = ["optim.lr", "optim.momentum", "optim.seed", "optim.epochs", "optim.device", "optim.milestones",
          "optim.warmup_epochs", "optim.gamma", "optim.ema_decay", "optim.nesterov", "optim.schedule", "dim", "noise",
          "classes", "nan_at_step"]


@FUZZ
@given(key=st.sampled_from(FIELDS), value=st.sampled_from(TRICKY) | st.text(max_size=6)
       | st.floats(allow_nan=True, allow_infinity=True).map(repr) | st.integers(-2**70, 2**70).map(str))
def test_set_values_valid_or_refused_in_one_line(key, value):
    try:
        cfg = apply_overrides(ToyConfig(), [f"{key}={value}"])
    except InputError as e:
        assert "\n" not in str(e) and key.split(".")[-1] in str(e)
        event("refused")
        return
    event("accepted")
    o = cfg.optim
    assert all(math.isfinite(x) for x in (o.lr, o.momentum, o.warmup_epochs, o.gamma, o.ema_decay, cfg.noise))
    assert 0 <= o.seed < 2**63 and o.epochs >= 1 and cfg.dim >= 1 and cfg.classes >= 2 and o.lr >= 0
    assert re.fullmatch(r"auto|cpu|cuda(:[0-9]+)?", o.device) and all(m >= 0 for m in o.milestones)


# ---------------------------------------------------------------------------------------------- tiled matching
@st.composite
def problems(draw):
    """Small detection problems with many ties (coarse times and scores) in few groups."""
    n_videos, n_classes = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    seg = st.tuples(st.integers(0, 12), st.integers(0, 4)).map(lambda t: [t[0] / 2, t[0] / 2 + t[1] / 2])
    gt = {"database": {f"v{v}": {"subset": "s", "duration": 20.0, "annotations": [
        {"segment": draw(seg), "label": draw(st.integers(0, n_classes - 1))} for _ in range(draw(st.integers(1, 12)))]}
        for v in range(n_videos)}}
    pred = {"results": {f"v{v}": [{"segment": draw(seg), "label": draw(st.integers(0, n_classes)),
                                   "score": draw(st.integers(0, 4)) / 4} for _ in range(draw(st.integers(0, 25)))]
                        for v in range(n_videos + 1)}}
    return gt, pred


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(problem=problems(), budget=st.integers(1, 3000), protocol=st.sampled_from(["opentad", "activitynet"]))
def test_tiled_matching_equals_the_whole_matrix(problem, budget, protocol):
    gt, pred = problem
    try:
        g = ground_truth_table(gt, clean=None)
    except InputError:
        return  # only zero-length instances
    p = prediction_table(pred, g)
    thr = [0.1, 0.3, 0.5, 0.7, 0.9]
    whole = greedy_match(g, p, thr, protocol, max_bytes=1 << 40)
    assert np.array_equal(greedy_match(g, p, thr, protocol, max_bytes=budget), whole)
    rows = np.arange(len(p.score))
    assert np.array_equal(detad._error_types(g, p, rows, whole, thr, 0.1, max_bytes=budget),
                          detad._error_types(g, p, rows, whole, thr, 0.1, max_bytes=1 << 40))
