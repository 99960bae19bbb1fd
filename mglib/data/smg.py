"""SMG long sequences (Chen et al., IJCV 2023): ``SampleXXXX/`` folders. Chapter: notebooks/01_datasets.

    SampleXXXX_skeleton.csv    no header, 25 Kinect-v2 joints x 11 values per row (one row per frame)
    SampleXXXX_finelabels.csv  no header, label,start,end   (raw labels 1-17; frames as in the file)
    SampleXXXX_data.csv        numFrames,fps,maxDepth
    SampleXXXX_color.mp4       RGB video

Labels become 0-based here (raw - 1); frame numbers are kept as written (they address skeleton rows 1-based).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mglib.data.csvio import float_matrix, int_table, read_rows, require_file, to_float, to_int
from mglib.errors import InputError, where
from mglib.taxonomy import SMG_CLASSES

NUM_JOINTS = 25
VALUES_PER_JOINT = 11  # x, y, z, quaternion (4), color-space px (2), two further values
TRAIN_SUBJECTS = range(1, 36)
TEST_SUBJECTS = range(36, 41)
# No official validation split; the project holds out whole training subjects from this range (recorded in runs).
VAL_SUBJECTS = range(31, 36)

# Kinect v2 JointType order (same as NTU RGB+D). "Left" is the subject's left.
JOINT_NAMES = ["SpineBase", "SpineMid", "Neck", "Head", "ShoulderLeft", "ElbowLeft", "WristLeft", "HandLeft",
               "ShoulderRight", "ElbowRight", "WristRight", "HandRight", "HipLeft", "KneeLeft", "AnkleLeft",
               "FootLeft", "HipRight", "KneeRight", "AnkleRight", "FootRight", "SpineShoulder", "HandTipLeft",
               "ThumbLeft", "HandTipRight", "ThumbRight"]
# ST-GCN / PYSKL 'nturgb+d' edges, 0-based (child, parent)
EDGES = [(0, 1), (1, 20), (2, 20), (3, 2), (4, 20), (5, 4), (6, 5), (7, 6), (8, 20), (9, 8), (10, 9), (11, 10),
         (12, 0), (13, 12), (14, 13), (15, 14), (16, 0), (17, 16), (18, 17), (19, 18), (21, 22), (22, 7),
         (23, 24), (24, 11)]
FLIP_PAIRS = [(4, 8), (5, 9), (6, 10), (7, 11), (12, 16), (13, 17), (14, 18), (15, 19), (21, 23), (22, 24)]

_NAME = re.compile(r"^Sample(\d{4})$")


@dataclass
class SMGSequence:
    name: str  # SampleXXXX
    subject: int  # = sequence number (one sequence per subject)
    num_frames: int
    fps: float
    skeleton: np.ndarray  # (T, 25, 11) float32
    labels: np.ndarray  # (N, 3) int64 [class 0-16, start, end] frames as in the file
    video: Path  # SampleXXXX_color.mp4 (not checked for existence: skeleton-only releases exist)
    max_depth: int = 0


def split_of(subject: int) -> str:
    if subject in TRAIN_SUBJECTS:
        return "train"
    if subject in TEST_SUBJECTS:
        return "test"
    raise ValueError(f"SMG subject {subject} outside 1-40")


def subject_of(folder) -> int:
    m = _NAME.match(Path(folder).name)
    if not m:
        raise InputError(f"{folder}: expected a folder named SampleXXXX (4 digits)")
    return int(m.group(1))


def read_labels(path, num_frames: int | None = None) -> np.ndarray:
    """``label,start,end`` rows (raw 1-17) -> (N, 3) int64 [class0, start, end]."""
    rows = int_table(require_file(path, "SMG label file label,start,end"), ("label", "start", "end"))
    for r, (lab, s, e) in enumerate(rows, start=1):
        if not 1 <= lab <= len(SMG_CLASSES):
            raise InputError(f"{where(path, r, 'label')}: expected a raw SMG label 1-{len(SMG_CLASSES)}, got {lab}")
        if s < 0:
            raise InputError(f"{where(path, r, 'start')}: expected a frame number >= 0, got {s}")
        if e < s:
            raise InputError(f"{where(path, r, 'end')}: expected end >= start ({s}), got {e}")
        if num_frames is not None and e > num_frames:
            raise InputError(f"{where(path, r, 'end')}: expected end <= numFrames ({num_frames}), got {e}")
    rows[:, 0] -= 1
    return rows


def read_sequence(folder) -> SMGSequence:
    folder = Path(folder)
    subject = subject_of(folder)
    name = folder.name
    meta_path = require_file(folder / f"{name}_data.csv", "SMG metadata file numFrames,fps,maxDepth")
    rows = read_rows(meta_path)
    if len(rows) != 1 or len(rows[0]) != 3:
        raise InputError(f"{where(meta_path, 1)}: expected one row numFrames,fps,maxDepth")
    num_frames = to_int(meta_path, 1, "numFrames", rows[0][0])
    fps = to_float(meta_path, 1, "fps", rows[0][1])
    max_depth = to_int(meta_path, 1, "maxDepth", rows[0][2])
    if num_frames <= 0 or fps <= 0:
        raise InputError(f"{where(meta_path, 1)}: expected numFrames > 0 and fps > 0, got {num_frames}, {fps}")
    skel_path = require_file(folder / f"{name}_skeleton.csv", "SMG skeleton file (25 joints x 11 values per row)")
    flat = float_matrix(skel_path, NUM_JOINTS * VALUES_PER_JOINT,
                        col_name=lambda j: f"{JOINT_NAMES[j // VALUES_PER_JOINT]}[{j % VALUES_PER_JOINT}]")
    skeleton = flat.reshape(len(flat), NUM_JOINTS, VALUES_PER_JOINT)
    labels = read_labels(folder / f"{name}_finelabels.csv", num_frames=max(num_frames, len(skeleton)))
    return SMGSequence(name, subject, num_frames, fps, skeleton, labels, folder / f"{name}_color.mp4", max_depth)


def read_root(root) -> list[SMGSequence]:
    """All ``SampleXXXX/`` folders under ``root``, sorted by name."""
    return [read_sequence(f) for f in sequence_folders(root)]


def sequence_folders(root) -> list[Path]:
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: missing folder; expected a folder of SampleXXXX/ sequences")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and _NAME.match(p.name))
    if not folders:
        raise InputError(f"{root}: no SampleXXXX/ sequence folders found")
    return folders


def read_label_table(root) -> list[tuple[str, int, np.ndarray]]:
    """(name, subject, labels) per sequence without reading skeletons (fast; used by ``data inspect``)."""
    out = []
    for folder in sequence_folders(root):
        labels = read_labels(folder / f"{folder.name}_finelabels.csv")
        out.append((folder.name, subject_of(folder), labels))
    return out


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def write_labels(path, labels: np.ndarray) -> None:
    """(N, 3) [class0, start, end] -> raw ``label,start,end`` rows (label + 1)."""
    lines = [f"{int(c) + 1},{int(s)},{int(e)}" for c, s, e in np.asarray(labels, dtype=np.int64)]
    Path(path).write_text("".join(line + "\n" for line in lines))


def write_sequence(folder, seq: SMGSequence) -> None:
    """Write the three CSV files of ``seq`` (the video is written separately, see synthetic.py)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name = folder.name
    fps = int(seq.fps) if float(seq.fps).is_integer() else seq.fps
    (folder / f"{name}_data.csv").write_text(f"{seq.num_frames},{fps},{seq.max_depth}\n")
    flat = np.asarray(seq.skeleton, dtype=np.float32).reshape(len(seq.skeleton), -1)
    with open(folder / f"{name}_skeleton.csv", "w") as f:
        for row in flat:
            f.write(",".join(map(_fmt, row.tolist())) + "\n")
    write_labels(folder / f"{name}_finelabels.csv", seq.labels)


def write_predictions(directory, name: str, rows) -> Path:
    """``<name>_prediction.csv`` with raw labels: rows are (class0, start, end) and written as class0 + 1."""
    path = Path(directory) / f"{name}_prediction.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_labels(path, np.asarray(rows, dtype=np.int64).reshape(-1, 3))
    return path


def read_predictions(directory) -> dict[str, np.ndarray]:
    """{SampleXXXX: (N, 3) [class0, start, end]} from ``SampleXXXX_prediction.csv`` files in ``directory``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"{directory}: missing folder; expected SampleXXXX_prediction.csv files")
    out = {}
    for p in sorted(directory.glob("Sample*_prediction.csv")):
        out[p.name[: -len("_prediction.csv")]] = read_labels(p)
    return out
