"""Readers on hand-written fixtures in the real formats, their quirks, and every documented error."""
import os
import pickle

import numpy as np
import pytest

from mglib.data import imigue, mma52, smg
from mglib.errors import InputError


# ---------------------------------------------------------------------------------------------- SMG
def _smg_folder(root, num=36, labels="1,1,3\n17,4,5\n", rows=5, meta=None):
    folder = root / f"Sample{num:04d}"
    folder.mkdir(parents=True)
    row = ",".join(str(0.1 * j) for j in range(275))
    (folder / f"Sample{num:04d}_skeleton.csv").write_text("\n".join([row] * rows) + "\n")
    (folder / f"Sample{num:04d}_finelabels.csv").write_text(labels)
    (folder / f"Sample{num:04d}_data.csv").write_text(meta or f"{rows},30,4500\n")
    return folder


def test_smg_reader_fixture(tmp_path):
    _smg_folder(tmp_path, 36)
    _smg_folder(tmp_path, 3, labels="5,2,4\r\n")  # CRLF tolerated
    (tmp_path / "notes.txt").write_text("not a sequence")
    seqs = smg.read_root(tmp_path)
    assert [s.name for s in seqs] == ["Sample0003", "Sample0036"]
    s = seqs[1]
    assert s.subject == 36 and smg.split_of(s.subject) == "test" and smg.split_of(3) == "train"
    assert s.skeleton.shape == (5, 25, 11) and s.skeleton.dtype == np.float32
    assert s.skeleton[0, 1, 0] == pytest.approx(1.1)  # joint 1, value 0 = column 11
    assert s.labels.tolist() == [[0, 1, 3], [16, 4, 5]] and s.fps == 30.0 and s.num_frames == 5
    assert s.video.name == "Sample0036_color.mp4"


def test_smg_round_trip_and_predictions(tmp_path):
    rng = np.random.default_rng(0)
    seq = smg.SMGSequence("Sample0007", 7, 4, 30.0, rng.normal(size=(4, 25, 11)).astype(np.float32),
                          np.array([[2, 1, 3]]), tmp_path / "x.mp4", 4500)
    smg.write_sequence(tmp_path / "Sample0007", seq)
    back = smg.read_sequence(tmp_path / "Sample0007")
    np.testing.assert_allclose(back.skeleton, seq.skeleton, rtol=1e-5, atol=1e-6)
    assert back.labels.tolist() == [[2, 1, 3]] and back.max_depth == 4500
    assert (tmp_path / "Sample0007" / "Sample0007_finelabels.csv").read_text() == "3,1,3\n"  # raw label = 0-based + 1
    smg.write_predictions(tmp_path / "pred", "Sample0007", [[16, 5, 9]])
    assert smg.read_predictions(tmp_path / "pred")["Sample0007"].tolist() == [[16, 5, 9]]


@pytest.mark.parametrize("labels,msg", [
    ("18,1,2\n", r"Sample0036_finelabels.csv, row 1, field 'label': expected a raw SMG label 1-17, got 18"),
    ("1,1,2\n1,5,3\n", r"row 2, field 'end': expected end >= start \(5\), got 3"),
    ("1,1\n", r"row 1: expected 3 values"),
    ("1,x,2\n", r"row 1, field 'start': expected an integer, got 'x'"),
    ("1,1,99\n", r"field 'end': expected end <= numFrames"),
])
def test_smg_bad_labels(tmp_path, labels, msg):
    _smg_folder(tmp_path, labels=labels)
    with pytest.raises(InputError, match=msg):
        smg.read_root(tmp_path)


def test_smg_bad_skeleton_and_missing_files(tmp_path):
    f = _smg_folder(tmp_path)
    p = f / "Sample0036_skeleton.csv"
    lines = p.read_text().splitlines()
    p.write_text("\n".join(lines[:2] + [lines[2].rsplit(",", 1)[0]] + lines[3:]) + "\n")
    with pytest.raises(InputError, match=r"Sample0036_skeleton.csv, row 3: expected 275 values, got 274"):
        smg.read_sequence(f)
    p.write_text("\n".join(lines[:1] + [lines[1].replace("0.5", "abc", 1)] + lines[2:]) + "\n")
    with pytest.raises(InputError, match=r"row 2, field 'SpineBase\[5\]': expected a finite number, got 'abc'"):
        smg.read_sequence(f)
    os.remove(p)
    with pytest.raises(InputError, match=r"Sample0036_skeleton.csv: missing file"):
        smg.read_sequence(f)
    with pytest.raises(InputError, match="expected a folder named SampleXXXX"):
        smg.read_sequence(tmp_path / "Seq12")
    g = _smg_folder(tmp_path / "b", meta="5,thirty,4500\n")
    with pytest.raises(InputError, match=r"Sample0036_data.csv, row 1, field 'fps'"):
        smg.read_sequence(g)


# ---------------------------------------------------------------------------------------------- iMiGUE raw
def _imigue_raw(root, vid="0054", labels="3,0,2\n99,3,4\n", rows=6):
    folder = root / vid
    folder.mkdir(parents=True)
    lines = [f"{t}," + ",".join(f"{100 + j}.5" for j in range(105)) for t in range(rows)]
    (folder / f"{vid}_light_hand.csv").write_text("\n".join(lines) + "\n")
    (folder / f"{vid}_label.csv").write_text(labels)
    return folder


def test_imigue_raw_fixture_and_clip(tmp_path):
    v = imigue.read_raw_video(_imigue_raw(tmp_path))
    assert v.labels.tolist() == [[2, 0, 2], [31, 3, 4]]  # 3 -> C3 = index 2; 99 -> C32 = index 31
    assert v.skeleton.shape == (6, 35, 3) and v.skeleton[0, 0].tolist() == [100.5, 101.5, 102.5]
    assert v.frame_index.tolist() == list(range(6)) and v.clip_ids() == ["0054_0", "0054_1"]
    a = imigue.clip_annotation(v, 1)
    assert a["frame_dir"] == "0054_1" and a["label"] == 31 and a["total_frames"] == 2
    assert a["keypoint"].shape == (1, 2, 22, 2) and a["keypoint_score"].shape == (1, 2, 22)
    # joint 8 of the subset is EyeLeft = joint 15 of the 35-layout: x column 1 + 15 * 3
    assert a["keypoint"][0, 0, 8, 0] == pytest.approx(100.5 + 45)
    imigue.write_raw_video(tmp_path / "copy" / "0054", v)
    w = imigue.read_raw_video(tmp_path / "copy" / "0054")
    np.testing.assert_allclose(w.skeleton, v.skeleton) and np.testing.assert_array_equal(w.labels, v.labels)
    assert (tmp_path / "copy" / "0054" / "0054_label.csv").read_text() == "3,0,2\n99,3,4\n"


@pytest.mark.parametrize("labels,msg", [
    ("32,0,1\n", r"0054_label.csv, row 1, field 'class': expected a raw iMiGUE label 1-31 or 99, got 32"),
    ("0,0,1\n", r"got 0"),
    ("3,4,2\n", r"row 1, field 'end_frame': expected end >= start \(4\), got 2"),
    ("3,0,9\n", r"field 'end_frame': expected < 6 \(skeleton rows\), got 9"),
    ("3;0;1\n", r"row 1: expected 3 values"),
])
def test_imigue_raw_errors(tmp_path, labels, msg):
    with pytest.raises(InputError, match=msg):
        imigue.read_raw_video(_imigue_raw(tmp_path, labels=labels))


def test_imigue_joint_layouts():
    assert imigue.JOINT_NAMES_22[8:12] == ["EyeLeft", "EyeRight", "EarLeft", "EarRight"]
    e = set(map(frozenset, imigue.EDGES_22))
    # the visualiser's tree, in new indices
    want = [(1, 0), (1, 2), (2, 3), (3, 4), (1, 5), (5, 6), (6, 7), (0, 8), (8, 10), (0, 9), (9, 11)]
    want += [(4, 17 + i) for i in range(5)] + [(7, 12 + i) for i in range(5)]
    assert e == set(map(frozenset, want))
    flips = dict(imigue.FLIP_PAIRS_22)
    assert flips[2] == 5 and flips[4] == 7 and flips[8] == 9 and flips[17] == 12
    assert len(imigue.FLIP_PAIRS_22) == 3 + 2 + 5  # arm, eye/ear, finger pairs


# ---------------------------------------------------------------------------------------------- PYSKL pickles
def _ann(name, label, T=4):
    return {"frame_dir": name, "label": label, "total_frames": T, "img_shape": (1080, 1920),
            "original_shape": (1080, 1920), "keypoint": np.ones((1, T, 22, 2), np.float64),
            "keypoint_score": np.ones((1, T, 22), np.float32)}


def test_pyskl_dict_and_list(tmp_path):
    p = tmp_path / "imigue_train.pkl"
    with open(p, "wb") as f:
        pickle.dump({"split": {"train": ["0187_0"], "val": ["0187_1"]},
                     "annotations": [_ann("0187_0", 31), _ann("0187_1", np.int64(4))]}, f, protocol=2)
    anns, split = imigue.load_pyskl(p)
    assert split == {"train": ["0187_0"], "val": ["0187_1"]}
    assert anns[0]["keypoint"].dtype == np.float32 and anns[1]["label"] == 4 and type(anns[1]["label"]) is int
    q = tmp_path / "list.pkl"
    imigue.save_pyskl(q, [_ann("a_0", 1)], None)
    anns, split = imigue.load_pyskl(q)
    assert split == {"all": ["a_0"]} and anns[0]["total_frames"] == 4


@pytest.mark.parametrize("obj,msg", [
    ([_ann("a", 32)], r"annotations\[0\], field 'label': expected an integer 0-31, got 32"),
    ([{"frame_dir": "a", "label": 1}], r"annotations\[0\], field 'keypoint': missing"),
    ([dict(_ann("a", 1), total_frames=90)], r"field 'total_frames': expected 4"),
    ({"split": {"train": ["zz"]}, "annotations": [_ann("a", 1)]}, r"split\['train'\]'.*id 'zz' has no annotation"),
    ({"annotations": []}, r"field 'split': missing"),
    ("text", r"expected a dict with 'split' and 'annotations' or a list"),
])
def test_pyskl_errors(tmp_path, obj, msg):
    p = tmp_path / "bad.pkl"
    p.write_bytes(pickle.dumps(obj))
    with pytest.raises(InputError, match=msg):
        imigue.load_pyskl(p)


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {_Evil.marker}",))


class _Evil2:
    def __reduce__(self):
        return (eval, (f"open({str(_Evil.marker)!r}, 'w')",))


def test_malicious_pickle_runs_nothing(tmp_path):
    _Evil.marker = tmp_path / "pwned"
    for i, evil in enumerate((_Evil(), _Evil2(), [_ann("a", 1), {"x": _Evil()}])):
        p = tmp_path / f"evil{i}.pkl"
        p.write_bytes(pickle.dumps(evil))
        with pytest.raises(InputError, match="refused"):
            imigue.safe_load_pickle(p)
        assert not _Evil.marker.exists()
    p = tmp_path / "trunc.pkl"
    p.write_bytes(pickle.dumps([_ann("a", 1)])[:50])
    with pytest.raises(InputError, match="trunc.pkl: not a readable pickle"):
        imigue.safe_load_pickle(p)


# ---------------------------------------------------------------------------------------------- MMA-52
GOOD_TRAIN = ("id,video_id,start_frame,end_frame,class,total_frames,fps\n"
              "0,train0000,23,71,9,168,30.0\n1,train0000,0,168,8,168,30.0\n2,train0001,5,20,51,200,29.0\n")


def test_mma52_reader_fixture(tmp_path):
    (tmp_path / "anns").mkdir()
    (tmp_path / "anns" / "train.csv").write_text(GOOD_TRAIN)
    (tmp_path / "anns" / "test.csv").write_text(
        "id,video_id,start_frame,end_frame,class,total_frames,fps\r\n0,test0000,0,20,0,300,30\r\n")
    data = mma52.read_root(tmp_path)
    assert set(data) == {"train", "test"}  # missing val.csv -> split absent
    v0, v1 = data["train"]
    assert (v0.video_id, v0.fps, v0.total_frames) == ("train0000", 30.0, 168)
    assert v0.instances.dtype == np.float64 and v0.instances.tolist() == [[23, 71, 9], [0, 168, 8]]
    assert v1.fps == 29.0 and data["test"][0].fps == 30.0
    an = mma52.to_activitynet(data["train"])["database"]
    assert an["train0001"]["duration"] == pytest.approx(200 / 29)
    assert an["train0001"]["annotations"][0] == {"segment": [5 / 29, 20 / 29], "label": 51}
    assert an["train0000"]["annotations"][0]["segment"] == pytest.approx([23 / 30, 71 / 30])
    assert mma52.video_path(tmp_path, "train", "train0000") == tmp_path / "train" / "train0000.mp4"


def test_mma52_round_trip_and_activitynet(tmp_path):
    (tmp_path / "in.csv").write_text(GOOD_TRAIN)
    vids = mma52.read_csv(tmp_path / "in.csv", "train")
    mma52.write_csv(tmp_path / "out.csv", vids)
    assert (tmp_path / "out.csv").read_text() == GOOD_TRAIN
    for v in vids:
        v.split = "test"
    mma52.write_csv(tmp_path / "test.csv", vids)
    assert ",168,30\n" in (tmp_path / "test.csv").read_text()  # test split writes fps without '.0'
    import json
    (tmp_path / "an.json").write_text(json.dumps(mma52.to_activitynet(vids)))
    back = mma52.read_activitynet(tmp_path / "an.json")
    assert [b.instances.tolist() for b in back] == [v.instances.tolist() for v in vids]
    assert [b.fps for b in back] == [30.0, 29.0]


@pytest.mark.parametrize("row,msg", [
    ("0,train0000,5,20,52,100,30.0", r"row 2, field 'class': expected an MA-52 action index 0-51, got 52"),
    ("0,train0000,5,20,1,100,25.0", r"row 2, field 'fps': expected 29 or 30, got 25.0"),
    ("0,train0000,20,5,1,100,30.0", r"row 2, field 'end_frame': expected end >= start \(20\), got 5"),
    ("0,train0000,5,120,1,100,30.0", r"field 'end_frame': expected end <= total_frames \(100\), got 120"),
    ("0,train0000,5,2x,1,100,30.0", r"field 'end_frame': expected an integer, got '2x'"),
    ("0,train0000,5,20,1", r"row 2: expected 7 values"),
    ("0,train0000,5,20,1,100,30.0\n1,train0000,5,20,1,100,29.0", r"row 3: video 'train0000' has fps/total_frames"),
])
def test_mma52_errors(tmp_path, row, msg):
    p = tmp_path / "val.csv"
    p.write_text("id,video_id,start_frame,end_frame,class,total_frames,fps\n" + row + "\n")
    with pytest.raises(InputError, match=msg):
        mma52.read_csv(p, "val")
    p.write_text("video,start\n")
    with pytest.raises(InputError, match=r"val.csv, row 1: expected header"):
        mma52.read_csv(p, "val")
    with pytest.raises(InputError, match=r"anns: missing folder"):
        mma52.read_root(tmp_path)


def test_ma52_label_names_and_lists(tmp_path):
    from mglib.taxonomy import MA52_NAMES
    p = tmp_path / "label_name.txt"
    mma52.write_label_names(p, MA52_NAMES)
    raw = p.read_bytes()
    assert raw.count(b"\r\n") == 51 and not raw.endswith(b"\n") and raw.startswith(b"0\tshaking body\r\n")
    assert mma52.read_label_names(p) == MA52_NAMES
    assert mma52.read_label_names(p)[3:5] == ["turning around", "rising up"]
    p.write_bytes(b"0\tshaking body\r\n2\tshrugging")
    with pytest.raises(InputError, match=r"row 2, field 'index': expected 1"):
        mma52.read_label_names(p)
    q = tmp_path / "train_list_videos.txt"
    q.write_text("0001_01_0003.mp4 9\n0002_06_0001.mp4 51\n")
    assert mma52.read_list_file(q) == [("0001_01_0003.mp4", 9), ("0002_06_0001.mp4", 51)]
    assert mma52.parse_ma52_name("0001_01_0003.mp4") == (1, 1, 3) and mma52.parse_ma52_name("test0000.mp4") is None
    q.write_text("0001_01_0003.mp4 52\n")
    with pytest.raises(InputError, match=r"row 1, field 'label': expected 0-51, got 52"):
        mma52.read_list_file(q)
