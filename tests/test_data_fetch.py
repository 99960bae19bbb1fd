"""The data registry and `data fetch`: mirror copy, download (a local HTTP server), verification, nothing partial."""
import dataclasses
import functools
import http.server
import json
import shutil
import subprocess
import sys
import threading

import pytest

from mglib import cli
from mglib.data import fetch
from tests.real_data import require_mirror

NAME = "mma52-annotations"
FILES = [rf.path for rf in fetch.REGISTRY[NAME].files]


def _fetch(capsys, *args) -> tuple[int, list[str]]:
    rc = cli.main(["data", "fetch", *map(str, args)])
    return rc, capsys.readouterr().err.strip().splitlines()


def _mirror_copy(tmp_path, damage=None, drop=None):
    """A copy of the mirror with one file's byte flipped (``damage``) or removed (``drop``)."""
    m = tmp_path / "mirror"
    shutil.copytree(require_mirror() / "mma52", m / "mma52")
    if damage:
        p = m / "mma52" / damage
        b = bytearray(p.read_bytes())
        b[100] ^= 1
        p.chmod(0o644)
        p.write_bytes(bytes(b))
    if drop:
        (m / "mma52" / drop).unlink()
    return m


def test_fetch_from_good_mirror_then_nothing_to_do(tmp_path, capsys):
    out = tmp_path / "x"
    rc, err = _fetch(capsys, NAME, "--mirror", require_mirror(), "--out", out)
    assert rc == 0 and "3 of 3 files copied" in err[-1]
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == sorted(FILES)
    assert fetch.verified_dir(NAME, out) == out
    stamp = {f: (out / f).stat().st_mtime_ns for f in FILES}
    rc, err = _fetch(capsys, NAME, "--out", out)  # valid files present: no mirror or network needed
    assert rc == 0 and "present and verified" in err[-1]
    assert stamp == {f: (out / f).stat().st_mtime_ns for f in FILES}


def test_acceptance_commands_give_the_real_counts(tmp_path):
    out = tmp_path / "x"
    run = functools.partial(subprocess.run, capture_output=True, text=True, check=True)
    run([sys.executable, "-m", "mglib", "data", "fetch", NAME, "--mirror", str(require_mirror()), "--out", str(out)])
    res = json.loads(run([sys.executable, "-m", "mglib", "data", "inspect", "--dataset", "mma52", str(out),
                          "--json"]).stdout)
    assert res["splits"] == {"train": {"videos": 4534, "instances": 13698}, "val": {"videos": 1475, "instances": 4735},
                             "test": {"videos": 519, "instances": 519}}


@pytest.mark.parametrize("damage, drop", [("anns/val.csv", None), (None, "anns/test.csv")],
                         ids=["corrupted", "missing"])
def test_bad_mirror_is_one_line_and_leaves_nothing(tmp_path, capsys, damage, drop):
    m = _mirror_copy(tmp_path, damage, drop)
    out = tmp_path / "out" / "mma52"
    rc, err = _fetch(capsys, NAME, "--mirror", m, "--out", out)
    assert rc == 2 and len(err) == 1
    bad = damage or drop
    assert err[0].startswith(f"error: {m / 'mma52' / bad}:")
    assert ("sha256" in err[0]) if damage else ("missing in the mirror" in err[0])
    assert not out.exists() and not (tmp_path / "out").exists()  # not even the valid train.csv, no folders


def test_failed_fetch_keeps_what_was_there(tmp_path, capsys):
    out = tmp_path / "x"
    (out / "anns").mkdir(parents=True)
    (out / "anns" / "train.csv").write_text("stale\n")  # an invalid copy: replaced only by a verified one
    (out / "notes.txt").write_text("mine")
    rc, err = _fetch(capsys, NAME, "--mirror", _mirror_copy(tmp_path, drop="anns/val.csv"), "--out", out)
    assert rc == 2 and "anns/val.csv" in err[0]
    assert sorted(p.name for p in out.rglob("*")) == ["anns", "notes.txt", "train.csv"]
    assert (out / "anns" / "train.csv").read_text() == "stale\n"
    rc, _ = _fetch(capsys, NAME, "--mirror", require_mirror(), "--out", out)
    assert rc == 0 and fetch.verified_dir(NAME, out) == out


def test_relative_mirror_from_the_environment_is_resolved_against_the_current_directory(tmp_path, monkeypatch):
    m = _mirror_copy(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(fetch.MIRROR_ENV, "mirror")
    assert fetch.mirror_root() == m.resolve()
    assert fetch.mirror_root("elsewhere") == (tmp_path / "elsewhere").resolve()  # --mirror wins over the variable
    monkeypatch.delenv(fetch.MIRROR_ENV)
    assert fetch.mirror_root() is None


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep stderr for the command under test
        pass


@pytest.fixture
def served(tmp_path, monkeypatch):
    """The mirror served over HTTP on 127.0.0.1, with the registry's URLs pointing at it."""
    root = require_mirror() / "mma52"
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    fs = fetch.REGISTRY[NAME]
    files = tuple(dataclasses.replace(rf, url=f"{base}/{rf.path}") for rf in fs.files)
    monkeypatch.setitem(fetch.REGISTRY, NAME, dataclasses.replace(fs, files=files))
    monkeypatch.delenv(fetch.MIRROR_ENV, raising=False)
    yield base
    server.shutdown()


def test_download_from_a_local_server(served, tmp_path, capsys):
    out = tmp_path / "x"
    rc, err = _fetch(capsys, NAME, "--out", out)
    assert rc == 0 and "3 of 3 files downloaded" in err[-1]
    assert fetch.verified_dir(NAME, out) == out


def test_failed_download_is_one_line_and_leaves_nothing(served, tmp_path, capsys, monkeypatch):
    fs = fetch.REGISTRY[NAME]
    broken = (fs.files[0], dataclasses.replace(fs.files[1], url=f"{served}/anns/no_such.csv"), fs.files[2])
    monkeypatch.setitem(fetch.REGISTRY, NAME, dataclasses.replace(fs, files=broken))
    out = tmp_path / "x"
    rc, err = _fetch(capsys, NAME, "--out", out)
    assert rc == 2 and len(err) == 1 and "file anns/val.csv failed (" in err[0]
    assert not out.exists()


def test_download_larger_than_registered_is_refused(tmp_path, capsys, monkeypatch):
    big = tmp_path / "big.csv"
    big.write_bytes(b"x" * (fetch.CHUNK * 8))
    fs = fetch.REGISTRY[NAME]
    files = (dataclasses.replace(fs.files[0], url=big.as_uri()),) + fs.files[1:]  # a file:// URL
    monkeypatch.setitem(fetch.REGISTRY, NAME, dataclasses.replace(fs, files=files))
    monkeypatch.delenv(fetch.MIRROR_ENV, raising=False)
    rc, err = _fetch(capsys, NAME, "--out", tmp_path / "x")
    assert rc == 2 and len(err) == 1 and "more than the registered 460786 bytes of anns/train.csv" in err[0]
    assert not (tmp_path / "x").exists()


def test_list_and_usage_errors(capsys):
    assert cli.main(["data", "fetch", "--list"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{NAME}: 3 files") and all(f in out for f in FILES) and "Apache-2.0" in out
    rc, err = _fetch(capsys, "no-such-set")
    assert rc == 2 and len(err) == 1 and "not a registered file set" in err[0]
    rc, err = _fetch(capsys)
    assert rc == 2 and "expected a file set name" in err[0]
