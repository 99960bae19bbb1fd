"""Helpers of the fuzz suite (tests/test_fuzz_*.py): run the command line in-process and judge its answer.

Every bad input must give exit status 2, nothing on stdout and exactly one line on stderr, ``error: ...``, holding
the file and field named in the case; no warning may be printed on the way (a numpy RuntimeWarning included).
The hand-written malformed files live in fixtures/malformed/; expected.json maps each to the text its error line
must contain (null: a valid file that must be read correctly).
"""
from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

from mglib.cli import main

MALFORMED = Path(__file__).parent / "fixtures" / "malformed"
EXPECTED: dict = json.loads((MALFORMED / "expected.json").read_text())


def cases(folder: str) -> list[tuple[str, str | None]]:
    """(file name, expected needle or None) of one fixture folder, for pytest.mark.parametrize."""
    return sorted((k.split("/", 1)[1], v) for k, v in EXPECTED.items() if k.startswith(folder + "/"))


def fixture(folder: str, name: str) -> Path:
    return MALFORMED / folder / name


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert not caught, f"warnings printed: {[str(w.message) for w in caught]}"
    assert "Traceback" not in err
    return rc, out, err


def refused(capsys, argv, *needles: str) -> str:
    """Run ``argv``; assert it is refused with one error line containing every needle; return the line."""
    rc, out, err = run_cli(capsys, *argv)
    assert rc == 2, f"accepted (exit {rc}); stdout {out[:300]!r}, stderr {err[-300:]!r}"
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err[-2000:]
    assert out == ""
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


def accepted(capsys, argv):
    """Run ``argv``; assert exit status 0; return the parsed JSON (with --json) or stdout."""
    rc, out, err = run_cli(capsys, *argv)
    assert rc == 0, err[-2000:]
    return json.loads(out) if "--json" in argv else out


def check(capsys, argv, needle: str | None, *more: str):
    """``refused`` with the needle (and ``more``) when one is given, else ``accepted``."""
    if needle is None:
        return accepted(capsys, argv)
    return refused(capsys, argv, needle, *more)


def place(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return dst
