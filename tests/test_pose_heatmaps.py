import numpy as np
import pytest

from mglib.pose import (flip_heatmaps, flip_keypoints, joint_heatmaps, joint_heatmaps_loop, limb_flip_index,
                        limb_heatmaps, limb_heatmaps_loop, pairs_to_permutation, pose_volume)


def one(x, y, s=1.0):
    return np.array([[[[x, y]]]], np.float32), np.array([[[s]]], np.float32)


def test_joint_gaussian_hand_values():
    kp, sc = one(2, 2)
    h = joint_heatmaps(kp, sc, (5, 5), sigma=1.0)
    assert h.shape == (1, 1, 5, 5)
    assert h[0, 0, 2, 2] == pytest.approx(1.0)
    assert h[0, 0, 2, 3] == pytest.approx(np.exp(-0.5), rel=1e-6)  # (row y=2, col x=3): d^2 = 1
    assert h[0, 0, 3, 3] == pytest.approx(np.exp(-1.0), rel=1e-6)
    assert h[0, 0, 0, 0] == pytest.approx(np.exp(-4.0), rel=1e-6)


def test_joint_window_is_three_sigma_truncated():
    kp, sc = one(5.5, 5.5)
    h = joint_heatmaps(kp, sc, (12, 12), sigma=0.5)[0, 0]
    # box is [int(4.0), int(7.0)] = [4, 7] in both directions; x = 8 is outside although exp(-12.5) > 0
    assert h[5, 8] == 0 and h[8, 5] == 0 and h[3, 5] == 0
    assert h[5, 7] == pytest.approx(np.exp(-(1.5 ** 2 + 0.5 ** 2) / 0.5), rel=1e-6)
    assert h[4, 4] == pytest.approx(np.exp(-(1.5 ** 2 * 2) / 0.5), rel=1e-6)


def test_joint_score_weighting_and_eps():
    kp, sc = one(2, 2, 0.5)
    assert joint_heatmaps(kp, sc, (5, 5), 1.0).max() == pytest.approx(0.5)
    kp, sc = one(2, 2, 5e-4)  # below EPS = 1e-3: nothing drawn
    assert joint_heatmaps(kp, sc, (5, 5), 1.0).max() == 0


def test_persons_merge_with_max():
    kp = np.array([[[[2, 2]]], [[[3, 2]]]], np.float32)  # (M=2, T=1, V=1, 2)
    sc = np.array([[[0.4]], [[0.9]]], np.float32)
    h = joint_heatmaps(kp, sc, (5, 6), 1.0)[0, 0]
    assert h[2, 2] == pytest.approx(max(0.4, 0.9 * np.exp(-0.5)), rel=1e-6)
    assert h[2, 3] == pytest.approx(0.9, rel=1e-6)


def test_limb_distance_to_segment_hand_values():
    kp = np.array([[[[1, 2], [5, 2]]]], np.float32)  # horizontal limb from x=1 to x=5 at y=2
    sc = np.array([[[0.8, 0.6]]], np.float32)
    h = limb_heatmaps(kp, sc, (5, 10), [(0, 1)], sigma=1.0)[0, 0]
    v = 0.6  # min of the endpoint scores
    assert np.allclose(h[2, 1:6], v)  # on the segment
    assert h[3, 3] == pytest.approx(v * np.exp(-0.5), rel=1e-6)  # one pixel off the line
    assert h[2, 0] == pytest.approx(v * np.exp(-0.5), rel=1e-6)  # beyond endpoint a: distance to a
    assert h[2, 7] == pytest.approx(v * np.exp(-2.0), rel=1e-6)  # beyond b: distance 2 to b
    assert h[2, 8] == pytest.approx(v * np.exp(-4.5), rel=1e-6)
    assert h[2, 9] == 0  # outside the box int(5 + 3) = 8


def test_short_limb_falls_back_to_start_joint():
    kp = np.array([[[[2, 2], [2.5, 2]]]], np.float32)
    sc = np.array([[[0.8, 0.6]]], np.float32)
    h = limb_heatmaps(kp, sc, (5, 5), [(0, 1)], sigma=1.0)[0, 0]
    ref = joint_heatmaps(kp[:, :, :1], sc[:, :, :1], (5, 5), 1.0)[0, 0]
    assert np.allclose(h, ref)
    assert h.max() == pytest.approx(0.8)


def test_limb_skipped_when_an_endpoint_is_missing():
    kp = np.array([[[[1, 2], [5, 2]]]], np.float32)
    sc = np.array([[[0.8, 0.0]]], np.float32)
    assert limb_heatmaps(kp, sc, (5, 10), [(0, 1)], 1.0).max() == 0


@pytest.mark.parametrize("sigma", [0.6, 1.3])
def test_vectorised_equals_loop_on_random_poses(sigma):
    rng = np.random.default_rng(0)
    kp = rng.uniform(-4, 28, size=(2, 5, 6, 2)).astype(np.float32)
    kp[0, 1, 2] = kp[0, 1, 3] + 0.3  # a sub-pixel limb
    sc = rng.uniform(0, 1, size=(2, 5, 6)).astype(np.float32)
    sc[1, 2, :3] = 0
    limbs = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (0, 5)]
    np.testing.assert_allclose(joint_heatmaps(kp, sc, (20, 24), sigma),
                               joint_heatmaps_loop(kp, sc, (20, 24), sigma), atol=1e-6)
    np.testing.assert_allclose(limb_heatmaps(kp, sc, (20, 24), limbs, sigma),
                               limb_heatmaps_loop(kp, sc, (20, 24), limbs, sigma), atol=1e-5)


def test_pose_volume_layout_and_scaling():
    kp = np.array([[[[8, 4], [16, 4]]] * 3], np.float32)  # (1, 3, 2, 2)
    sc = np.ones((1, 3, 2), np.float32)
    vol = pose_volume(kp, sc, (16, 32), sigma=0.7, limbs=[(0, 1)], scaling=0.25)
    assert vol.shape == (3, 3, 4, 8)  # (joints + limbs, T, H, W)
    assert vol[0, 0, 1, 2] == pytest.approx(1.0) and vol[1, 0, 1, 4] == pytest.approx(1.0)
    assert np.allclose(vol[2, :, 1, 2:5], 1.0)


NAMES = ["Nose", "ShoulderLeft", "ShoulderRight", "HandLeft", "HandRight", "LeftFinger1", "RightFinger1"]


def test_flip_permutation_from_pairs():
    assert pairs_to_permutation(len(NAMES), [(1, 2), (3, 4), (5, 6)]) == [0, 2, 1, 4, 3, 6, 5]


def test_flip_keypoints_and_heatmaps_agree():
    idx = pairs_to_permutation(len(NAMES), [(1, 2), (3, 4), (5, 6)])
    rng = np.random.default_rng(1)
    kp = rng.uniform(2, 13, size=(1, 2, len(NAMES), 2)).astype(np.float32)
    sc = np.ones((1, 2, len(NAMES)), np.float32)
    fk, fs = flip_keypoints(kp, sc, img_width=15, flip_idx=idx)
    assert np.allclose(fk[0, :, 1, 0], 15 - kp[0, :, 2, 0])  # new ShoulderLeft = mirrored old ShoulderRight
    # pixel-space flip of the volume equals drawing the keypoints flipped about (W - 1) / 2
    vol = pose_volume(kp, sc, (16, 16), sigma=1.0)
    fk2, _ = flip_keypoints(kp, sc, img_width=15, flip_idx=idx)
    direct = pose_volume(fk2, fs, (16, 16), sigma=1.0)
    flipped = flip_heatmaps(vol, idx)
    # the +-3 sigma box is truncated asymmetrically, so compare where both are drawn
    both = (direct > 0) & (flipped > 0)
    assert both.sum() >= 0.7 * (direct > 0).sum()
    np.testing.assert_allclose(direct[both], flipped[both], atol=1e-5)
    assert limb_flip_index([(1, 3), (2, 4), (0, 1), (0, 2)], idx) == [1, 0, 3, 2]
