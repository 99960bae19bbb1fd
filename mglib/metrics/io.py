"""Readers and writers for the prediction / ground-truth formats of ``python -m mglib eval`` (cli.md).

Detection: ActivityNet-style JSON, MMA-52 annotation CSV (``id,video_id,start_frame,end_frame,class,total_frames,fps``,
frames converted to seconds with each row's fps) and the MAC-2024 submission CSV (``,video_id,t_start,t_end,class,
score``, seconds). Readers return the ActivityNet dict layouts; dicts read from the MMA-52 CSVs carry
``"label_space": "ma52"`` so that a class index outside 0-51 anywhere is an input error.
Online: SMG ``SampleXXXX/SampleXXXX_finelabels.csv`` and ``SampleXXXX_prediction.csv`` (``label,start,end``).
Every bad row is a one-line :class:`mglib.errors.InputError` naming the file, the row (line number) and the field;
the CSV and SMG files go through the same readers as ``data inspect`` (:mod:`mglib.data`). Dicts read from a file
carry its path under ``"_path"``, so that errors found later in their contents name the file.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

from mglib.data import mma52, smg
from mglib.data.csvio import read_json, read_rows, to_float, to_int
from mglib.errors import InputError, where
from mglib.metrics.levels import NUM_ACTIONS

SUBMISSION_COLUMNS = ("video_id", "t_start", "t_end", "class", "score")


def _read_json(path: Path, key: str) -> dict:
    doc = read_json(path, f"JSON object with a {key!r} mapping")
    if not isinstance(doc, dict) or not isinstance(doc.get(key), dict):
        raise InputError(f"{path}: expected a JSON object with a {key!r} mapping")
    doc["_path"] = str(path)  # errors found later in the contents name the file
    return doc


def _class(value: str, path, line, field="class") -> int:
    c = to_int(path, line, field, value)
    if not 0 <= c < NUM_ACTIONS:
        raise InputError(f"{where(path, line, field)}: class {c} is outside the MA-52 indices 0-{NUM_ACTIONS - 1}")
    return c


def read_mma52_csv(path) -> dict:
    """MMA-52 ``anns/<split>.csv`` -> ActivityNet ground truth (seconds); the subset is the file stem.

    Read by the same reader as ``data inspect`` (:func:`mglib.data.mma52.read_csv`), so both accept the same files."""
    path = Path(path)
    doc = mma52.to_activitynet(mma52.read_csv(path, path.stem))
    return {**doc, "label_space": "ma52", "_path": str(path)}


def read_submission_csv(path) -> dict:
    """MAC-2024 track-2 ``prediction.csv`` (leading pandas index column optional) -> ActivityNet results."""
    path = Path(path)
    rows = read_rows(path, "MAC-2024 submission CSV ,video_id,t_start,t_end,class,score")
    expected = ",".join(("",) + SUBMISSION_COLUMNS)
    if not rows:
        raise InputError(f"{path}: empty file; expected header {expected}")
    line, header = rows[0]
    names = ["#index" if i == 0 and h in ("", "Unnamed: 0") else h for i, h in enumerate(header)]
    missing = [c for c in SUBMISSION_COLUMNS if c not in names]
    if missing or len(set(names)) != len(names):
        raise InputError(f"{where(path, line)}: expected header {expected}, got {','.join(header)[:80]}")
    col = {c: names.index(c) for c in SUBMISSION_COLUMNS}
    results: dict = {}
    for line, row in rows[1:]:
        if len(row) != len(header):
            raise InputError(f"{where(path, line)}: expected {len(header)} fields, got {len(row)}")
        vid = row[col["video_id"]]
        if not vid:
            raise InputError(f"{where(path, line, 'video_id')}: expected a video id, got an empty value")
        s = to_float(path, line, "t_start", row[col["t_start"]])
        e = to_float(path, line, "t_end", row[col["t_end"]])
        if e < s:
            raise InputError(f"{where(path, line, 't_end')}: end {e} is before start {s}")
        results.setdefault(vid, []).append(
            {"segment": [s, e], "label": _class(row[col["class"]], path, line),
             "score": to_float(path, line, "score", row[col["score"]])})
    return {"results": results, "label_space": "ma52", "_path": str(path)}


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
def _raw(labels) -> list[tuple[int, int, int]]:
    return [(int(c) + 1, int(s), int(e)) for c, s, e in labels]


def read_smg_ground_truth(root) -> dict:
    """``root/SampleXXXX/SampleXXXX_finelabels.csv`` -> ``{"SampleXXXX": [(raw label, start, end), ...]}``.

    Folders and rows are read by :mod:`mglib.data.smg` (a folder not named SampleXXXX is an error)."""
    return {f.name: _raw(smg.read_labels(f / f"{f.name}_finelabels.csv")) for f in smg.sequence_folders(root)}


def read_smg_predictions(root) -> dict:
    """``root/SampleXXXX_prediction.csv`` (also one folder deeper) -> ``{"SampleXXXX": [(label, start, end), ...]}``."""
    return {name: _raw(smg.read_labels(p)) for name, p in smg.prediction_files(root).items()}


def write_smg_predictions(root, preds: dict) -> Path:
    """Write one ``SampleXXXX_prediction.csv`` (no header, ``label,start,end``) per sequence."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for seq, rows in preds.items():
        with open(root / f"{seq}_prediction.csv", "w", newline="") as f:
            csv.writer(f).writerows([(int(a), int(b), int(c)) for a, b, c in rows])
    return root
