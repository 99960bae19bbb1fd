"""Readers and writers for the prediction / ground-truth formats of ``python -m mglib eval`` (cli.md).

Detection: ActivityNet-style JSON, MMA-52 annotation CSV (``id,video_id,start_frame,end_frame,class,total_frames,fps``,
frames converted to seconds with each row's fps) and the MAC-2024 submission CSV (``,video_id,t_start,t_end,class,
score``, seconds). Readers return the ActivityNet dict layouts; dicts read from the MMA-52 CSVs carry
``"label_space": "ma52"`` so that a class index outside 0-51 anywhere is an input error.
Online: SMG ``SampleXXXX/SampleXXXX_finelabels.csv`` and ``SampleXXXX_prediction.csv`` (``label,start,end``).
Every bad row is a one-line :class:`mglib.errors.InputError` naming the file, the row (line number) and the field.
"""
from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

from mglib.errors import InputError, where
from mglib.metrics.levels import NUM_ACTIONS

GT_CSV_COLUMNS = ("id", "video_id", "start_frame", "end_frame", "class", "total_frames", "fps")
SUBMISSION_COLUMNS = ("video_id", "t_start", "t_end", "class", "score")
SMG_NUM_CLASSES = 17  # raw labels 1..17


def _read_json(path: Path, key: str) -> dict:
    try:
        with open(path) as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get(key), dict):
        raise InputError(f"{path}: expected a JSON object with a {key!r} mapping")
    return doc


def _rows(path: Path):
    try:
        f = open(path, newline="")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    with f:
        yield from enumerate(csv.reader(f), start=1)


def _num(value: str, path, line, field, kind=float):
    try:
        x = kind(value)
    except ValueError:
        if kind is int:  # accept "23.0"
            try:
                xf = float(value)
                if xf.is_integer():
                    return int(xf)
            except ValueError:
                pass
        raise InputError(f"{where(path, line, field)}: expected {'an integer' if kind is int else 'a number'}, "
                         f"got {value!r}") from None
    if kind is float and not math.isfinite(x):
        raise InputError(f"{where(path, line, field)}: expected a finite number, got {value!r}")
    return x


def _class(value: str, path, line, field="class") -> int:
    c = _num(value, path, line, field, int)
    if not 0 <= c < NUM_ACTIONS:
        raise InputError(f"{where(path, line, field)}: class {c} is outside the MA-52 indices 0-{NUM_ACTIONS - 1}")
    return c


def _columns(header: list[str], expected: tuple, path, allow_index: bool = False) -> dict[str, int]:
    names = [h.strip() for h in header]
    if allow_index and names and names[0] in ("", "Unnamed: 0"):
        names[0] = "#index"
    missing = [c for c in expected if c not in names]
    if missing:
        raise InputError(f"{where(path, 1)}: missing column(s) {', '.join(missing)}; expected header "
                         f"{','.join(([''] if allow_index else []) + list(expected))}")
    return {c: names.index(c) for c in expected}


def _table(path: Path, expected: tuple, allow_index: bool = False):
    """Header check of a CSV table, then its non-empty data rows as (line, row) with the row length checked."""
    rows = _rows(path)
    _, header = next(rows, (1, None))
    if header is None:
        raise InputError(f"{path}: empty file; expected header "
                         f"{','.join(([''] if allow_index else []) + list(expected))}")
    col = _columns(header, expected, path, allow_index)

    def data():
        for line, row in rows:
            if not row:
                continue
            if len(row) < len(header):
                raise InputError(f"{where(path, line)}: expected {len(header)} fields, got {len(row)}")
            yield line, row

    return col, data()


def read_mma52_csv(path) -> dict:
    """MMA-52 ``anns/<split>.csv`` -> ActivityNet ground truth (seconds); the subset is the file stem."""
    path = Path(path)
    db: dict = {}
    col, rows = _table(path, GT_CSV_COLUMNS)
    for line, row in rows:
        vid = row[col["video_id"]].strip()
        s = _num(row[col["start_frame"]], path, line, "start_frame", int)
        e = _num(row[col["end_frame"]], path, line, "end_frame", int)
        c = _class(row[col["class"]], path, line)
        total = _num(row[col["total_frames"]], path, line, "total_frames", int)
        fps = _num(row[col["fps"]], path, line, "fps")
        if fps <= 0:
            raise InputError(f"{where(path, line, 'fps')}: expected a positive frame rate, got {fps}")
        if s < 0 or e < s:
            raise InputError(f"{where(path, line, 'end_frame')}: expected 0 <= start_frame <= end_frame, got {s}, {e}")
        if not vid:
            raise InputError(f"{where(path, line, 'video_id')}: empty video id")
        v = db.setdefault(vid, {"subset": path.stem, "duration": total / fps, "annotations": []})
        v["annotations"].append({"segment": [s / fps, e / fps], "label": c})
    return {"database": db, "label_space": "ma52"}


def read_submission_csv(path) -> dict:
    """MAC-2024 track-2 ``prediction.csv`` (leading pandas index column optional) -> ActivityNet results."""
    path = Path(path)
    results: dict = {}
    col, rows = _table(path, SUBMISSION_COLUMNS, allow_index=True)
    for line, row in rows:
        s = _num(row[col["t_start"]], path, line, "t_start")
        e = _num(row[col["t_end"]], path, line, "t_end")
        if e < s:
            raise InputError(f"{where(path, line, 't_end')}: end {e} is before start {s}")
        results.setdefault(row[col["video_id"]].strip(), []).append(
            {"segment": [s, e], "label": _class(row[col["class"]], path, line),
             "score": _num(row[col["score"]], path, line, "score")})
    return {"results": results, "label_space": "ma52"}


def load_ground_truth(path) -> dict:
    """ActivityNet-style JSON or MMA-52 annotation CSV (by suffix) -> ``{"database": ...}``."""
    path = Path(path)
    return read_mma52_csv(path) if path.suffix.lower() == ".csv" else _read_json(path, "database")


def load_predictions(path) -> dict:
    """ActivityNet results JSON or MMA-52 submission CSV (by suffix) -> ``{"results": ...}``."""
    path = Path(path)
    return read_submission_csv(path) if path.suffix.lower() == ".csv" else _read_json(path, "results")


def write_predictions(path, preds: dict) -> Path:
    """Write ``{"results": ...}`` as ActivityNet JSON, or as the MAC-2024 submission CSV when ``path`` ends in .csv."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["", *SUBMISSION_COLUMNS])
            i = 0
            for vid, items in preds["results"].items():
                for p in items:
                    w.writerow([i, vid, repr(float(p["segment"][0])), repr(float(p["segment"][1])), int(p["label"]),
                                repr(float(p["score"]))])
                    i += 1
    else:
        doc = {"version": "mglib", "external_data": {}, "results": preds["results"]}
        with open(path, "w") as f:
            json.dump(doc, f)
    return path


# ---- SMG online recognition ----------------------------------------------------------------------------------------
_SAMPLE = re.compile(r"^(Sample\d{4})")


def _read_triples(path: Path, raw_range: bool) -> list[tuple[int, int, int]]:
    out = []
    for line, row in _rows(path):
        if not row or all(not x.strip() for x in row):
            continue
        if len(row) != 3:
            raise InputError(f"{where(path, line)}: expected 3 fields label,start,end, got {len(row)}")
        lab = _num(row[0], path, line, "label", int)
        s = _num(row[1], path, line, "start", int)
        e = _num(row[2], path, line, "end", int)
        if raw_range and not 1 <= lab <= SMG_NUM_CLASSES:
            raise InputError(f"{where(path, line, 'label')}: SMG raw label {lab} is outside 1-{SMG_NUM_CLASSES}")
        if e < s:
            raise InputError(f"{where(path, line, 'end')}: end {e} is before start {s}")
        out.append((lab, s, e))
    return out


def read_smg_ground_truth(root) -> dict:
    """``root/SampleXXXX/SampleXXXX_finelabels.csv`` -> ``{"SampleXXXX": [(raw label, start, end), ...]}``."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder of SampleXXXX/ sequence folders")
    files = sorted(root.glob("Sample*/Sample*_finelabels.csv"))
    if not files:
        raise InputError(f"{root}: no SampleXXXX/SampleXXXX_finelabels.csv files")
    return {f.parent.name: _read_triples(f, True) for f in files}


def read_smg_predictions(root) -> dict:
    """``root/SampleXXXX_prediction.csv`` (also one folder deeper) -> ``{"SampleXXXX": [(label, start, end), ...]}``."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder of SampleXXXX_prediction.csv files")
    out = {}
    for f in sorted(root.glob("Sample*_prediction.csv")) + sorted(root.glob("Sample*/Sample*_prediction.csv")):
        seq = _SAMPLE.match(f.name).group(1)
        out[seq] = _read_triples(f, True)
    return out


def write_smg_predictions(root, preds: dict) -> Path:
    """Write one ``SampleXXXX_prediction.csv`` (no header, ``label,start,end``) per sequence."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for seq, rows in preds.items():
        with open(root / f"{seq}_prediction.csv", "w", newline="") as f:
            csv.writer(f).writerows([(int(a), int(b), int(c)) for a, b, c in rows])
    return root
