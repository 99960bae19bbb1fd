"""The skeleton stream: causal preprocessing, the causal TCN encoder, clips and tokens."""
import numpy as np
import pytest
import torch

from mglib.studies.online import stream_skeleton as K
from mglib.studies.online.config import SkeletonStreamConfig


def _skeleton(T=90, seed=0):
    """(T, 25, 11) Kinect-like rows: a seated body with noise, at 30 fps."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0, 0.3, (25, 3)) + [0, 0, 2.5]
    base[K.SPINE_SHOULDER] = base[K.SPINE_BASE] + [0, 0.5, 0]
    base[K.HIP_LEFT], base[K.HIP_RIGHT] = base[K.SPINE_BASE] + [0.1, 0, 0], base[K.SPINE_BASE] - [0.1, 0, 0]
    rows = np.zeros((T, 25, 11), np.float32)
    rows[:, :, :3] = base + rng.normal(0, 0.01, (T, 25, 3))
    return rows


def test_resample_averages_the_rows_of_each_decoded_frame():
    x = np.arange(10, dtype=np.float64)[:, None]
    np.testing.assert_allclose(K.resample(x, 30.0, 10.0)[:, 0], [1.0, 4.0, 7.0, 9.0])  # the last frame: one row


def test_normalise_is_causal():
    a = _skeleton()
    b = a.copy()
    b[60:, :, :3] += np.random.default_rng(1).normal(0, 0.5, (30, 25, 3))  # change the future only
    xa, xb = K.normalise(a, 30.0, 10.0), K.normalise(b, 30.0, 10.0)
    assert xa.shape == (30, 25, 6) and xa.dtype == np.float32
    np.testing.assert_array_equal(xa[:20], xb[:20])  # decoded frames 0-19 are built from rows 0-59
    assert not np.allclose(xa[20:], xb[20:])


def test_normalise_removes_position_scale_and_yaw():
    a = _skeleton()
    xyz = a[:, :, :3].astype(np.float64)
    c, s = np.cos(0.3), np.sin(0.3)
    turned = np.stack([xyz[..., 0] * c - xyz[..., 2] * s, xyz[..., 1], xyz[..., 0] * s + xyz[..., 2] * c], -1)
    b = a.copy()
    b[:, :, :3] = 1.7 * turned + [0.4, -0.2, 1.0]  # a bigger subject, elsewhere, seen from another angle
    np.testing.assert_allclose(K.normalise(a, 30.0, 10.0), K.normalise(b, 30.0, 10.0), atol=1e-4)


def test_clips_hold_history_mask_and_mirror():
    cfg = SkeletonStreamConfig(width=8, context=5)
    X = K.normalise(_skeleton(T=300), 30.0, 10.0)  # 100 decoded frames
    spans = np.array([[4, 20.0, 29.0], [8, 60.0, 64.0]])
    bg = K.background_spans(spans, len(X), every=5)
    assert (bg[:, 0] == K.BACKGROUND).all()
    for _, a, b in bg:  # clear of every gesture by 2 frames
        assert b < 18 or 31 < a < b < 58 or a > 66
    ds = K.SkeletonClips([X], [np.concatenate([spans, bg])], cfg.context, train=False)
    x, mask, y = ds[0]
    assert x.shape == (5 + 10, 150) and mask.sum() == 10 and not mask[:5].any() and y == 4
    xb, mb, yb = K.collate_clips([ds[0], ds[1]])
    assert xb.shape == (2, 15, 150) and yb.tolist() == [4, 8] and mb[1].sum() == 5
    torch.manual_seed(0)
    model = K.build_encoder(cfg).eval()
    assert model.classify(xb, mb).shape == (2, 18)
    tokens = K.token_features(model, X)
    assert tokens.shape == (25, 8 + 18)
    np.testing.assert_allclose(tokens[:, 8:].sum(1), 1.0, rtol=1e-5)  # class probabilities of each token


def test_mirror_swaps_left_and_right():
    x = np.zeros((1, 25, 6), np.float32)
    x[0, 4, 0] = 1.0  # ShoulderLeft, x = 1
    m = x[:, K.FLIP] * K._MIRROR
    assert m[0, 8, 0] == -1.0 and m[0, 4, 0] == 0.0  # now ShoulderRight, x = -1


@pytest.mark.parametrize("T", [1, 7, 30])
def test_short_sequences(T):
    assert K.normalise(_skeleton(T=T), 30.0, 10.0).shape == (int(np.ceil(T / 3)), 25, 6)
