"""Strict CSV parsing shared by the readers: every bad cell is reported as file, row, field and expectation."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from mglib.errors import InputError, where


def require_file(path: Path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: missing file; expected the {what}")
    return path


def read_rows(path: Path) -> list[list[str]]:
    """Non-empty lines split on commas (surrounding whitespace and CR stripped)."""
    with open(path, newline="") as f:
        text = f.read()
    return [[c.strip() for c in line.split(",")] for line in text.splitlines() if line.strip()]


def to_int(path, row: int, field: str, value: str) -> int:
    """An integer cell; ``30.0`` is accepted as 30 (files written by pandas), ``30.5`` is not."""
    try:
        return int(value)
    except ValueError:
        try:
            f = float(value)
        except ValueError:
            f = None
        if f is not None and np.isfinite(f) and f == int(f):
            return int(f)
    raise InputError(f"{where(path, row, field)}: expected an integer, got {value!r}")


def to_float(path, row: int, field: str, value: str) -> float:
    try:
        f = float(value)
    except ValueError:
        f = float("nan")
    if not np.isfinite(f):
        raise InputError(f"{where(path, row, field)}: expected a finite number, got {value!r}")
    return f


def int_table(path, fields: tuple[str, ...]) -> np.ndarray:
    """A headerless integer CSV with exactly ``len(fields)`` columns -> (N, len(fields)) int64; rows are 1-based."""
    rows = read_rows(path)
    out = np.zeros((len(rows), len(fields)), dtype=np.int64)
    for r, cells in enumerate(rows, start=1):
        if len(cells) != len(fields):
            raise InputError(f"{where(path, r)}: expected {len(fields)} values ({','.join(fields)}), "
                             f"got {len(cells)}")
        for j, (name, cell) in enumerate(zip(fields, cells)):
            out[r - 1, j] = to_int(path, r, name, cell)
    return out


def float_matrix(path, num_cols: int, col_name=lambda j: f"column {j + 1}") -> np.ndarray:
    """A headerless numeric CSV with ``num_cols`` columns -> float32 (N, num_cols).

    Fast path through numpy; on any failure the file is re-scanned to name the first bad row and column.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = np.loadtxt(path, delimiter=",", dtype=np.float32, ndmin=2)
        if arr.shape[1] == num_cols and np.isfinite(arr).all():
            return arr
    except ValueError:
        pass
    for r, cells in enumerate(read_rows(path), start=1):
        if len(cells) != num_cols:
            raise InputError(f"{where(path, r)}: expected {num_cols} values, got {len(cells)}")
        for j, cell in enumerate(cells):
            to_float(path, r, col_name(j), cell)
    raise InputError(f"{path}: expected a numeric table with {num_cols} columns")
