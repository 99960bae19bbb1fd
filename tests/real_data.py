"""Where the tests find the mirror of the real files: ``$MGLIB_DATA_MIRROR``, else a ``shared/real`` folder beside
the checkout or above it (the layout of these machines). Tests that need it skip when there is none."""
from pathlib import Path

import pytest

from mglib import paths
from mglib.data import fetch


def mirror() -> Path | None:
    env = fetch.mirror_root()
    if env is not None:
        return env
    for up in [paths.ROOT, *paths.ROOT.parents]:
        if (up / "shared" / "real" / "mma52").is_dir():
            return up / "shared" / "real"
    return None


def require_mirror() -> Path:
    m = mirror()
    if m is None:
        pytest.skip(f"no mirror of the real files (set {fetch.MIRROR_ENV})")
    return m


def fetched_mma52(tmp_path_factory) -> Path:
    """The real MMA-52 annotations fetched from the mirror into a fresh temporary folder."""
    out = tmp_path_factory.mktemp("mma52_real")
    return fetch.fetch("mma52-annotations", out=out, mirror=require_mirror(), progress=False)


__all__ = ["fetched_mma52", "mirror", "require_mirror"]
