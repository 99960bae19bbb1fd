"""Feature cache: run a frozen backbone once over a dataset, then train detection heads on the stored arrays.

An entry is keyed by sha256(hash of the backbone checkpoint file + dataset id + JSON of the extraction
parameters). Entries live in ``<root>/<key>/`` with a ``manifest.json`` recording what produced them; a different
backbone file, dataset or parameter gives a different key, so a stale entry is never reused. Every file is written
through a temp file and a rename, so a killed extraction leaves only complete arrays behind.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable

import numpy as np

from mglib import paths, records
from mglib.data.csvio import read_json
from mglib.errors import InputError


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def cache_key(backbone_ckpt: Path | None, dataset_id: str, params: dict) -> str:
    """sha256 over the backbone file's hash ("none" without a checkpoint), the dataset id and the parameters."""
    if backbone_ckpt is not None and not Path(backbone_ckpt).is_file():
        raise InputError(f"{backbone_ckpt}: backbone checkpoint not found")
    backbone = file_sha256(Path(backbone_ckpt)) if backbone_ckpt is not None else "none"
    blob = json.dumps({"backbone": backbone, "dataset": dataset_id, "params": params}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _item_file(item: str) -> str:
    # item names may hold slashes or odd characters; a readable stem plus a hash keeps files unique
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in item)[-60:]
    return f"{stem}-{hashlib.sha1(item.encode()).hexdigest()[:12]}.npy"


def _save_npy_atomic(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.save(f, array)
    os.replace(tmp, path)


def cached_features(backbone_ckpt: Path | None, dataset_id: str, params: dict, items: list[str],
                    extract: Callable[[str], np.ndarray], root: Path | None = None) -> dict[str, np.ndarray]:
    """Per-item feature arrays, computed with ``extract(item)`` only where the cache has no valid entry.

    ``params`` must hold everything that changes the features (clip length, stride, resolution ...). Returns
    ``{item: array}`` in the order of ``items``.
    """
    root = Path(root) if root is not None else paths.CACHE / "features"
    key = cache_key(backbone_ckpt, dataset_id, params)
    folder = root / key
    manifest = folder / "manifest.json"
    expected = {"key": key, "dataset": dataset_id, "params": json.loads(json.dumps(params, sort_keys=True)),
                "backbone": str(backbone_ckpt) if backbone_ckpt is not None else None}
    if manifest.exists():
        found = read_json(manifest, "feature-cache manifest")
        # a folder that does not belong to this key (or a damaged manifest): never read from it
        if not isinstance(found, dict) or found.get("key") != key:
            got = found.get("key") if isinstance(found, dict) else None
            raise InputError(f"{manifest}: records key {got!r}, expected {key!r}; delete the folder")
    else:
        folder.mkdir(parents=True, exist_ok=True)
        records.write_json_atomic(manifest, expected)
    out = {}
    for item in items:
        path = folder / _item_file(item)
        array = None
        if path.exists():
            try:
                array = np.load(path, allow_pickle=False)
            except (ValueError, OSError):
                array = None  # unreadable: recompute
        if array is None:
            array = np.asarray(extract(item))
            _save_npy_atomic(path, array)
        out[item] = array
    return out
