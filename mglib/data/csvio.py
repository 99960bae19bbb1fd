"""Strict reading of the text files every reader shares (CSV tables, JSON documents).

Every problem -- a folder where a file is expected, an unreadable file, bytes that are not UTF-8, a CSV field over
the csv module's limit, a duplicated JSON key, a number that Python would coerce but a person would not write -- is
reported as one :class:`InputError` naming the file, row and field and what was expected.
"""
from __future__ import annotations

import csv
import io
import json
import re
import warnings
from pathlib import Path

import numpy as np

from mglib.errors import InputError, where

# ASCII only: int()/float() also take "1_0", "+6", " 7", "nan" and non-ASCII digits, none of which a writer of these
# files produces. "30.0" is an integer here (pandas writes integer columns with NaNs that way).
_INT = re.compile(r"-?[0-9]+(?:\.0*)?")
_FLOAT = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


def require_file(path, what: str) -> Path:
    """``path`` as a Path if it is a regular file; else one line saying what it is and what was expected."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder; expected the {what} (a file)")
    if not path.exists():
        raise InputError(f"{path}: missing file; expected the {what}")
    if not path.is_file():
        raise InputError(f"{path}: not a regular file; expected the {what}")
    return path


def require_folder(path, what: str) -> Path:
    path = Path(path)
    if path.is_dir():
        return path
    if path.exists():
        raise InputError(f"{path}: is a file; expected {what} (a folder)")
    raise InputError(f"{path}: missing folder; expected {what}")


def read_bytes(path, what: str) -> bytes:
    path = require_file(path, what)
    try:
        return path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or type(e).__name__}); expected the {what}") from None


def read_text(path, what: str) -> str:
    """UTF-8 text of a file (a leading byte-order mark is dropped); non-UTF-8 bytes name their line."""
    data = read_bytes(path, what)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise InputError(f"{where(path, line)}: byte 0x{data[e.start]:02x} is not UTF-8; expected UTF-8 text "
                         f"({what})") from None


def read_rows(path, what: str = "CSV file") -> list[tuple[int, list[str]]]:
    """(line number, cells) of the non-blank rows of a CSV file; cells are stripped, quotes removed."""
    text = read_text(path, what)
    reader = csv.reader(io.StringIO(text, newline=""))
    out, last = [], 0  # a quoted field may span lines: a row is named by the line it starts on
    try:
        for cells in reader:
            if any(c.strip() for c in cells):
                out.append((last + 1, [c.strip() for c in cells]))
            last = reader.line_num
    except csv.Error as e:  # a field over csv.field_size_limit(), a NUL byte, a bad quote
        raise InputError(f"{where(path, last + 1)}: {e}; expected a {what}") from None
    return out


def _unique_keys(path):
    def hook(pairs):
        seen = set()
        for k, _ in pairs:
            if k in seen:
                raise InputError(f"{path}: key {k!r} appears twice in one object; expected unique keys")
            seen.add(k)
        return dict(pairs)

    return hook


def read_json(path, what: str = "JSON file"):
    """A JSON document; duplicate keys, NaN/Infinity literals and deep nesting are errors naming the file."""
    text = read_text(path, what)

    def constant(name):
        raise InputError(f"{path}: {name} is not valid JSON; expected finite numbers")

    try:
        return json.loads(text, object_pairs_hook=_unique_keys(path), parse_constant=constant)
    except json.JSONDecodeError as e:
        raise InputError(f"{where(path, e.lineno)}: not valid JSON ({e.msg}); expected the {what}") from None
    except RecursionError:
        raise InputError(f"{path}: JSON nested too deeply; expected the {what}") from None


def json_number(value, loc: str, what: str = "a finite number") -> float:
    """A JSON number (not a string, not a boolean, not NaN/Infinity) as a float; else one line naming ``loc``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value):
        return float(value)
    raise InputError(f"{loc}: expected {what}, got {json.dumps(value)[:60] if _plain(value) else type(value).__name__}")


def _plain(value) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def to_int(path, row: int, field: str, value: str) -> int:
    """An integer cell written in ASCII digits (``30.0`` is accepted as 30; ``30.5``, ``+6``, ``1_0`` are not)."""
    if isinstance(value, str) and _INT.fullmatch(value):
        return int(value.split(".")[0])
    raise InputError(f"{where(path, row, field)}: expected an integer, got {value!r}")


def to_float(path, row: int, field: str, value: str) -> float:
    """A finite decimal number cell (``nan``, ``inf``, ``1_0`` and non-ASCII digits are refused)."""
    if isinstance(value, str) and _FLOAT.fullmatch(value):
        f = float(value)
        if np.isfinite(f):
            return f
    raise InputError(f"{where(path, row, field)}: expected a finite number, got {value!r}")


def int_table(path, fields: tuple[str, ...], what: str = "CSV file") -> tuple[np.ndarray, list[int]]:
    """A headerless integer CSV with exactly ``len(fields)`` columns -> ((N, len(fields)) int64, line of each row)."""
    rows = read_rows(path, what)
    out = np.zeros((len(rows), len(fields)), dtype=np.int64)
    for i, (line, cells) in enumerate(rows):
        if len(cells) != len(fields):
            raise InputError(f"{where(path, line)}: expected {len(fields)} values ({','.join(fields)}), "
                             f"got {len(cells)}")
        for j, (name, cell) in enumerate(zip(fields, cells)):
            value = to_int(path, line, name, cell)
            if not -2**63 <= value < 2**63:
                raise InputError(f"{where(path, line, name)}: expected a frame or class number, got {cell!r}")
            out[i, j] = value
    return out, [line for line, _ in rows]


def float_matrix(path, num_cols: int, col_name=lambda j: f"column {j + 1}",
                 what: str = "numeric CSV table") -> np.ndarray:
    """A headerless numeric CSV with ``num_cols`` columns -> float32 (N, num_cols).

    Fast path through pandas' C parser (four times numpy.loadtxt's speed, the same correctly rounded doubles); on
    any failure the file is re-scanned to name the first bad row and column.
    """
    import pandas as pd

    path = Path(path)
    read_bytes(path, what)  # a folder, a missing or unreadable file: the one-line error
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = pd.read_csv(path, header=None, dtype=np.float64, engine="c", encoding="utf-8").to_numpy()
            arr = arr.astype(np.float32)  # doubles rounded to float32, as numpy.loadtxt(dtype=float32) does
        if arr.ndim == 2 and arr.shape[1] == num_cols and np.isfinite(arr).all():
            return arr
    except (ValueError, OSError):
        pass
    for line, cells in read_rows(path, what):
        if len(cells) != num_cols:
            raise InputError(f"{where(path, line)}: expected {num_cols} values, got {len(cells)}")
        for j, cell in enumerate(cells):
            if abs(to_float(path, line, col_name(j), cell)) > float(np.finfo(np.float32).max):
                raise InputError(f"{where(path, line, col_name(j))}: expected a number within float32 range, "
                                 f"got {cell!r}")
    raise InputError(f"{path}: expected a numeric table with {num_cols} columns")
