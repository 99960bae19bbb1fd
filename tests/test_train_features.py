"""Feature cache: computed once, keyed by backbone file + dataset + parameters, stale entries never reused."""
import numpy as np
import pytest

from mglib.errors import InputError
from mglib.train.features import cache_key, cached_features


class Extractor:
    def __init__(self, offset=0.0):
        self.calls, self.offset = [], offset

    def __call__(self, item):
        self.calls.append(item)
        return np.full((3, 2), len(item) + self.offset, dtype=np.float32)


def test_cache_hit_and_keys(tmp_path):
    ckpt = tmp_path / "backbone.pt"
    ckpt.write_bytes(b"weights v1")
    items = ["a/v1.mp4", "b/v22.mp4"]
    ex = Extractor()
    first = cached_features(ckpt, "smg", {"clip": 16}, items, ex, root=tmp_path / "cache")
    assert ex.calls == items and first["b/v22.mp4"].shape == (3, 2)
    again = cached_features(ckpt, "smg", {"clip": 16}, items, ex, root=tmp_path / "cache")
    assert ex.calls == items  # no recomputation
    assert all(np.array_equal(first[k], again[k]) for k in items)
    # any change of backbone file, dataset or parameters gives a new key, and fresh features
    ex2 = Extractor(offset=100)
    assert cached_features(ckpt, "smg", {"clip": 32}, items, ex2, root=tmp_path / "cache")["a/v1.mp4"][0, 0] == 108
    assert cached_features(ckpt, "mma52", {"clip": 16}, items[:1], ex2, root=tmp_path / "cache")["a/v1.mp4"][0, 0] \
        == 108
    ckpt.write_bytes(b"weights v2")  # retrained backbone, same path: the old entry is stale
    assert cached_features(ckpt, "smg", {"clip": 16}, items[:1], ex2, root=tmp_path / "cache")["a/v1.mp4"][0, 0] \
        == 108
    assert len(ex2.calls) == 4
    assert cache_key(None, "smg", {"clip": 16}) != cache_key(ckpt, "smg", {"clip": 16})
    assert cache_key(None, "smg", {"a": 1, "b": 2}) == cache_key(None, "smg", {"b": 2, "a": 1})


def test_damaged_entry_is_recomputed_and_missing_backbone_refused(tmp_path):
    ex = Extractor()
    cached_features(None, "smg", {}, ["x"], ex, root=tmp_path)
    (npy,) = [p for p in tmp_path.rglob("*.npy")]
    npy.write_bytes(b"garbage")
    out = cached_features(None, "smg", {}, ["x"], ex, root=tmp_path)
    assert ex.calls == ["x", "x"] and out["x"][0, 0] == 1
    assert not list(tmp_path.rglob("*.tmp"))
    with pytest.raises(InputError, match="nothing.pt"):
        cached_features(tmp_path / "nothing.pt", "smg", {}, ["x"], ex, root=tmp_path)
