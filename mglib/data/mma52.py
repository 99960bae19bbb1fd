"""MMA-52 (Li et al., MMAD, ICCV 2025) annotations and MA-52 (Guo et al., TCSVT 2024) list files.

MMA-52: ``anns/{train,val,test}.csv`` with header ``id,video_id,start_frame,end_frame,class,total_frames,fps``
(one row per instance; frames; fps 29 or 30 per video, written ``30.0`` in train/val and ``30`` in test) and videos
``{split}/<video_id>.mp4``. Times stay in frames inside readers; :func:`to_activitynet` is the one place that
converts frames to seconds, with each video's own fps. Chapter: notebooks/01_datasets.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mglib.data.csvio import json_number, read_json, read_rows, read_text, require_folder, to_int
from mglib.errors import InputError, where
from mglib.taxonomy import MA52_ACTIONS, MA52_NAMES

HEADER = ("id", "video_id", "start_frame", "end_frame", "class", "total_frames", "fps")
SPLITS = ("train", "val", "test")
FPS_ALLOWED = (29, 30)
NUM_CLASSES = len(MA52_ACTIONS)
VIDEO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


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
    rows = read_rows(path, f"MMA-52 annotation CSV with header {','.join(HEADER)}")
    if not rows or tuple(rows[0][1]) != HEADER:
        got = ",".join(rows[0][1]) if rows else "an empty file"
        raise InputError(f"{where(path, rows[0][0] if rows else 1)}: expected header {','.join(HEADER)}, "
                         f"got {got[:80]}")
    videos: dict[str, dict] = {}
    for k, (r, cells) in enumerate(rows[1:]):
        if len(cells) != len(HEADER):
            raise InputError(f"{where(path, r)}: expected {len(HEADER)} values ({','.join(HEADER)}), got {len(cells)}")
        if to_int(path, r, "id", cells[0]) != k:
            raise InputError(f"{where(path, r, 'id')}: expected the running row number {k}, got {cells[0]!r}")
        vid = cells[1]
        if not VIDEO_ID.fullmatch(vid):
            raise InputError(f"{where(path, r, 'video_id')}: expected a video id of letters, digits, '_' or '-' "
                             f"(e.g. train0000), got {vid[:40]!r}")
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
    root = require_folder(root, "an MMA-52 folder holding anns/{train,val,test}.csv")
    require_folder(root / "anns", "anns/{train,val,test}.csv")
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
    doc = read_json(path, "ActivityNet-style JSON")
    db = doc.get("database") if isinstance(doc, dict) else None
    if not isinstance(db, dict):
        raise InputError(f"{path}: expected a JSON object with a 'database' object")
    subset_map = {"training": "train", "validation": "val", "testing": "test"}
    out = []
    for vid, v in db.items():
        loc = f"{path}, video {vid!r}"
        if not isinstance(v, dict):
            raise InputError(f"{loc}: expected an object with 'duration', 'fps' or 'frame', and 'annotations'")
        duration = json_number(v.get("duration"), f"{loc}, field 'duration'", "a duration in seconds > 0")
        fps = (json_number(v["fps"], f"{loc}, field 'fps'", "a frame rate > 0") if "fps" in v else
               json_number(v.get("frame"), f"{loc}, field 'frame'", "a frame count > 0 (or a field 'fps')") / duration
               if duration > 0 else 0.0)
        if duration <= 0 or fps <= 0:
            raise InputError(f"{loc}: expected a positive 'duration' and frame rate, got {duration} s, {fps} fps")
        anns = v.get("annotations", [])
        if not isinstance(anns, list):
            raise InputError(f"{loc}, field 'annotations': expected a list")
        rows = []
        for k, a in enumerate(anns):
            if not isinstance(a, dict):
                raise InputError(f"{loc}, annotation {k}: expected an object with 'segment' and 'label'")
            label = a.get("label")
            if isinstance(label, str) and label in MA52_NAMES:
                label = MA52_NAMES.index(label)
            if not isinstance(label, int) or isinstance(label, bool) or not 0 <= label < NUM_CLASSES:
                raise InputError(f"{loc}, annotation {k}, field 'label': expected an MA-52 index or name, "
                                 f"got {label!r:.60}")
            seg = a.get("segment")
            if not isinstance(seg, list) or len(seg) != 2:
                raise InputError(f"{loc}, annotation {k}, field 'segment': expected [start, end] in seconds")
            s, e = (json_number(x, f"{loc}, annotation {k}, field 'segment'") for x in seg)
            if not 0 <= s <= e:
                raise InputError(f"{loc}, annotation {k}, field 'segment': expected 0 <= start <= end, got {[s, e]}")
            rows.append((round(s * fps), round(e * fps), label))
        subset = v.get("subset", "")
        out.append(MMAVideo(vid, subset_map.get(subset, subset) if isinstance(subset, str) else "", fps,
                            round(duration * fps), np.asarray(rows, dtype=np.float64).reshape(-1, 3)))
    return out


# ---------------------------------------------------------------------------------------------- MA-52 lists
def read_label_names(path) -> list[str]:
    """MA-52 ``label_name.txt``: ``<index>\\t<name>`` lines (CRLF, no trailing newline), file order kept."""
    names = []
    for r, line in enumerate(read_text(path, "MA-52 label_name.txt").splitlines(), start=1):
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
    out = []
    for r, line in enumerate(read_text(path, "MA-52 list file '<file>.mp4 <label>'").splitlines(), start=1):
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
