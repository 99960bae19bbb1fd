"""Fuzz suite, iMiGUE PYSKL pickles: memory safety of the restricted unpickler and the annotation checks.

The dangerous payloads run in subprocesses (a crash must not take pytest down), the memory ones under
``ulimit -v``; the large single-class detection matching runs there too.
"""
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mglib.data import imigue
from mglib.errors import InputError
from tests.fuzzkit import accepted, refused

ROOT = Path(__file__).resolve().parents[1]
CAP_KB = 256 * 1024  # address space of the capped subprocesses (the interpreter with numpy takes about 110 MB)


class Call:
    """Pickles as ``fn(*args)``: the form of every payload below."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def ann(name="0001_0", label=3, T=4, **over):
    a = {"frame_dir": name, "label": label, "total_frames": T, "img_shape": (720, 1280),
         "original_shape": (720, 1280), "keypoint": np.ones((1, T, 22, 2), np.float32),
         "keypoint_score": np.ones((1, T, 22), np.float32)}
    a.update(over)
    return a


def write(path, obj, protocol=4) -> Path:
    path.write_bytes(obj if isinstance(obj, bytes) else pickle.dumps(obj, protocol=protocol))
    return path


def inspect(path):
    return ["data", "inspect", "--dataset", "imigue", path, "--json"]


def _subprocess(argv, cap_kb=None, timeout=120):
    cmd = [sys.executable, *map(str, argv)]
    if cap_kb:
        cmd = ["bash", "-c", f"ulimit -v {cap_kb} && exec " + " ".join(f"'{c}'" for c in cmd)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)


def assert_one_line(proc, *needles):
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), \
        (proc.returncode, proc.stderr[-2000:])
    for n in needles:
        assert n in lines[0], lines[0]


# ---------------------------------------------------------------------------------------------- memory safety
SEGFAULT = [{"frame_dir": "0001_0", "label": Call(np.ndarray, (1,), np.dtype("O"), b"\x01" * 8),
             "keypoint": np.ones((1, 4, 22, 2), np.float32)}]


def test_object_array_from_file_bytes_is_refused_not_a_segfault(tmp_path):
    p = write(tmp_path / "segv.pkl", SEGFAULT, protocol=2)
    # the payload is real: plain pickle builds an object array whose element is the pointer 0x0101... and dies
    probe = _subprocess(["-c", f"import pickle; a = pickle.load(open({str(p)!r}, 'rb')); print(a[0]['label'][0])"])
    assert probe.returncode < 0, probe  # killed by a signal
    proc = _subprocess(["-m", "mglib", *inspect(p)])
    assert_one_line(proc, "segv.pkl", "dtype 'O8' refused")


def _asm(*parts) -> bytes:
    """A protocol-3 pickle from opcodes and values (str -> BINUNICODE, bytes -> SHORT_BINBYTES, int -> BININT1)."""
    out = b"\x80\x03"
    for p in parts:
        if isinstance(p, str) and p.startswith("@"):
            out += p[1:].encode("latin1")
        elif isinstance(p, str):
            out += b"X" + len(p.encode()).to_bytes(4, "little") + p.encode()
        elif isinstance(p, bytes):
            out += b"C" + bytes([len(p)]) + p
        else:
            out += b"K" + bytes([p])
    return out + b"."


def _global(module, name):
    return f"@c{module}\n{name}\n"


# BUILD on a dtype an array already uses: numpy lets a second __setstate__ change it in place, to another item size
# (the array then reads past its bytes) or to an object dtype (its bytes become pointers): any second BUILD is refused
DTYPE_REBUILT = _asm(
    _global("numpy", "dtype"), "u8", "@\x89\x88\x87R", "@q\x00", "@0",  # d = dtype('u8'), memo 0
    _global("numpy._core.multiarray", "_reconstruct"), _global("numpy", "ndarray"), 0, "@\x85", b"b", "@\x87R",
    "@q\x01", "@(", 1, 1, "@\x85h\x00\x89", b"\x01" * 8, "@tb0",  # arr built with d, memo 1
    "@h\x00(", 3, ">", "@NNN", 255, "@\x85", 1, 0, "@tb0",  # BUILD d again, byte order changed
    "@]h\x01a")


@pytest.mark.parametrize("name,payload,needle", [
    ("ndarray_call", pickle.dumps(Call(np.ndarray, (1,), np.dtype("u1"), b"\x01")), "calls numpy.ndarray directly"),
    ("object_dtype", pickle.dumps([ann(label=np.array([3], dtype=object))], protocol=4), "dtype"),
    ("object_keypoint", pickle.dumps([ann(keypoint=np.empty((1, 2, 22, 2), dtype=object))]), "dtype"),
    ("structured_dtype", pickle.dumps([ann(keypoint_score=np.zeros((1, 4, 22), dtype=[("a", "f4")]))]), "dtype"),
    ("dtype_rebuilt_after_use", DTYPE_REBUILT, "BUILD on a dtype that is not a new numpy array or dtype"),
    ("reconstruct_large_shape", pickle.dumps(Call(__import__("numpy._core.multiarray", fromlist=["x"])._reconstruct,
                                                  np.ndarray, (1, 5_000_000, 22, 2), b"b")), "_reconstruct with shape"),
    ("reconstruct_other_class", pickle.dumps(Call(__import__("numpy._core.multiarray", fromlist=["x"])._reconstruct,
                                                  np.matrix, (0,), b"b")), "numpy.matrix; refused"),
    ("codecs_rot13", pickle.dumps(Call(__import__("_codecs").encode, "abc", "rot13")), "_codecs.encode refused"),
    ("os_system", pickle.dumps(Call(os.system, "true")), "posix.system; refused"),
    ("eval", pickle.dumps(Call(eval, "1")), "builtins.eval; refused"),
    ("persistent_id", b"\x80\x04\x95\x06\x00\x00\x00\x00\x00\x00\x00\x8c\x01x\x94Q.", "persistent id; refused"),
    ("build_on_a_set", _asm("@\x8f(", 1, "@\x90}b"), "BUILD on a set"),
    ("array_built_twice", _asm(_global("numpy._core.multiarray", "_reconstruct"), _global("numpy", "ndarray"), 0,
                               "@\x85", b"b", "@\x87R(", 1, 1, "@\x85", _global("numpy", "dtype"), "u1",
                               "@\x89\x88\x87R\x89", b"\x01", "@tb(", 1, 1, "@\x85", _global("numpy", "dtype"),
                               "u1", "@\x89\x88\x87R\x89", b"\x02", "@tb"),
     "BUILD on a ndarray that is not a new numpy array"),
    ("array_bytes_short", _asm(_global("numpy._core.multiarray", "_reconstruct"), _global("numpy", "ndarray"), 0,
                               "@\x85", b"b", "@\x87R(", 1, 100, "@\x85", _global("numpy", "dtype"), "f8",
                               "@\x89\x88\x87R\x89", b"\x01" * 8, "@tb"), "with 8 bytes of data refused"),
    ("truncated", pickle.dumps([ann()])[:60], "not a readable pickle"),
    ("empty", b"", "not a readable pickle"),
    ("random_bytes", bytes(np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8)), "pickle"),
    ("text", b"frame_dir,label\n0001_0,3\n", "not a readable pickle"),
])
def test_hostile_pickles_are_refused_in_one_line(tmp_path, capsys, name, payload, needle):
    p = write(tmp_path / f"{name}.pkl", payload)
    refused(capsys, inspect(p), f"{name}.pkl", needle)


def test_dangerous_payloads_refused_in_a_subprocess(tmp_path):
    p = write(tmp_path / "rebuilt.pkl", DTYPE_REBUILT)
    assert_one_line(_subprocess(["-m", "mglib", *inspect(p)]), "rebuilt.pkl", "BUILD on a dtype")


def test_shared_dtypes_are_never_modified(tmp_path):
    # dtype('f8', False, False) is numpy's shared float64: a BUILD to big-endian must land on a copy
    p = write(tmp_path / "endian.pkl", _asm(_global("numpy", "dtype"), "f8", "@\x89\x89\x87R(", 3, ">",
                                            "@NNN", 255, "@\x85", 1, 0, "@tb"))  # item size 255 -> refused or copy
    try:
        imigue.safe_load_pickle(p)
    except InputError:
        pass
    assert np.dtype("f8").byteorder == "=" and np.dtype("f8").itemsize == 8
    p = write(tmp_path / "be.pkl", pickle.dumps([ann(keypoint=np.ones((1, 4, 22, 2), ">f8"))], protocol=2))
    anns, _ = imigue.load_pyskl(p)
    assert anns[0]["keypoint"].dtype == np.float32 and np.dtype("f8").byteorder == "="


def amplification_payloads(folder: Path) -> dict[str, Path]:
    """The two memory bombs of the issue: a tiny file asking numpy for 1.8 GB, and one array referenced by 2,000
    annotations through the pickle memo (about 700 KB of file, over 500 MB once every annotation is converted)."""
    small = write(folder / "alloc.pkl", [{"frame_dir": "0001_0", "label": 1, "total_frames": 5_000_000,
                                          "keypoint": Call(np.ndarray, (1, 5_000_000, 22, 2), "f8")}], protocol=2)
    kp, sc = np.ones((1, 1000, 22, 2)), np.ones((1, 1000, 22))
    memo = write(folder / "memo.pkl", [{"frame_dir": f"0001_{i}", "label": 1, "keypoint": kp, "keypoint_score": sc}
                                       for i in range(2000)])
    return {"alloc": small, "memo": memo}


def test_amplification_pickles_under_ulimit(tmp_path):
    paths = amplification_payloads(tmp_path)
    assert paths["alloc"].stat().st_size < 200 and paths["memo"].stat().st_size < 1_000_000
    assert_one_line(_subprocess(["-m", "mglib", *inspect(paths["alloc"])], CAP_KB), "alloc.pkl",
                    "calls numpy.ndarray directly")
    assert_one_line(_subprocess(["-m", "mglib", *inspect(paths["memo"])], CAP_KB), "memo.pkl", "annotations[1]",
                    "shared between annotations")
    ok = write(tmp_path / "ok.pkl", [ann(f"0001_{i}", i % 32, T=100) for i in range(300)])
    proc = _subprocess(["-m", "mglib", *inspect(ok)], CAP_KB)
    assert proc.returncode == 0 and json.loads(proc.stdout)["num_videos"] == 300, proc.stderr[-2000:]


def test_large_single_class_matching_under_ulimit(tmp_path):
    # one video, one class: 10,000 ground-truth instances against 1,000 predictions. The former whole-matrix
    # matcher needed 10,000 x 1,000 x 16 bytes = 160 MB for its tIoU and index matrices, over this cap with the
    # interpreter; the tiled one stays within it (its results equal the whole matrix's: test_fuzz_properties.py).
    rng = np.random.default_rng(0)
    starts, pstarts = rng.uniform(0, 20000, 10000), rng.uniform(0, 20000, 1000)
    gt = {"database": {"v": {"subset": "val", "duration": 20100.0, "annotations": [
        {"segment": [float(s), float(s + 5 + 20 * rng.random())], "label": "A"} for s in starts]}}}
    pred = {"results": {"v": [{"segment": [float(s), float(s + 5 + 20 * rng.random())], "label": "A",
                               "score": float(rng.random())} for s in pstarts]}}
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "pred.json").write_text(json.dumps(pred))
    assert 10000 * 1000 * 16 + (110 << 20) > CAP_KB << 10
    argv = ["eval", "detection", "--ground-truth", tmp_path / "gt.json", "--predictions", tmp_path / "pred.json",
            "--json"]
    proc = _subprocess(["-m", "mglib", *argv], CAP_KB)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(proc.stdout)
    assert res["num_ground_truth"] == 10000 and 0 < res["average_mAP"] < 1


# ---------------------------------------------------------------------------------------------- structure
def deep(depth=100_000, as_label=False) -> bytes:
    """A list nested ``depth`` deep (Python's own pickler cannot write it: it recurses), alone or as a label."""
    nested = b"]" * depth + b"a" * (depth - 1)
    if not as_label:
        return b"\x80\x04" + nested + b"."
    key = lambda k: b"\x8c" + bytes([len(k)]) + k.encode()  # noqa: E731
    return (b"\x80\x04]}(" + key("frame_dir") + key("0001_0") + key("keypoint") + b"K\x01" + key("label") + nested
            + b"ua.")


@pytest.mark.parametrize("name,obj,needle", [
    ("split_int", {"split": 3, "annotations": [ann()]}, "field 'split': expected a dict"),
    ("split_values_str", {"split": {"train": "0001_0"}, "annotations": [ann()]}, "split['train']"),
    ("split_ids_int", {"split": {"train": [1]}, "annotations": [ann()]}, "split['train']"),
    ("split_name_int", {"split": {1: ["0001_0"]}, "annotations": [ann()]}, "expected a split name"),
    ("split_duplicate_id", {"split": {"train": ["0001_0", "0001_0"]}, "annotations": [ann()]}, "listed twice"),
    ("split_unknown_id", {"split": {"train": ["0002_0"]}, "annotations": [ann()]}, "'0002_0' has no annotation"),
    ("annotations_dict", {"split": {}, "annotations": {"a": 1}}, "field 'annotations': expected a list"),
    ("no_split", {"annotations": [ann()]}, "field 'split': missing"),
    ("top_int", 3, "expected a dict with 'split' and 'annotations' or a list, got int"),
    ("top_set", {1, 2}, "got set"),
    ("annotation_list", [[1, 2]], "annotations[0]: expected a dict, got list"),
    ("deep_nesting", deep(), "annotations[0]: expected a dict, got list"),
    ("deep_label", deep(as_label=True), "field 'label'"),
    ("label_list", [ann(label=[3])], "field 'label'"),
    ("label_dict", [ann(label={"c": 3})], "field 'label'"),
    ("label_str", [ann(label="3")], "field 'label'"),
    ("label_bool", [ann(label=True)], "field 'label'"),
    ("label_float", [ann(label=3.0)], "field 'label'"),
    ("label_32", [ann(label=32)], "field 'label'"),
    ("label_float_array", [ann(label=np.array([3.0]))], "field 'label'"),
    ("frame_dir_int", [ann(name=7)], "field 'frame_dir'"),
    ("frame_dir_empty", [ann(name="")], "field 'frame_dir'"),
    ("frame_dir_duplicate", [ann(), ann(label=4)], "annotations[1], field 'frame_dir': '0001_0' repeats"),
    ("keypoint_missing", [{"frame_dir": "a", "label": 1}], "field 'keypoint': missing"),
    ("keypoint_ragged", [ann(keypoint=[[[[1, 2]] * 22] * 3, [[[1, 2]] * 22] * 2])], "field 'keypoint'"),
    ("keypoint_list", [ann(keypoint=np.ones((1, 4, 22, 2)).tolist())], "field 'keypoint'"),
    ("keypoint_3d", [ann(keypoint=np.ones((4, 22, 2)))], "field 'keypoint'"),
    ("keypoint_c4", [ann(keypoint=np.ones((1, 4, 22, 4)))], "field 'keypoint'"),
    ("keypoint_t0", [ann(T=0)], "field 'keypoint': expected shape"),
    ("keypoint_m0", [ann(keypoint=np.ones((0, 4, 22, 2)), keypoint_score=np.ones((0, 4, 22)))], "M, T, V >= 1"),
    ("keypoint_bool", [ann(keypoint=np.ones((1, 4, 22, 2), bool))], "field 'keypoint'"),
    ("keypoint_complex", [ann(keypoint=np.ones((1, 4, 22, 2), complex))], "field 'keypoint'"),
    ("keypoint_1e300", [ann(keypoint=np.full((1, 4, 22, 2), 1e300))], "finite values within float32"),
    ("keypoint_nan", [ann(keypoint=np.full((1, 4, 22, 2), np.nan))], "finite values"),
    ("keypoint_strings", [ann(keypoint=np.full((1, 4, 22, 2), "1"))], "field 'keypoint'"),
    ("score_complex", [ann(keypoint_score=np.ones((1, 4, 22), complex))], "field 'keypoint_score'"),
    ("score_shape", [ann(keypoint_score=np.ones((1, 5, 22)))], "field 'keypoint_score': expected shape"),
    ("score_inf", [ann(keypoint_score=np.full((1, 4, 22), np.inf))], "field 'keypoint_score'"),
    ("total_frames_fraction", [ann(total_frames=18.7)], "field 'total_frames'"),
    ("total_frames_float", [ann(total_frames=4.0)], "field 'total_frames'"),
    ("total_frames_str", [ann(total_frames="4")], "field 'total_frames'"),
    ("total_frames_other", [ann(total_frames=90)], "field 'total_frames': expected 4"),
])
def test_malformed_structure(tmp_path, capsys, name, obj, needle):
    p = write(tmp_path / f"{name}.pkl", obj)
    refused(capsys, inspect(p), f"{name}.pkl", needle)


@pytest.mark.parametrize("protocol", range(6))
def test_valid_pickles_every_protocol(tmp_path, capsys, protocol):
    obj = {"split": {"train": ["0001_0", "0001_1"], "test": ["0002_0"], "all": ["0001_0", "0001_1", "0002_0"]},
           "annotations": [ann("0001_0", 3), ann("0001_1", np.int64(31), T=9), ann("0002_0", np.array([5]), T=1,
                                                                                   keypoint=np.ones((2, 1, 22, 3)),
                                                                                   keypoint_score=np.ones((2, 1, 22)))]}
    p = write(tmp_path / "ok.pkl", obj, protocol)
    res = accepted(capsys, inspect(p))  # the same id in two splits is legitimate (PYSKL's xsub/xview lists)
    assert res["num_videos"] == 3 and res["splits"]["all"] == {"videos": 3, "instances": 3}
    assert res["class_counts"] == {"3": 1, "5": 1, "31": 1}


def test_pickle_path_problems(tmp_path, capsys):
    refused(capsys, inspect(tmp_path / "none.pkl"), "none.pkl: missing file")
    refused(capsys, inspect(tmp_path), f"{tmp_path}: is a folder")
