"""iMiGUE (Liu et al., CVPR 2021): raw per-video folders and the PYSKL pickle of the classification track.

Raw folder ``<vid4>/``:
    <vid4>_label.csv       no header, class,start_frame,end_frame   (class 1-31 or 99; frames 0-based)
    <vid4>_light_hand.csv  no header, frame index then 35 joints x (x, y, confidence) = 106 columns

Labels become 0-based here (99 -> 32, then - 1). Frames stay 0-based indices into the skeleton rows (the official
loader adds 1 only because it addresses rows 1-based). The clip ``<vid4>_<k>`` covers rows start..end inclusive.

PYSKL pickle: ``{"split": {name: [frame_dir, ...]}, "annotations": [dict, ...]}`` or a plain list of annotations,
loaded through :func:`safe_load_pickle`, which refuses anything but plain containers, numbers, strings and numpy
arrays. Synthetic layout (written by synthetic.py)::

    <root>/imigue.pkl              split {"train", "val", "test"}; 22 joints; T variable (= the clip's length)
    <root>/rgb/<frame_dir>.mp4     RGB clip of that annotation (same frames as the keypoints)
    <root>/raw/<vid4>/...          raw folders the clips were cut from

Chapter: notebooks/01_datasets.
"""
from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mglib.data.csvio import float_matrix, int_table, require_file
from mglib.errors import InputError, where
from mglib.taxonomy import IMIGUE_CLASSES, imigue_index_to_raw, imigue_raw_to_index

# 35-joint CSV layout with the official loader's names (mirror of OpenPose for joints 2-18, see datasets.md)
JOINT_NAMES_35 = ["Nose", "ShoulderCenter", "ShoulderLeft", "ElbowLeft", "HandLeft", "ShoulderRight", "ElbowRight",
                  "HandRight", "HipCenter", "HipLeft", "KneeLeft", "AnkleLeft", "HipRight", "KneeRight",
                  "AnkleRight", "EyeLeft", "EyeRight", "EarLeft", "EarRight", "ToeLeft", "SmallToeLeft", "HeelLeft",
                  "ToeRight", "SmallToeRight", "HeelRight"] + \
                 [f"RightFinger{i}" for i in range(1, 6)] + [f"LeftFinger{i}" for i in range(1, 6)]
JOINTS22_FROM35 = [0, 1, 2, 3, 4, 5, 6, 7, 15, 16, 17, 18, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34]
JOINT_NAMES_22 = [JOINT_NAMES_35[j] for j in JOINTS22_FROM35]


def _edges_from_names(names: list[str]) -> list[tuple[int, int]]:
    """Skeleton tree built from joint names (the official openpose22 list is inconsistent; datasets.md)."""
    ix = {n: i for i, n in enumerate(names)}
    pairs = [("ShoulderCenter", "Nose"), ("ShoulderCenter", "ShoulderLeft"), ("ShoulderLeft", "ElbowLeft"),
             ("ElbowLeft", "HandLeft"), ("ShoulderCenter", "ShoulderRight"), ("ShoulderRight", "ElbowRight"),
             ("ElbowRight", "HandRight"), ("Nose", "EyeLeft"), ("EyeLeft", "EarLeft"), ("Nose", "EyeRight"),
             ("EyeRight", "EarRight"), ("ShoulderCenter", "HipCenter"), ("HipCenter", "HipLeft"),
             ("HipLeft", "KneeLeft"), ("KneeLeft", "AnkleLeft"), ("HipCenter", "HipRight"),
             ("HipRight", "KneeRight"), ("KneeRight", "AnkleRight"), ("AnkleLeft", "HeelLeft"),
             ("AnkleLeft", "ToeLeft"), ("ToeLeft", "SmallToeLeft"), ("AnkleRight", "HeelRight"),
             ("AnkleRight", "ToeRight"), ("ToeRight", "SmallToeRight")]
    # Finger groups follow the kit's visualiser: LeftFinger* on HandLeft, RightFinger* on HandRight (unverified).
    pairs += [("HandLeft", f"LeftFinger{i}") for i in range(1, 6)]
    pairs += [("HandRight", f"RightFinger{i}") for i in range(1, 6)]
    return [(ix[a], ix[b]) for a, b in pairs if a in ix and b in ix]


def _flip_from_names(names: list[str]) -> list[tuple[int, int]]:
    ix = {n: i for i, n in enumerate(names)}
    out = []
    for n, i in ix.items():
        for a, b in (("Left", "Right"),):
            if a in n and n.replace(a, b) in ix:
                out.append((i, ix[n.replace(a, b)]))
    return out


EDGES_35 = _edges_from_names(JOINT_NAMES_35)
EDGES_22 = _edges_from_names(JOINT_NAMES_22)
FLIP_PAIRS_35 = _flip_from_names(JOINT_NAMES_35)  # includes finger groups (project choice)
FLIP_PAIRS_22 = _flip_from_names(JOINT_NAMES_22)

# ---------------------------------------------------------------------------------------------- pickles
_ALLOWED = {
    ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"), ("numpy.core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("collections", "OrderedDict"),
    ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "complex"), ("builtins", "slice"),
    ("_codecs", "encode"),  # protocol-2 pickles store bytes as _codecs.encode(str, 'latin1')
}


def _resolve(module: str, name: str):
    import collections
    import codecs

    if module.startswith("numpy.core"):  # pickles from numpy 1.x name the private core module numpy.core
        module = "numpy._core" + module[len("numpy.core"):]
    if module == "numpy._core.multiarray":
        from numpy._core import multiarray as m
        return getattr(m, name)
    if module == "numpy._core.numeric":
        from numpy._core import numeric as m
        return getattr(m, name)
    if module == "numpy":
        return getattr(np, name)
    if module == "collections":
        return collections.OrderedDict
    if module == "_codecs":
        return codecs.encode
    return {"set": set, "frozenset": frozenset, "complex": complex, "slice": slice}[name]


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, f, path):
        super().__init__(f)
        self._path = path

    def find_class(self, module, name):
        if (module, name) not in _ALLOWED:
            raise InputError(f"{self._path}: pickle refers to {module}.{name}; refused (only plain containers, "
                             "numbers, strings and numpy arrays are loaded)")
        return _resolve(module, name)

    def persistent_load(self, pid):
        raise InputError(f"{self._path}: pickle uses a persistent id; refused")


def safe_load_pickle(path):
    """Load a pickle that may only build dicts/lists/tuples/sets, numbers, strings, bytes and numpy arrays.

    Every global a pickle names goes through ``find_class``; anything outside the allow-list (os.system,
    builtins.eval, arbitrary classes) raises InputError before it is called, so a malicious file runs nothing.
    """
    path = Path(path)
    data = require_file(path, "pickle").read_bytes()
    try:
        obj = _RestrictedUnpickler(io.BytesIO(data), path).load()
    except InputError:
        raise
    except Exception as e:  # truncated or corrupt stream: one line, no traceback
        raise InputError(f"{path}: not a readable pickle ({type(e).__name__}: {e})") from None
    if isinstance(obj, np.ndarray) and obj.dtype == object:
        raise InputError(f"{path}: top-level object array; expected a dict or list")
    return obj


def load_pyskl(path) -> tuple[list[dict], dict[str, list[str]]]:
    """PYSKL pickle -> (annotations, split). A plain list gives split ``{"all": [every frame_dir]}``.

    Each annotation keeps its PYSKL keys; ``keypoint`` (M, T, V, C) and ``keypoint_score`` (M, T, V) become float32.
    """
    path = Path(path)
    obj = safe_load_pickle(path)
    if isinstance(obj, dict):
        for key in ("split", "annotations"):
            if key not in obj:
                raise InputError(f"{where(path, field=key)}: missing; expected a dict with 'split' and 'annotations'")
        anns, split = obj["annotations"], obj["split"]
        if not isinstance(split, dict):
            raise InputError(f"{where(path, field='split')}: expected a dict split name -> list of frame_dir")
    elif isinstance(obj, list):
        anns, split = obj, None
    else:
        raise InputError(f"{path}: expected a dict with 'split' and 'annotations' or a list, got {type(obj).__name__}")
    if not isinstance(anns, list):
        raise InputError(f"{where(path, field='annotations')}: expected a list of dicts")
    out = [_check_annotation(path, i, a) for i, a in enumerate(anns)]
    names = [a["frame_dir"] for a in out]
    if split is None:
        return out, {"all": names}
    known = set(names)
    clean = {}
    for name, ids in split.items():
        ids = [str(x) for x in ids]
        missing = [x for x in ids if x not in known]
        if missing:
            raise InputError(f"{where(path, field=f'split[{name!r}]')}: {len(missing)} id(s) without an annotation, "
                             f"first {missing[0]!r}")
        clean[str(name)] = ids
    return out, clean


def _check_annotation(path, i: int, a) -> dict:
    loc = f"annotations[{i}]"
    if not isinstance(a, dict):
        raise InputError(f"{path}, {loc}: expected a dict, got {type(a).__name__}")
    a = dict(a)
    if "frame_dir" not in a and "filename" in a:
        a["frame_dir"] = Path(str(a["filename"])).stem
    for key in ("frame_dir", "label", "keypoint"):
        if key not in a:
            raise InputError(f"{path}, {loc}, field {key!r}: missing")
    a["frame_dir"] = str(a["frame_dir"])
    label = a["label"]
    if isinstance(label, np.ndarray) and label.size == 1:
        label = label.item()
    if isinstance(label, (bool, float)) or not isinstance(label, (int, np.integer)) \
            or not 0 <= int(label) < len(IMIGUE_CLASSES):
        raise InputError(f"{path}, {loc}, field 'label': expected an integer 0-{len(IMIGUE_CLASSES) - 1}, "
                         f"got {label!r}")
    a["label"] = int(label)
    kp = np.asarray(a["keypoint"])
    if kp.ndim != 4 or kp.shape[-1] not in (2, 3) or not np.issubdtype(kp.dtype, np.number):
        raise InputError(f"{path}, {loc}, field 'keypoint': expected a numeric array (M, T, V, 2|3), "
                         f"got shape {kp.shape}")
    a["keypoint"] = kp.astype(np.float32)
    if "keypoint_score" in a:
        sc = np.asarray(a["keypoint_score"])
        if sc.shape != kp.shape[:3]:
            raise InputError(f"{path}, {loc}, field 'keypoint_score': expected shape {kp.shape[:3]}, got {sc.shape}")
        a["keypoint_score"] = sc.astype(np.float32)
    total = a.get("total_frames", kp.shape[1])
    if int(total) != kp.shape[1]:
        raise InputError(f"{path}, {loc}, field 'total_frames': expected {kp.shape[1]} (keypoint T), got {total}")
    a["total_frames"] = int(total)
    return a


def save_pyskl(path, annotations: list[dict], split: dict[str, list[str]] | None) -> None:
    """Write a PYSKL pickle (protocol 4, plain types only, so it passes :func:`safe_load_pickle`)."""
    obj = annotations if split is None else {"split": split, "annotations": annotations}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=4)


def clip_video_path(root, frame_dir: str) -> Path:
    """RGB clip of one annotation in the synthetic layout."""
    return Path(root) / "rgb" / f"{frame_dir}.mp4"


# ---------------------------------------------------------------------------------------------- raw folders
@dataclass
class IMiGUEVideo:
    name: str  # <vid4>
    labels: np.ndarray  # (N, 3) int64 [class 0-31, start, end], 0-based inclusive skeleton rows
    skeleton: np.ndarray  # (T, 35, 3) float32 (x, y, confidence)
    frame_index: np.ndarray  # (T,) column 0 of the CSV

    def clip_ids(self) -> list[str]:
        return [f"{self.name}_{k}" for k in range(len(self.labels))]


def read_raw_labels(path) -> np.ndarray:
    rows = int_table(require_file(path, "iMiGUE label file class,start_frame,end_frame"),
                     ("class", "start_frame", "end_frame"))
    for r, (lab, s, e) in enumerate(rows, start=1):
        try:
            rows[r - 1, 0] = imigue_raw_to_index(int(lab))
        except ValueError:
            raise InputError(f"{where(path, r, 'class')}: expected a raw iMiGUE label 1-31 or 99, got {lab}") from None
        if s < 0:
            raise InputError(f"{where(path, r, 'start_frame')}: expected a frame number >= 0, got {s}")
        if e < s:
            raise InputError(f"{where(path, r, 'end_frame')}: expected end >= start ({s}), got {e}")
    return rows


def read_raw_video(folder) -> IMiGUEVideo:
    folder = Path(folder)
    name = folder.name
    labels = read_raw_labels(folder / f"{name}_label.csv")
    skel_path = require_file(folder / f"{name}_light_hand.csv", "iMiGUE skeleton file (frame + 35 joints x 3)")
    flat = float_matrix(skel_path, 1 + 35 * 3, col_name=lambda j: "frame" if j == 0 else
                        f"{JOINT_NAMES_35[(j - 1) // 3]}[{'xyc'[(j - 1) % 3]}]")
    skeleton = flat[:, 1:].reshape(len(flat), 35, 3)
    for r, (_, _, e) in enumerate(labels, start=1):
        if e >= len(skeleton):
            raise InputError(f"{where(folder / f'{name}_label.csv', r, 'end_frame')}: expected < {len(skeleton)} "
                             f"(skeleton rows), got {e}")
    return IMiGUEVideo(name, labels, skeleton, flat[:, 0].astype(np.int64))


def write_raw_video(folder, video: IMiGUEVideo) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"{imigue_index_to_raw(int(c))},{int(s)},{int(e)}\n" for c, s, e in video.labels]
    (folder / f"{video.name}_label.csv").write_text("".join(lines))
    flat = np.concatenate([video.frame_index[:, None].astype(np.float32),
                           video.skeleton.reshape(len(video.skeleton), -1)], axis=1)
    with open(folder / f"{video.name}_light_hand.csv", "w") as f:
        for i, row in enumerate(flat):
            f.write(str(int(video.frame_index[i])) + "," + ",".join(f"{v:.7g}" for v in row[1:].tolist()) + "\n")


def clip_annotation(video: IMiGUEVideo, k: int, img_shape=(720, 1280)) -> dict:
    """PYSKL annotation of clip ``k`` of a raw video: 22 joints, rows start..end inclusive, T = clip length."""
    c, s, e = (int(v) for v in video.labels[k])
    sk = video.skeleton[s:e + 1][:, JOINTS22_FROM35]  # (T, 22, 3)
    return {"frame_dir": f"{video.name}_{k}", "label": c, "total_frames": int(e - s + 1),
            "img_shape": tuple(img_shape), "original_shape": tuple(img_shape),
            "keypoint": np.ascontiguousarray(sk[None, :, :, :2], dtype=np.float32),  # (1, T, 22, 2)
            "keypoint_score": np.ascontiguousarray(sk[None, :, :, 2], dtype=np.float32)}  # (1, T, 22)
