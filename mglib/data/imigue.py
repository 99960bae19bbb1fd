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

import collections
import io
import math
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy._core.multiarray import scalar as np_scalar

from mglib.data.csvio import float_matrix, int_table, read_bytes
from mglib.errors import InputError, short, where
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
# The unpickler is pickle's pure-Python one with every global replaced by a checked stand-in and BUILD (which numpy
# uses to set an array's or a dtype's state) intercepted. Why each rule exists:
# - numpy.ndarray(shape, dtype, buffer) called directly makes an object array whose elements are pointers read from
#   the file (a segfault); ndarray is therefore only accepted as _reconstruct's class argument;
# - a dtype's state can be set again after an array uses it, turning it into an object dtype or changing its item
#   size (a segfault on access or deallocation); a dtype may be built once, before any use, and only plain
#   numeric/string dtypes are accepted;
# - numpy.ndarray((1, 5e6, 22, 2)) or _reconstruct with a large shape allocates memory the file never held; every
#   array must take its bytes from the file, and their total is bounded by MAX_ARRAY_BYTES.
MAX_ARRAY_BYTES = 8 << 30
_DTYPE_KINDS = "biufcSU"


class _Refused(Exception):
    """A pickle construct outside what PYSKL files hold; becomes an InputError naming the file."""


def _plain_dtype(dt) -> bool:
    return isinstance(dt, np.dtype) and dt.kind in _DTYPE_KINDS and dt.fields is None and dt.subdtype is None \
        and not dt.hasobject


class _NdarrayClass:
    """Stands for numpy.ndarray in a pickle: only valid as the class argument of ``_reconstruct``."""

    def __call__(self, *args, **kwargs):
        raise _Refused("pickle calls numpy.ndarray directly; refused (arrays must be rebuilt from their bytes "
                       "with numpy's _reconstruct or _frombuffer)")


_NDARRAY = _NdarrayClass()


class _RestrictedUnpickler(pickle._Unpickler):
    """Only builds dicts, lists, tuples, sets, numbers, strings, bytes and plain numeric numpy arrays."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, f, path):
        super().__init__(f)
        self._path = path
        self._fresh = set()  # ids of the arrays and dtypes made here that BUILD may still set (once, before use)
        self._keep = []  # the objects behind those ids, kept alive so that an id is never reused
        self._array_bytes = 0
        self._globals = {
            ("numpy._core.multiarray", "_reconstruct"): self._reconstruct,
            ("numpy._core.multiarray", "scalar"): self._scalar,
            ("numpy._core.numeric", "_frombuffer"): self._frombuffer,
            ("numpy", "ndarray"): _NDARRAY, ("numpy", "dtype"): self._dtype,
            ("collections", "OrderedDict"): collections.OrderedDict,
            ("builtins", "set"): set, ("builtins", "frozenset"): frozenset, ("builtins", "complex"): complex,
            ("builtins", "slice"): slice,
            ("_codecs", "encode"): self._encode,  # protocol-2 pickles store bytes as _codecs.encode(str, 'latin1')
        }

    def find_class(self, module, name):
        if module.startswith("numpy.core"):  # pickles from numpy 1.x name the private core module numpy.core
            module = "numpy._core" + module[len("numpy.core"):]
        if (module, name) not in self._globals:
            raise _Refused(f"pickle refers to {module}.{name}; refused (only plain containers, numbers, strings and "
                           "numpy arrays are loaded)")
        return self._globals[(module, name)]

    def persistent_load(self, pid):
        raise _Refused("pickle uses a persistent id; refused")

    def _new(self, obj):
        self._keep.append(obj)
        self._fresh.add(id(obj))
        return obj

    def _use_dtype(self, dt) -> np.dtype:
        """A dtype an array or scalar is made with: from now on BUILD may not change it."""
        if not _plain_dtype(dt):
            raise _Refused(f"array dtype {dt!r} refused; expected a plain numeric or string dtype")
        self._fresh.discard(id(dt))
        return dt

    def _count(self, nbytes: int) -> None:
        self._array_bytes += nbytes
        if self._array_bytes > MAX_ARRAY_BYTES:
            raise _Refused(f"arrays hold more than {MAX_ARRAY_BYTES} bytes in total; refused")

    @staticmethod
    def _nbytes(shape, dt: np.dtype) -> int:
        if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
            raise _Refused(f"array shape {shape!r} refused; expected a tuple of integers >= 0")
        return math.prod(shape) * dt.itemsize

    def _dtype(self, obj, align=False, copy=True):
        if not isinstance(obj, str):
            raise _Refused(f"numpy.dtype({type(obj).__name__}) refused; expected a type code such as 'f4'")
        try:
            dt = np.dtype(obj, bool(align), True)  # always a copy: BUILD must never reach numpy's shared dtypes
        except (TypeError, ValueError) as e:
            raise _Refused(f"numpy.dtype({obj!r}): {e}") from None
        if not _plain_dtype(dt):
            raise _Refused(f"dtype {obj!r} refused; expected a plain numeric or string dtype")
        return self._new(dt)

    def _reconstruct(self, cls, shape, dtype):
        if cls is not _NDARRAY:
            raise _Refused("_reconstruct of a class other than numpy.ndarray refused")
        if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape) \
                or math.prod(shape) != 0:
            raise _Refused(f"_reconstruct with shape {shape!r} refused; numpy writes an empty placeholder (0,)")
        return self._new(np.empty(0, np.uint8))

    def _frombuffer(self, buf, dtype, shape, order, axis_order=None):
        dt = self._use_dtype(dtype)
        if not isinstance(buf, (bytes, bytearray)) or len(buf) != self._nbytes(shape, dt) or order not in "CF":
            raise _Refused(f"_frombuffer of {type(buf).__name__} for shape {shape!r} refused; expected the bytes "
                           "of exactly that array")
        self._count(len(buf))
        return np.frombuffer(buf, dt).reshape(shape, order=order)

    def _scalar(self, dtype, data=None):
        dt = self._use_dtype(dtype)
        if not isinstance(data, bytes) or len(data) != dt.itemsize:
            raise _Refused(f"numpy scalar of {dt} refused; expected {dt.itemsize} bytes")
        return np_scalar(dt, data)

    @staticmethod
    def _encode(text, encoding="utf-8"):
        if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
            raise _Refused("_codecs.encode refused; expected encode(str, 'latin1')")
        return text.encode("latin1")

    def load_build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        if id(inst) not in self._fresh:
            what = "dtype" if isinstance(inst, np.dtype) else type(inst).__name__
            raise _Refused(f"BUILD on a {what} that is not a new numpy array or dtype; refused")
        self._fresh.discard(id(inst))
        if isinstance(inst, np.dtype):
            scratch = np.dtype(inst.str, False, True)
            try:
                scratch.__setstate__(state)  # tried on a copy first: inst must never hold a refused state
            except (TypeError, ValueError) as e:
                raise _Refused(f"dtype state {state!r}: {e}") from None
            if not _plain_dtype(scratch):
                raise _Refused(f"dtype state giving {scratch!r} refused; expected a plain numeric or string dtype")
        elif isinstance(inst, np.ndarray):
            if not (isinstance(state, tuple) and len(state) == 5 and isinstance(state[4], bytes)):
                raise _Refused("array state refused; expected (version, shape, dtype, fortran, bytes)")
            dt = self._use_dtype(state[2])
            if len(state[4]) != self._nbytes(state[1], dt):
                raise _Refused(f"array of shape {state[1]!r} with {len(state[4])} bytes of data refused")
            self._count(len(state[4]))
        try:
            inst.__setstate__(state)
        except (TypeError, ValueError) as e:
            raise _Refused(f"{type(inst).__name__} state: {e}") from None

    dispatch[pickle.BUILD[0]] = load_build


def safe_load_pickle(path):
    """Load a pickle that may only build dicts/lists/tuples/sets, numbers, strings, bytes and numpy arrays.

    Every global a pickle names goes through ``find_class``; anything outside the allow-list (os.system,
    builtins.eval, arbitrary classes) is refused before it is called, so a malicious file runs nothing; the numpy
    constructors it may call are checked stand-ins (see the comment above), so it cannot crash the process or
    allocate memory its bytes do not hold.
    """
    path = Path(path)
    data = read_bytes(path, "pickle")
    try:
        obj = _RestrictedUnpickler(io.BytesIO(data), path).load()
    except _Refused as e:
        raise InputError(f"{path}: {e}") from None
    except RecursionError:
        raise InputError(f"{path}: pickle nested too deeply") from None
    except Exception as e:  # truncated or corrupt stream: one line, no traceback
        raise InputError(f"{path}: not a readable pickle ({type(e).__name__}: {short(str(e))})") from None
    return obj


def _is_int(x) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def load_pyskl(path) -> tuple[list[dict], dict[str, list[str]]]:
    """PYSKL pickle -> (annotations, split). A plain list gives split ``{"all": [every frame_dir]}``.

    Each annotation keeps its PYSKL keys; ``keypoint`` (M, T, V, C) and ``keypoint_score`` (M, T, V) become float32.
    ``frame_dir`` must be unique, and so must the ids inside each split.
    """
    path = Path(path)
    obj = safe_load_pickle(path)
    if isinstance(obj, dict):
        for key in ("split", "annotations"):
            if key not in obj:
                raise InputError(f"{where(path, field=key)}: missing; expected a dict with 'split' and 'annotations'")
        anns, split = obj["annotations"], obj["split"]
        if not isinstance(split, dict):
            raise InputError(f"{where(path, field='split')}: expected a dict split name -> list of frame_dir, "
                             f"got {type(split).__name__}")
    elif isinstance(obj, list):
        anns, split = obj, None
    else:
        raise InputError(f"{path}: expected a dict with 'split' and 'annotations' or a list, got {type(obj).__name__}")
    if not isinstance(anns, list):
        raise InputError(f"{where(path, field='annotations')}: expected a list of dicts, got {type(anns).__name__}")
    # Each annotation's arrays are converted (copied): an array shared by many annotations through the pickle memo
    # would multiply memory, so their total may not exceed what the file itself holds.
    budget = [path.stat().st_size]
    out, first = [], {}
    for i, a in enumerate(anns):
        a = _check_annotation(path, i, a, budget)
        if a["frame_dir"] in first:
            raise InputError(f"{path}, annotations[{i}], field 'frame_dir': {a['frame_dir']!r} repeats "
                             f"annotations[{first[a['frame_dir']]}]; expected unique clip ids")
        first[a["frame_dir"]] = i
        out.append(a)
    if split is None:
        return out, {"all": list(first)}
    clean = {}
    for name, ids in split.items():
        loc = f"{path}, field 'split[{short(name)}]'"
        if not isinstance(name, str):
            raise InputError(f"{loc}: expected a split name (a string), got {type(name).__name__}")
        if not isinstance(ids, (list, tuple)) or not all(isinstance(x, str) for x in ids):
            raise InputError(f"{loc}: expected a list of frame_dir strings")
        seen = set()
        for x in ids:
            if x not in first:
                raise InputError(f"{loc}: id {short(x)} has no annotation")
            if x in seen:
                raise InputError(f"{loc}: id {short(x)} listed twice; expected each clip once per split")
            seen.add(x)
        clean[name] = [str(x) for x in ids]
    return out, clean


def _array(path, loc: str, a: dict, key: str, ndim: int, budget: list[int]) -> np.ndarray:
    x = a[key]
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "iuf" or x.ndim != ndim:
        what = f"{x.dtype} array of shape {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
        raise InputError(f"{path}, {loc}, field {key!r}: expected a real-valued numeric array with {ndim} "
                         f"dimensions, got a {what}")
    budget[0] -= x.nbytes
    if budget[0] < 0:
        raise InputError(f"{path}, {loc}, field {key!r}: the annotations' arrays so far hold more bytes than the "
                         "file itself; an array is shared between annotations; expected one array per annotation")
    with np.errstate(over="ignore", invalid="ignore"):
        y = x.astype(np.float32)
    if not np.isfinite(y).all():
        raise InputError(f"{path}, {loc}, field {key!r}: expected finite values within float32 range")
    return y


def _check_annotation(path, i: int, a, budget: list[int]) -> dict:
    loc = f"annotations[{i}]"
    if not isinstance(a, dict):
        raise InputError(f"{path}, {loc}: expected a dict, got {type(a).__name__}")
    a = dict(a)
    if "frame_dir" not in a and isinstance(a.get("filename"), str):
        a["frame_dir"] = Path(a["filename"]).stem
    for key in ("frame_dir", "label", "keypoint"):
        if key not in a:
            raise InputError(f"{path}, {loc}, field {key!r}: missing")
    if not isinstance(a["frame_dir"], str) or not a["frame_dir"]:
        raise InputError(f"{path}, {loc}, field 'frame_dir': expected a clip id string, got {short(a['frame_dir'])}")
    a["frame_dir"] = str(a["frame_dir"])
    label = a["label"]
    if isinstance(label, np.ndarray) and label.shape in ((), (1,)):
        label = label.reshape(()).item() if label.dtype.kind in "iu" else label
    if not _is_int(label) or not 0 <= int(label) < len(IMIGUE_CLASSES):
        raise InputError(f"{path}, {loc}, field 'label': expected an integer 0-{len(IMIGUE_CLASSES) - 1}, "
                         f"got {short(label)}")
    a["label"] = int(label)
    kp = _array(path, loc, a, "keypoint", 4, budget)
    if kp.shape[-1] not in (2, 3) or min(kp.shape[:3]) < 1:
        raise InputError(f"{path}, {loc}, field 'keypoint': expected shape (M, T, V, 2|3) with M, T, V >= 1, "
                         f"got {kp.shape}")
    a["keypoint"] = kp
    if "keypoint_score" in a:
        sc = _array(path, loc, a, "keypoint_score", 3, budget)
        if sc.shape != kp.shape[:3]:
            raise InputError(f"{path}, {loc}, field 'keypoint_score': expected shape {kp.shape[:3]}, got {sc.shape}")
        a["keypoint_score"] = sc
    total = a.get("total_frames", kp.shape[1])
    if not _is_int(total) or int(total) != kp.shape[1]:
        raise InputError(f"{path}, {loc}, field 'total_frames': expected {kp.shape[1]} (keypoint T, an integer), "
                         f"got {short(total)}")
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


def read_raw_labels(path, num_frames: int | None = None) -> np.ndarray:
    """``class,start_frame,end_frame`` rows -> (N, 3) int64 [class 0-31, start, end]; with ``num_frames`` (the
    skeleton rows), ``end_frame`` must address one of them."""
    rows, lines = int_table(path, ("class", "start_frame", "end_frame"),
                            "iMiGUE label file class,start_frame,end_frame")
    for line, (lab, s, e), out in zip(lines, rows.copy(), rows):
        try:
            out[0] = imigue_raw_to_index(int(lab))
        except ValueError:
            raise InputError(f"{where(path, line, 'class')}: expected a raw iMiGUE label 1-31 or 99, got {lab}") \
                from None
        if s < 0:
            raise InputError(f"{where(path, line, 'start_frame')}: expected a frame number >= 0, got {s}")
        if e < s:
            raise InputError(f"{where(path, line, 'end_frame')}: expected end >= start ({s}), got {e}")
        if num_frames is not None and e >= num_frames:
            raise InputError(f"{where(path, line, 'end_frame')}: expected < {num_frames} (skeleton rows), got {e}")
    return rows


def read_raw_video(folder) -> IMiGUEVideo:
    folder = Path(folder)
    name = folder.name
    flat = float_matrix(folder / f"{name}_light_hand.csv", 1 + 35 * 3, col_name=lambda j: "frame" if j == 0 else
                        f"{JOINT_NAMES_35[(j - 1) // 3]}[{'xyc'[(j - 1) % 3]}]",
                        what="iMiGUE skeleton file (frame + 35 joints x 3)")
    skeleton = flat[:, 1:].reshape(len(flat), 35, 3)
    labels = read_raw_labels(folder / f"{name}_label.csv", num_frames=len(skeleton))
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
