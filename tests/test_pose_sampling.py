import numpy as np
import pytest

from mglib.pose import pose_compact, resize_keypoints, uniform_sample_frames


def test_uniform_one_frame_per_segment():
    idx = uniform_sample_frames(100, 10, rng=np.random.RandomState(0))
    assert idx.shape == (10,)
    assert np.all(idx // 10 == np.arange(10))


def test_short_video_loops_consecutively():
    idx = uniform_sample_frames(5, 8, rng=np.random.RandomState(3))
    assert np.all(np.diff(idx) % 5 == 1)
    assert set(idx) == set(range(5))


def test_between_one_and_two_times_keeps_order_and_skips_single_frames():
    for seed in range(5):
        idx = uniform_sample_frames(12, 8, rng=np.random.RandomState(seed))
        d = np.diff(idx)
        assert np.all((d == 1) | (d == 2)) and idx.max() < 12 and idx[-1] - idx[0] + 1 - 8 <= 4


def test_test_mode_is_fixed_and_leaves_global_state_alone():
    np.random.seed(7)
    before = np.random.get_state()[1].copy()
    a = uniform_sample_frames(90, 8, num_clips=10, test_mode=True)
    b = uniform_sample_frames(90, 8, num_clips=10, test_mode=True)
    assert a.shape == (80,) and np.array_equal(a, b)
    assert np.array_equal(np.random.get_state()[1], before)
    # short video in test mode: the clips start at spread-out frames
    c = uniform_sample_frames(6, 8, num_clips=3, test_mode=True).reshape(3, 8)
    assert list(c[:, 0]) == [0, 2, 4]


def test_bad_lengths_raise():
    with pytest.raises(ValueError):
        uniform_sample_frames(0, 8)


def _kp():
    kp = np.zeros((1, 2, 3, 2), np.float32)
    kp[0, 0, 0] = (10, 20)
    kp[0, 1, 1] = (30, 60)
    kp[0, 1, 2] = (0, 40)  # x missing, y present: pyskl treats coordinates separately
    return kp


def test_pose_compact_square_box_by_hand():
    kp, shape, box = pose_compact(_kp(), (100, 100), padding=0.25, threshold=10, hw_ratio=1.0)
    # tight box x 10..30, y 20..60; centre (20, 40); half sizes 12.5, 25 -> square 25 -> (-5, 15, 45, 65)
    assert box == (-5, 15, 45, 65) and shape == (50, 50)
    assert tuple(kp[0, 0, 0]) == (15, 5) and tuple(kp[0, 1, 1]) == (35, 45)
    assert tuple(kp[0, 1, 2]) == (0, 25) and tuple(kp[0, 0, 1]) == (0, 0)  # missing stays missing


def test_pose_compact_without_ratio_and_clipped():
    _, shape, box = pose_compact(_kp(), (100, 100), hw_ratio=None)
    assert box == (7, 15, 32, 65) and shape == (50, 25)
    _, shape, box = pose_compact(_kp(), (100, 100), hw_ratio=1.0, allow_imgpad=False)
    assert box == (0, 15, 45, 65) and shape == (50, 45)


def test_pose_compact_small_box_is_a_no_op():
    kp = _kp() * 0.2
    out, shape, box = pose_compact(kp, (100, 100))
    assert box is None and shape == (100, 100) and np.array_equal(out, kp)


def test_resize_keypoints():
    kp = np.array([[[[50, 25]]]], np.float32)
    assert resize_keypoints(kp, (50, 100), (32, 32))[0, 0, 0].tolist() == [16, 16]
