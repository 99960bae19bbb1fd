import numpy as np
import pytest

from mglib.data.video import probe_video, read_video, resample_indices, write_video
from mglib.errors import InputError


def _frames(t=12, h=32, w=48):
    f = np.zeros((t, h, w, 3), np.uint8)
    for i in range(t):
        f[i, :, : 4 * (i + 1)] = (200, 40, 40)  # a bar that grows: frame order is visible after decoding
    return f


def test_write_read_round_trip(tmp_path):
    p = tmp_path / "a.mp4"
    f = _frames()
    write_video(p, f, 29)
    assert probe_video(p) == (12, 29.0, 32, 48)
    g, fps = read_video(p)
    assert g.shape == f.shape and g.dtype == np.uint8 and fps == 29.0
    assert np.abs(g.astype(int) - f).mean() < 6


def test_resample_by_frame_selection(tmp_path):
    p = tmp_path / "a.mp4"
    write_video(p, _frames(t=30), 30)
    g, fps = read_video(p, fps=10)
    assert fps == 10 and len(g) == 10
    assert resample_indices(30, 30, 10).tolist() == list(range(0, 30, 3))
    assert resample_indices(10, 25, 50).tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9]


def test_undecodable_and_missing_name_the_path(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video" * 20)
    for p in (bad, tmp_path / "missing.mp4"):
        with pytest.raises(InputError, match=str(p.name)):
            read_video(p)
        with pytest.raises(InputError, match=str(p.name)):
            probe_video(p)


def test_resampled_read_equals_selecting_from_the_full_decode(tmp_path):
    # only the selected frames are converted to RGB: the result must still be the full decode, then selected
    p = tmp_path / "a.mp4"
    write_video(p, _frames(t=23), 30)
    full, _ = read_video(p)
    for fps in (10, 7.3, 12.5, 29, 45, 60, 0.5):
        g, got = read_video(p, fps=fps)
        assert got == fps
        np.testing.assert_array_equal(g, full[resample_indices(23, 30, fps)])


def test_selected_read_equals_indexing_the_full_decode(tmp_path):
    p = tmp_path / "a.mp4"
    write_video(p, _frames(t=17), 30)
    full, _ = read_video(p)
    g, fps = read_video(p, select=lambda n: np.unique(np.linspace(0, n - 1, 5).round().astype(int)))
    assert fps == 30.0
    np.testing.assert_array_equal(g, full[[0, 4, 8, 12, 16]])
    with pytest.raises(ValueError):
        read_video(p, fps=10, select=lambda n: [0])


def test_shared_converter_gives_the_bytes_of_per_frame_conversion(tmp_path):
    import av

    p = tmp_path / "a.mp4"
    f = _frames(t=9)
    f[..., 1] = np.arange(48, dtype=np.uint8) * 5  # colour gradients, so that the YUV -> RGB rounding shows
    write_video(p, f, 25)
    with av.open(str(p)) as c:
        reference = np.stack([fr.to_ndarray(format="rgb24") for fr in c.decode(c.streams.video[0])])
    np.testing.assert_array_equal(read_video(p)[0], reference)
