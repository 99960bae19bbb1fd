"""MMA-52 (Li et al., MMAD, ICCV 2025) annotations and MA-52 (Guo et al., TCSVT 2024) list files.

MMA-52: ``anns/{train,val,test}.csv`` with header ``id,video_id,start_frame,end_frame,class,total_frames,fps``
(one row per instance; frames; fps 29 or 30 per video, written ``30.0`` in train/val and ``30`` in test) and videos
``{split}/<video_id>.mp4``. Times stay in frames inside readers; :func:`to_activitynet` is the one place that
converts frames to seconds, with each video's own fps. Chapter: notebooks/01_datasets.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mglib.data.csvio import read_rows, require_file, to_int
from mglib.errors import InputError, where
from mglib.taxonomy import MA52_ACTIONS, MA52_NAMES

HEADER = ("id", "video_id", "start_frame", "end_frame", "class", "total_frames", "fps")
SPLITS = ("train", "val", "test")
FPS_ALLOWED = (29, 30)
NUM_CLASSES = len(MA52_ACTIONS)


@dataclass
class MMAVideo:
    video_id: str
    split: str
    fps: float
    total_frames: int
    instances: np.ndarray  # (N, 3) float64 [start_frame, end_frame, class]

    @property
    def duration(self) -> float:
        return self.total_frames / self.fps


def read_csv(path, split: str) -> list[MMAVideo]:
    """One annotation CSV -> videos in order of first appearance, instances in row order."""
    path = require_file(path, f"MMA-52 annotation CSV with header {','.join(HEADER)}")
    rows = read_rows(path)
    if not rows or tuple(rows[0]) != HEADER:
        raise InputError(f"{where(path, 1)}: expected header {','.join(HEADER)}, got {','.join(rows[0]) if rows else 'an empty file'}")
    videos: dict[str, dict] = {}
    for r, cells in enumerate(rows[1:], start=2):
        if len(cells) != len(HEADER):
            raise InputError(f"{where(path, r)}: expected {len(HEADER)} values ({','.join(HEADER)}), got {len(cells)}")
        vid = cells[1]
        if not vid:
            raise InputError(f"{where(path, r, 'video_id')}: expected a video id, got an empty value")
        s, e, c, total = (to_int(path, r, HEADER[j], cells[j]) for j in (2, 3, 4, 5))
        fps = to_int(path, r, "fps", cells[6])
        if fps not in FPS_ALLOWED:
            raise InputError(f"{where(path, r, 'fps')}: expected 29 or 30, got {cells[6]}")
        if not 0 <= c < NUM_CLASSES:
            raise InputError(f"{where(path, r, 'class')}: expected an MA-52 action index 0-{NUM_CLASSES - 1}, got {c}")
        if s < 0:
            raise InputError(f"{where(path, r, 'start_frame')}: expected >= 0, got {s}")
        if e < s:
            raise InputError(f"{where(path, r, 'end_frame')}: expected end >= start ({s}), got {e}")
        if total <= 0 or e > total:
            raise InputError(f"{where(path, r, 'end_frame')}: expected end <= total_frames ({total}), got {e}")
        v = videos.setdefault(vid, {"fps": fps, "total": total, "rows": []})
        if (v["fps"], v["total"]) != (fps, total):
            raise InputError(f"{where(path, r)}: video {vid!r} has fps/total_frames {fps}/{total} here but "
                             f"{v['fps']}/{v['total']} in an earlier row")
        v["rows"].append((s, e, c))
    return [MMAVideo(vid, split, float(v["fps"]), v["total"], np.asarray(v["rows"], dtype=np.float64).reshape(-1, 3))
            for vid, v in videos.items()]


def read_root(root) -> dict[str, list[MMAVideo]]:
    """``{split: videos}`` for each ``anns/<split>.csv`` present (a missing file -> that split is absent)."""
    root = Path(root)
    if not (root / "anns").is_dir():
        raise InputError(f"{root / 'anns'}: missing folder; expected anns/{{train,val,test}}.csv")
    out = {s: read_csv(root / "anns" / f"{s}.csv", s) for s in SPLITS if (root / "anns" / f"{s}.csv").exists()}
    if not out:
        raise InputError(f"{root / 'anns'}: none of train.csv, val.csv, test.csv found")
    return out


def video_path(root, split: str, video_id: str) -> Path:
    return Path(root) / split / f"{video_id}.mp4"


def write_csv(path, videos: list[MMAVideo]) -> None:
    """Rows in video order; fps written ``30.0`` for train/val and ``30`` for test, as in the release."""
    lines = [",".join(HEADER)]
    rid = 0
    for v in videos:
        fps = f"{int(v.fps)}" if v.split == "test" else f"{float(v.fps):.1f}"
        for s, e, c in np.asarray(v.instances).reshape(-1, 3):
            lines.append(f"{rid},{v.video_id},{int(s)},{int(e)},{int(c)},{v.total_frames},{fps}")
            rid += 1
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("\n".join(lines) + "\n")


def to_activitynet(videos: list[MMAVideo]) -> dict:
    """Frames -> seconds with each video's fps (the one documented conversion). Labels stay integer indices."""
    db = {}
    for v in videos:
        db[v.video_id] = {"subset": v.split, "duration": v.total_frames / v.fps, "fps": v.fps,
                          "annotations": [{"segment": [float(s) / v.fps, float(e) / v.fps], "label": int(c)}
                                          for s, e, c in np.asarray(v.instances).reshape(-1, 3)]}
    return {"database": db}


def read_activitynet(path) -> list[MMAVideo]:
    """ActivityNet-style JSON (alternative annotation format) -> videos with frame-unit instances.

    fps comes from a video's ``fps`` field, else ``frame / duration`` (the MAC-2024 converter's ``frame`` field);
    labels may be indices or MA-52 names. Subsets ``training/validation/testing`` map to ``train/val/test``.
    """
    path = require_file(path, "ActivityNet-style JSON")
    try:
        db = json.loads(Path(path).read_text())["database"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise InputError(f"{path}: expected JSON with a 'database' object") from None
    subset_map = {"training": "train", "validation": "val", "testing": "test"}
    out = []
    for vid, v in db.items():
        loc = f"{path}, video {vid!r}"
        try:
            duration = float(v["duration"])
            fps = float(v["fps"]) if "fps" in v else float(v["frame"]) / duration
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            raise InputError(f"{loc}: expected 'duration' and 'fps' or 'frame'") from None
        rows = []
        for k, a in enumerate(v.get("annotations", [])):
            label = a.get("label")
            if isinstance(label, str) and label in MA52_NAMES:
                label = MA52_NAMES.index(label)
            if not isinstance(label, int) or not 0 <= label < NUM_CLASSES:
                raise InputError(f"{loc}, annotation {k}, field 'label': expected an MA-52 index or name, got {label!r}")
            s, e = (float(x) for x in a["segment"])
            if e < s:
                raise InputError(f"{loc}, annotation {k}, field 'segment': expected end >= start, got {[s, e]}")
            rows.append((round(s * fps), round(e * fps), label))
        out.append(MMAVideo(vid, subset_map.get(v.get("subset"), v.get("subset", "")), fps, round(duration * fps),
                            np.asarray(rows, dtype=np.float64).reshape(-1, 3)))
    return out


# ---------------------------------------------------------------------------------------------- MA-52 lists
def read_label_names(path) -> list[str]:
    """MA-52 ``label_name.txt``: ``<index>\\t<name>`` lines (CRLF, no trailing newline), file order kept."""
    path = require_file(path, "MA-52 label_name.txt")
    names = []
    for r, line in enumerate(Path(path).read_bytes().decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 2:
            raise InputError(f"{where(path, r)}: expected '<index>\\t<name>', got {line!r}")
        idx = to_int(path, r, "index", parts[0])
        if idx != len(names):
            raise InputError(f"{where(path, r, 'index')}: expected {len(names)} (indices in order), got {idx}")
        names.append(parts[1].strip())
    return names


def write_label_names(path, names: list[str]) -> None:
    Path(path).write_bytes("\r\n".join(f"{i}\t{n}" for i, n in enumerate(names)).encode())


def read_list_file(path, num_classes: int = NUM_CLASSES) -> list[tuple[str, int]]:
    """MA-52 ``{train,val,test}_list_videos.txt``: ``<file>.mp4 <action_index>`` per line."""
    path = require_file(path, "MA-52 list file '<file>.mp4 <label>'")
    out = []
    for r, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[0].endswith(".mp4"):
            raise InputError(f"{where(path, r)}: expected '<file>.mp4 <label>', got {line!r}")
        label = to_int(path, r, "label", parts[1])
        if not 0 <= label < num_classes:
            raise InputError(f"{where(path, r, 'label')}: expected 0-{num_classes - 1}, got {label}")
        out.append((parts[0], label))
    return out


def parse_ma52_name(name: str) -> tuple[int, int, int] | None:
    """``PPPP_BB_NNNN.mp4`` -> (participant, body level, counter); None for other names (e.g. test0000.mp4)."""
    parts = Path(name).stem.split("_")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        return int(parts[0]), int(parts[1]), int(parts[2])
    return None
