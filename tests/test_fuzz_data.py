"""Fuzz suite, data readers: ``data inspect`` (smg, mma52) and ``data generate`` on malformed input.

Each case is a hand-written file of fixtures/malformed/ (or a folder layout built here) and the text its one-line
error must contain; valid oddities (quotes, BOM, CRLF, blank lines) must be read correctly, not refused.
"""
import numpy as np
import pytest

from mglib.data import smg
from tests.fuzzkit import accepted, cases, check, fixture, place, refused

SKELETON_ROWS = 60


# ---------------------------------------------------------------------------------------------- MMA-52
@pytest.mark.parametrize("name,needle", cases("mma52"))
def test_mma52_inspect(tmp_path, capsys, name, needle):
    place(fixture("mma52", name), tmp_path / "anns" / "train.csv")
    res = check(capsys, ["data", "inspect", "--dataset", "mma52", tmp_path, "--json"], needle, "train.csv")
    if needle is None:  # the valid files: a quoted "train0000" is the same video, not a third one
        assert (res["num_videos"], res["num_instances"]) == (2, 3)
        assert res["class_counts"] == {"9": 1, "21": 1, "51": 1}


def test_mma52_layout_errors(tmp_path, capsys):
    refused(capsys, ["data", "inspect", "--dataset", "mma52", tmp_path / "nope"], "nope: missing folder")
    (tmp_path / "anns").write_text("x")
    refused(capsys, ["data", "inspect", "--dataset", "mma52", tmp_path], "anns: is a file; expected")
    (tmp_path / "anns").unlink()
    (tmp_path / "anns" / "train.csv").mkdir(parents=True)
    refused(capsys, ["data", "inspect", "--dataset", "mma52", tmp_path], "train.csv: is a folder; expected")


def test_unreadable_file_is_one_line(tmp_path, capsys, monkeypatch):
    place(fixture("mma52", "ok_crlf_bom.csv"), tmp_path / "anns" / "val.csv")
    real = type(tmp_path).read_bytes

    def read_bytes(self):
        if self.name == "val.csv":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(type(tmp_path), "read_bytes", read_bytes)
    refused(capsys, ["data", "inspect", "--dataset", "mma52", tmp_path], "val.csv: cannot read (Permission denied)")


# ---------------------------------------------------------------------------------------------- SMG
def _sequence(root, name="Sample0036", labels=((2, 10, 20), (4, 30, 41))):
    rng = np.random.default_rng(0)
    seq = smg.SMGSequence(name, int(name[-4:]), SKELETON_ROWS, 30.0,
                          rng.normal(size=(SKELETON_ROWS, 25, 11)).astype(np.float32),
                          np.asarray(labels, np.int64), root / name / f"{name}_color.mp4", 4500)
    smg.write_sequence(root / name, seq)
    return root / name


def test_smg_valid_layout(tmp_path, capsys):
    _sequence(tmp_path)
    _sequence(tmp_path, "Sample0003")
    (tmp_path / "meta.json").write_text("{}")  # files other than SampleXXXX are not sequences
    res = accepted(capsys, ["data", "inspect", "--dataset", "smg", tmp_path, "--json"])
    assert res["splits"] == {"train": {"videos": 1, "instances": 2}, "test": {"videos": 1, "instances": 2}}


@pytest.mark.parametrize("name,needle", cases("smg_labels"))
def test_smg_labels_inspect(tmp_path, capsys, name, needle):
    folder = _sequence(tmp_path)
    place(fixture("smg_labels", name), folder / "Sample0036_finelabels.csv")
    check(capsys, ["data", "inspect", "--dataset", "smg", tmp_path, "--json"], needle, "Sample0036_finelabels.csv")


@pytest.mark.parametrize("name,needle", cases("smg_meta"))
def test_smg_meta_inspect(tmp_path, capsys, name, needle):
    folder = _sequence(tmp_path)
    place(fixture("smg_meta", name), folder / "Sample0036_data.csv")
    check(capsys, ["data", "inspect", "--dataset", "smg", tmp_path], needle, "Sample0036_data.csv")


@pytest.mark.parametrize("folder", ["Sample001", "Sample00002", "sample0003", "SampleXYZ", "Sample 0004",
                                    "Sample\u0660\u0660\u0660\u0665"])
def test_smg_misnamed_folder_is_not_skipped(tmp_path, capsys, folder):
    _sequence(tmp_path)
    (tmp_path / folder).mkdir()
    refused(capsys, ["data", "inspect", "--dataset", "smg", tmp_path], folder, "expected only sequence folders")


@pytest.mark.parametrize("name", ["Sample0041", "Sample0000", "Sample9999"])
def test_smg_subject_outside_1_40(tmp_path, capsys, name):
    _sequence(tmp_path, name)
    refused(capsys, ["data", "inspect", "--dataset", "smg", tmp_path], name, "outside 1-40")


@pytest.mark.parametrize("case,needle", [
    ("labels missing", "Sample0036_finelabels.csv: missing file"),
    ("labels a folder", "Sample0036_finelabels.csv: is a folder"),
    ("skeleton a folder", "Sample0036_skeleton.csv: is a folder"),
    ("skeleton 274 columns", "Sample0036_skeleton.csv, row 1: expected 275 values"),
    ("skeleton nan", "Sample0036_skeleton.csv, row 2, field 'SpineBase[0]'"),
    ("skeleton beyond float32", "Sample0036_skeleton.csv, row 2, field 'SpineBase[0]'"),
    ("skeleton non-UTF-8", "Sample0036_skeleton.csv, row 3: byte 0xff is not UTF-8"),
    ("sequence a file", "Sample0001: is a file; expected a sequence folder"),
    ("root a file", "is a file; expected a folder of SampleXXXX/ sequences"),
    ("root empty", "no SampleXXXX/ sequence folders found"),
])
def test_smg_layout_errors(tmp_path, capsys, case, needle):
    root = tmp_path / "smg"
    root.mkdir()
    folder = _sequence(root)
    skel = folder / "Sample0036_skeleton.csv"
    lines = skel.read_text().splitlines(keepends=True)
    if case == "labels missing":
        (folder / "Sample0036_finelabels.csv").unlink()
    elif case == "labels a folder":
        (folder / "Sample0036_finelabels.csv").unlink()
        (folder / "Sample0036_finelabels.csv").mkdir()
    elif case == "skeleton a folder":
        skel.unlink()
        skel.mkdir()
    elif case == "skeleton 274 columns":
        skel.write_text("".join(line.rsplit(",", 1)[0] + "\n" for line in lines))
    elif case in ("skeleton nan", "skeleton beyond float32"):
        lines[1] = ("nan" if case == "skeleton nan" else "1e300") + lines[1][lines[1].index(","):]
        skel.write_text("".join(lines))
    elif case == "skeleton non-UTF-8":
        skel.write_bytes("".join(lines[:2]).encode() + b"\xff" + "".join(lines[2:]).encode())
    elif case == "sequence a file":
        (root / "Sample0001").write_text("x")
    elif case == "root a file":
        root = tmp_path / "file"
        root.write_text("x")
    elif case == "root empty":
        root = tmp_path / "empty"
        root.mkdir()
    refused(capsys, ["data", "inspect", "--dataset", "smg", root], needle)


def test_unlistable_folder_is_one_line(tmp_path, capsys, monkeypatch):
    _sequence(tmp_path)

    def iterdir(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(type(tmp_path), "iterdir", iterdir)
    refused(capsys, ["data", "inspect", "--dataset", "smg", tmp_path], "cannot list the folder (Permission denied)")


# ---------------------------------------------------------------------------------------------- generate
@pytest.mark.parametrize("seed", ["-1", str(2**63), "-9999999999999999999999"])
def test_generate_seed_out_of_range(tmp_path, capsys, seed):
    refused(capsys, ["data", "generate", "--dataset", "mma52", "--profile", "smoke", "--out", tmp_path / "g",
                     "--seed", seed], f"--seed {seed}", "expected an integer 0 <= seed")
    assert not (tmp_path / "g").exists()


@pytest.mark.parametrize("kind", ["a file", "under a file", "empty"])
def test_generate_out_not_a_folder(tmp_path, capsys, kind):
    (tmp_path / "f").write_text("x")
    out = {"a file": tmp_path / "f", "under a file": tmp_path / "f" / "sub", "empty": ""}[kind]
    refused(capsys, ["data", "generate", "--dataset", "mma52", "--profile", "smoke", "--out", out], "--out")
