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

from mglib.data.csvio import float_matrix, int_table, read_rows, require_folder, to_float, to_int
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

_NAME = re.compile(r"Sample([0-9]{4})")
_PREDICTION = re.compile(r"(Sample[0-9]{4})_prediction\.csv")


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
    raise InputError(f"SMG subject {subject}: expected 1-40 (1-35 train, 36-40 test)")


def subject_of(folder) -> int:
    """Subject number of a ``SampleXXXX`` folder (one sequence per subject, 1-40)."""
    m = _NAME.fullmatch(Path(folder).name)
    if not m:
        raise InputError(f"{folder}: expected a folder named SampleXXXX (4 digits)")
    subject = int(m.group(1))
    if subject not in TRAIN_SUBJECTS and subject not in TEST_SUBJECTS:
        raise InputError(f"{folder}: subject {subject} is outside 1-40; expected Sample0001-Sample0040 "
                         "(one sequence per SMG subject)")
    return subject


def read_labels(path, num_frames: int | None = None) -> np.ndarray:
    """``label,start,end`` rows (raw 1-17) -> (N, 3) int64 [class0, start, end]."""
    rows, lines = int_table(path, ("label", "start", "end"), "SMG label file label,start,end")
    for line, (lab, s, e) in zip(lines, rows):
        if not 1 <= lab <= len(SMG_CLASSES):
            raise InputError(f"{where(path, line, 'label')}: expected a raw SMG label 1-{len(SMG_CLASSES)}, "
                             f"got {lab}")
        if s < 0:
            raise InputError(f"{where(path, line, 'start')}: expected a frame number >= 0, got {s}")
        if e < s:
            raise InputError(f"{where(path, line, 'end')}: expected end >= start ({s}), got {e}")
        if num_frames is not None and e > num_frames:
            raise InputError(f"{where(path, line, 'end')}: expected end <= numFrames ({num_frames}), got {e}")
    rows[:, 0] -= 1
    return rows


def read_sequence(folder) -> SMGSequence:
    folder = Path(folder)
    subject = subject_of(folder)
    name = folder.name
    meta_path = folder / f"{name}_data.csv"
    rows = read_rows(meta_path, "SMG metadata file numFrames,fps,maxDepth")
    if len(rows) != 1 or len(rows[0][1]) != 3:
        raise InputError(f"{meta_path}: expected one row numFrames,fps,maxDepth")
    line, cells = rows[0]
    num_frames = to_int(meta_path, line, "numFrames", cells[0])
    fps = to_float(meta_path, line, "fps", cells[1])
    max_depth = to_int(meta_path, line, "maxDepth", cells[2])
    if num_frames <= 0 or fps <= 0 or max_depth < 0:
        raise InputError(f"{where(meta_path, line)}: expected numFrames > 0, fps > 0 and maxDepth >= 0, "
                         f"got {','.join(cells)}")
    skel_path = folder / f"{name}_skeleton.csv"
    flat = float_matrix(skel_path, NUM_JOINTS * VALUES_PER_JOINT,
                        col_name=lambda j: f"{JOINT_NAMES[j // VALUES_PER_JOINT]}[{j % VALUES_PER_JOINT}]",
                        what="SMG skeleton file (25 joints x 11 values per row)")
    if len(flat) != num_frames:
        raise InputError(f"{where(meta_path, line, 'numFrames')}: expected {len(flat)} (the rows of "
                         f"{skel_path.name}), got {num_frames}")
    skeleton = flat.reshape(len(flat), NUM_JOINTS, VALUES_PER_JOINT)
    labels = read_labels(folder / f"{name}_finelabels.csv", num_frames=num_frames)
    return SMGSequence(name, subject, num_frames, fps, skeleton, labels, folder / f"{name}_color.mp4", max_depth)


def read_root(root) -> list[SMGSequence]:
    """All ``SampleXXXX/`` folders under ``root``, sorted by name."""
    return [read_sequence(f) for f in sequence_folders(root)]


def _listdir(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError as e:
        raise InputError(f"{folder}: cannot list the folder ({e.strerror or type(e).__name__})") from None


def sequence_folders(root) -> list[Path]:
    """The ``SampleXXXX/`` folders of ``root``; any other visible folder is an error, not a silent skip."""
    root = require_folder(root, "a folder of SampleXXXX/ sequences")
    folders = []
    for p in _listdir(root):
        if p.is_dir() and not p.name.startswith(".") and not _NAME.fullmatch(p.name):
            raise InputError(f"{p}: expected only sequence folders named SampleXXXX (4 digits) in {root}")
        if _NAME.fullmatch(p.name):
            folders.append(require_folder(p, "a sequence folder"))
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


def prediction_files(directory) -> dict[str, Path]:
    """{SampleXXXX: path} of the ``SampleXXXX_prediction.csv`` files in ``directory`` (or one ``SampleXXXX/`` folder
    deeper). A misnamed file, a file in another sequence's folder or two files for one sequence is an error."""
    directory = require_folder(directory, "a folder of SampleXXXX_prediction.csv files")
    found: dict[str, Path] = {}
    for p in sorted(directory.glob("*_prediction.csv")) + sorted(directory.glob("*/*_prediction.csv")):
        m = _PREDICTION.fullmatch(p.name)
        if not m:
            raise InputError(f"{p}: expected a file named SampleXXXX_prediction.csv (4 digits)")
        name = m.group(1)
        if p.parent != directory and p.parent.name != name:
            raise InputError(f"{p}: predictions of {name} in folder {p.parent.name!r}; expected {name}/{p.name} "
                             f"or {p.name} at the top")
        if name in found:
            raise InputError(f"{p}: a second prediction file for {name} (the first is {found[name]}); "
                             "expected one per sequence")
        found[name] = p
    return dict(sorted(found.items()))


def read_predictions(directory) -> dict[str, np.ndarray]:
    """{SampleXXXX: (N, 3) [class0, start, end]} from the files of :func:`prediction_files`."""
    return {name: read_labels(p) for name, p in prediction_files(directory).items()}
