"""Class lists of SMG (17), iMiGUE (32) and MA-52 / MMA-52 (52 actions in 7 body levels).

Read once from the package file ``taxonomies.json``. All indices are 0-based; raw file numbering is converted by
the readers (SMG: raw - 1; iMiGUE: 99 -> 32, then - 1; MA-52: already 0-based). Chapter: notebooks/01_datasets.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

_DOC = json.loads((Path(__file__).parent / "taxonomies.json").read_text())

SMG_CLASSES: list[str] = [c["name"] for c in _DOC["smg"]["classes"]]
SMG_NON_MG = 16  # "Illustrative hand gestures", the non-micro-gesture class

IMIGUE_CLASSES: list[str] = [c["name"] for c in _DOC["imigue"]["classes"]]
IMIGUE_CODES: list[str] = [c["code"] for c in _DOC["imigue"]["classes"]]
IMIGUE_GROUPS: list[str] = [c["group"] for c in _DOC["imigue"]["classes"]]
IMIGUE_RAW_LABELS: list[int] = [c["raw_label"] for c in _DOC["imigue"]["classes"]]  # 1..31, 99
IMIGUE_NON_MG = 31

MA52_ACTIONS: list[dict] = [dict(a) for a in _DOC["ma52"]["actions"]]  # index, code, name, body_index
MA52_BODY_LEVELS: list[str] = [b["name"] for b in _DOC["ma52"]["body_levels"]]
MA52_BODY_LETTERS: list[str] = [b["letter"] for b in _DOC["ma52"]["body_levels"]]
MA52_NAMES: list[str] = [a["name"] for a in MA52_ACTIONS]
MA52_CODES: list[str] = [a["code"] for a in MA52_ACTIONS]
ACTION_TO_BODY: np.ndarray = np.array([a["body_index"] for a in MA52_ACTIONS], dtype=np.int64)  # (52,)

NUM_CLASSES = {"smg": len(SMG_CLASSES), "imigue": len(IMIGUE_CLASSES), "mma52": len(MA52_ACTIONS)}

assert len(SMG_CLASSES) == 17 and len(IMIGUE_CLASSES) == 32 and len(MA52_ACTIONS) == 52
assert [a["index"] for a in MA52_ACTIONS] == list(range(52))


def action_to_body(labels):
    """Map MA-52 action indices (int or array of ints in 0..51) to body-level indices 0..6."""
    arr = np.asarray(labels, dtype=np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= len(ACTION_TO_BODY)):
        raise ValueError(f"action index outside 0..{len(ACTION_TO_BODY) - 1}: {arr.min()}..{arr.max()}")
    out = ACTION_TO_BODY[arr]
    return int(out) if out.ndim == 0 else out


def imigue_raw_to_index(raw: int) -> int:
    """Raw iMiGUE label (1..31 or 99) -> index 0..31; ValueError for anything else (never ``raw % 99``)."""
    if raw == 99:
        return IMIGUE_NON_MG
    if 1 <= raw <= 31:
        return raw - 1
    raise ValueError(raw)


def imigue_index_to_raw(index: int) -> int:
    return IMIGUE_RAW_LABELS[index]


def class_names(dataset: str) -> list[str]:
    return {"smg": SMG_CLASSES, "imigue": IMIGUE_CLASSES, "mma52": MA52_NAMES}[dataset]
