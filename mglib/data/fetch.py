"""Registered real file sets (name -> files with URL, size, sha256 and licence, in the spirit of d2l's DATA_HUB) and
the fetch that downloads them, or copies them from a mirror, verified, into a folder.

``python -m mglib data fetch NAME [--out DIR] [--mirror DIR]`` and ``data fetch --list`` (contract: cli.md). A file
enters DIR only after its size and sha256 match the registry: every missing file is first written to a temporary name
in DIR, and the renames happen only when all of them are verified, so a failed fetch leaves nothing new behind.
Chapter: notebooks/05_mma52_real.
"""
from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from mglib import paths
from mglib.errors import InputError

CHUNK = 1 << 16
TIMEOUT_S = 30  # per network operation: an unreachable host fails quickly instead of hanging `data ensure`
MIRROR_ENV = "MGLIB_DATA_MIRROR"


class FetchError(InputError):
    """A registered file could not be obtained or failed verification (one line, naming the file)."""


@dataclass(frozen=True)
class RemoteFile:
    path: str  # relative to the output folder, and to the set's folder in a mirror
    url: str
    size: int  # bytes
    sha256: str


@dataclass(frozen=True)
class FileSet:
    name: str
    description: str
    source: str
    licence: str
    folder: str  # under data/ (the default output) and under a mirror root
    files: tuple[RemoteFile, ...]


_MAC2024 = ("https://raw.githubusercontent.com/VUT-HFUT/MAC_2024_baseline/3c8b4431ead0bf14fde44925f01951461345e0a1/"
            "MMAD/PointTAD/data/mmad_video/anns/{}.csv")

REGISTRY = {
    "mma52-annotations": FileSet(
        name="mma52-annotations",
        description="MMA-52 annotation CSVs, train/val/test (test holds placeholders: its labels are hidden)",
        source="VUT-HFUT/MAC_2024_baseline @ 3c8b4431ead0bf14fde44925f01951461345e0a1, "
               "MMAD/PointTAD/data/mmad_video/anns/",
        licence="Apache-2.0 (folder MMAD/PointTAD of that repository); the videos are distributed separately by the "
                "dataset's authors for research use and are not part of this set",
        folder="mma52",
        files=(
            RemoteFile("anns/train.csv", _MAC2024.format("train"), 460786,
                       "0eb358575f9f3b833f4ecaa3855e79191119fe610908a5436821c7e29797c845"),
            RemoteFile("anns/val.csv", _MAC2024.format("val"), 147827,
                       "ecae6f5862ed8ef499c9146407f4a7e18db6a59dcd65e81a5f2963801c627bcf"),
            RemoteFile("anns/test.csv", _MAC2024.format("test"), 14898,
                       "43fef4f2d77f4e40e8bb444c29f465541cf9f2d4237729a5d1efc8030aa05ee6"),
        ),
    ),
}


def get(name: str) -> FileSet:
    if name not in REGISTRY:
        raise InputError(f"data fetch {name!r}: not a registered file set; expected one of {', '.join(REGISTRY)} "
                         "(see `python -m mglib data fetch --list`)")
    return REGISTRY[name]


def default_dir(name: str) -> Path:
    """Where a set lands without ``--out``: ``data/real/<folder>``."""
    return paths.DATA / "real" / get(name).folder


def mirror_root(mirror=None) -> Path | None:
    """The mirror to copy from: ``mirror`` if given, else ``$MGLIB_DATA_MIRROR``; a relative path is resolved against
    the current directory now (callers resolve it once, when their command starts)."""
    mirror = mirror or os.environ.get(MIRROR_ENV) or None
    return Path(mirror).resolve() if mirror else None


def sha256_of(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def is_valid(path, rf: RemoteFile) -> bool:
    path = Path(path)
    return path.is_file() and path.stat().st_size == rf.size and sha256_of(path) == rf.sha256


def verified_dir(name: str, root=None) -> Path | None:
    """``root`` (default: the set's default folder) if every file of the set is there and valid, else None."""
    fs = get(name)
    root = Path(root) if root is not None else default_dir(name)
    return root if all(is_valid(root / rf.path, rf) for rf in fs.files) else None


def _copy_stream(src, dst, rf: RemoteFile, label: str, bar=None) -> str:
    """Copy ``src`` (a binary stream) to ``dst`` (an open file), refusing more bytes than registered; returns sha256."""
    h, n = hashlib.sha256(), 0
    for block in iter(lambda: src.read(CHUNK), b""):
        n += len(block)
        if n > rf.size:
            raise FetchError(f"{label}: more than the registered {rf.size} bytes of {rf.path}; refusing the file")
        h.update(block)
        dst.write(block)
        if bar is not None:
            bar.update(len(block))
    return h.hexdigest()


def _obtain(rf: RemoteFile, fs: FileSet, tmp: Path, mirror: Path | None, progress: bool) -> None:
    """Write one file to ``tmp`` from the mirror or its URL, then check its size and sha256."""
    if mirror is not None:
        src = mirror / fs.folder / rf.path
        if not src.is_file():
            raise FetchError(f"{src}: missing in the mirror; expected {fs.name} file {rf.path} ({rf.size} bytes)")
        label = str(src)
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            digest = _copy_stream(fin, fout, rf, label)
    else:
        from tqdm import tqdm

        label = rf.url
        try:
            with urllib.request.urlopen(rf.url, timeout=TIMEOUT_S) as resp, open(tmp, "wb") as fout, \
                    tqdm(total=rf.size, unit="B", unit_scale=True, desc=rf.path, file=sys.stderr, leave=False,
                         disable=not (progress and sys.stderr.isatty())) as bar:
                digest = _copy_stream(resp, fout, rf, label, bar)
        except (urllib.error.URLError, OSError, ValueError) as e:
            reason = getattr(e, "reason", None) or e
            raise FetchError(f"{rf.url}: download of {fs.name} file {rf.path} failed ({reason})") from None
    size = tmp.stat().st_size
    if size != rf.size:
        raise FetchError(f"{label}: {size} bytes; expected the registered {rf.size} bytes of {fs.name} file {rf.path}")
    if digest != rf.sha256:
        raise FetchError(f"{label}: sha256 {digest[:16]}... does not match the registered {rf.sha256[:16]}... of "
                         f"{fs.name} file {rf.path}")


def fetch(name: str, out=None, mirror=None, progress: bool = True) -> Path:
    """Make ``out`` (default :func:`default_dir`) hold every file of ``name``, verified; returns ``out``.

    Valid files already there are kept (nothing to do when all are). ``mirror``: a folder laid out as
    ``<mirror>/<folder>/<path>`` (e.g. ``shared/real/mma52/anns/train.csv``) to copy from instead of downloading.
    Any failure raises :class:`FetchError` and leaves ``out`` as it was.
    """
    fs = get(name)
    out = Path(out) if out is not None else default_dir(name)
    mirror = Path(mirror) if mirror is not None else None
    todo = [rf for rf in fs.files if not is_valid(out / rf.path, rf)]
    if not todo:
        print(f"[mglib] {name}: {len(fs.files)} files present and verified in {paths.relative(out)}", file=sys.stderr)
        return out
    created: list[Path] = []  # folders made here, removed again on failure
    staged: list[tuple[Path, Path]] = []
    try:
        for rf in todo:
            dest = out / rf.path
            for d in reversed([dest.parent, *dest.parent.parents]):
                if not d.exists():
                    d.mkdir()
                    created.append(d)
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
            os.close(fd)
            staged.append((Path(tmp), dest))
            _obtain(rf, fs, Path(tmp), mirror, progress)
        for tmp, dest in staged:
            os.replace(tmp, dest)
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        for d in reversed(created):  # deepest first
            if not any(d.iterdir()):
                d.rmdir()
        raise
    how = f"copied from {mirror}" if mirror is not None else "downloaded"
    print(f"[mglib] {name}: {len(todo)} of {len(fs.files)} files {how}, sha256 verified -> {paths.relative(out)}",
          file=sys.stderr)
    return out


def listing() -> str:
    lines = []
    for fs in REGISTRY.values():
        size = sum(rf.size for rf in fs.files)
        lines += [f"{fs.name}: {len(fs.files)} files, {size:,} bytes -> data/real/{fs.folder}/ (default)",
                  f"  {fs.description}", f"  source: {fs.source}", f"  licence: {fs.licence}"]
        lines += [f"  {rf.path}  {rf.size:>9,} bytes  sha256 {rf.sha256}" for rf in fs.files]
    return "\n".join(lines)
