"""MA-52 label spaces: action indices 0-51 and their 7 body levels (evaluation-protocols.md (b)).

Body-level scoring relabels every ground-truth instance and every prediction, keeps segments and scores, and then
runs the same metric with 7 classes (no merging, no extra NMS).
"""
from __future__ import annotations

import numpy as np

from mglib.errors import InputError
from mglib.taxonomy import ACTION_TO_BODY  # (52,) MA-52 action index -> body level

NUM_ACTIONS, NUM_BODY = 52, 7
LABEL_SPACES = {"ma52": NUM_ACTIONS, "ma52-body": NUM_BODY}


def class_index(label, num_classes: int, where: str) -> int:
    """``label`` as an int in ``0 .. num_classes-1`` (ints or digit strings), else a one-line InputError."""
    if isinstance(label, bool):
        value = None
    elif isinstance(label, (int, np.integer)):
        value = int(label)
    elif isinstance(label, float) and label.is_integer():
        value = int(label)
    elif isinstance(label, str) and label.isascii() and label.isdigit():
        value = int(label)
    else:
        value = None
    if value is None or not 0 <= value < num_classes:
        raise InputError(f"{where}: label {label!r} is not a class index 0-{num_classes - 1}")
    return value


def to_body_level(data, source: str = "input"):
    """Map MA-52 action labels (0-51) to body levels (0-6).

    ``data`` is an ActivityNet ground-truth dict (``{"database": ...}``), a results dict (``{"results": ...}``) or an
    array of action indices; a relabelled copy is returned. A label outside 0-51 is an InputError.
    """
    def relabel(item, where):
        if not isinstance(item, dict) or "label" not in item:
            return item  # malformed: left for the table readers, which name what is wrong
        return {**item, "label": int(ACTION_TO_BODY[class_index(item["label"], NUM_ACTIONS, where)])}

    if isinstance(data, dict) and isinstance(data.get("database"), dict):
        db = {}
        for vid, v in data["database"].items():
            anns = v.get("annotations") if isinstance(v, dict) else None
            db[vid] = v if not isinstance(anns, list) else {**v, "annotations": [
                relabel(a, f"{source}, video {vid!r}, annotation {i}") for i, a in enumerate(anns)]}
        return {**data, "database": db, "label_space": "ma52-body"}
    if isinstance(data, dict) and isinstance(data.get("results"), dict):
        res = {vid: [relabel(p, f"{source}, video {vid!r}, item {i}") for i, p in enumerate(items)]
               if isinstance(items, list) else items for vid, items in data["results"].items()}
        return {**data, "results": res, "label_space": "ma52-body"}
    if isinstance(data, dict):
        return data
    arr = np.asarray(data)
    if arr.size and (not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0 or arr.max() >= NUM_ACTIONS):
        raise InputError(f"{source}: action labels must be integers 0-{NUM_ACTIONS - 1}")
    return ACTION_TO_BODY[arr.astype(np.int64)]
