"""Frame sampling and compact cropping, with pyskl's semantics (``UniformSampleFrames``, ``PoseCompact``)."""
from __future__ import annotations

import numpy as np

TEST_SEED = 255  # pyskl fixes the test-time sampling seed, so test clips are the same on every run


def _one_clip(num_frames: int, clip_len: int, rng: np.random.RandomState, start_hint: int | None) -> np.ndarray:
    if num_frames < clip_len:
        # too short: consecutive frames from a start, looped by the modulo in the caller
        start = rng.randint(0, num_frames) if start_hint is None else start_hint
        return np.arange(start, start + clip_len)
    if num_frames < 2 * clip_len:
        # between 1x and 2x: every frame once, plus (num_frames - clip_len) single-frame skips at random places
        skips = rng.choice(clip_len + 1, num_frames - clip_len, replace=False)
        offset = np.zeros(clip_len + 1, dtype=np.int64)
        offset[skips] = 1
        return np.arange(clip_len) + np.cumsum(offset)[:-1]
    # the usual case: clip_len equal segments, one random frame in each
    bounds = np.array([i * num_frames // clip_len for i in range(clip_len + 1)])
    return bounds[:-1] + rng.randint(np.diff(bounds))


def uniform_sample_frames(num_frames: int, clip_len: int, num_clips: int = 1, test_mode: bool = False,
                          rng: np.random.RandomState | None = None) -> np.ndarray:
    """Frame indices ``(num_clips * clip_len,)`` in ``[0, num_frames)``.

    Train mode draws from ``rng`` (default: numpy's global state). Test mode ignores ``rng`` and uses a private
    generator seeded with 255, and spreads the start of short videos over the clips, as pyskl does.
    """
    if num_frames < 1 or clip_len < 1 or num_clips < 1:
        raise ValueError(f"num_frames, clip_len, num_clips must be >= 1, got {num_frames}, {clip_len}, {num_clips}")
    if test_mode:
        rng = np.random.RandomState(TEST_SEED)
    elif rng is None:
        rng = np.random.mtrand._rand
    clips = []
    for i in range(num_clips):
        hint = None
        if test_mode and num_frames < clip_len:
            hint = i if num_frames < num_clips else i * num_frames // num_clips
        clips.append(_one_clip(num_frames, clip_len, rng, hint))
    return np.concatenate(clips) % num_frames


def pose_compact(keypoint: np.ndarray, img_shape: tuple[int, int], padding: float = 0.25, threshold: float = 10,
                 hw_ratio: float | None = None, allow_imgpad: bool = True):
    """Crop box around all persons and frames; returns ``(keypoint, new_img_shape, box)``.

    ``keypoint`` is ``(M, T, V, 2)`` in pixels; exact zeros mean "missing" and stay zero. The box is the tight box
    of all non-zero coordinates, enlarged by ``1 + padding`` around its centre, made at least ``hw_ratio`` tall
    (1 = square); it may leave the image when ``allow_imgpad``. A box smaller than ``threshold`` pixels in either
    direction leaves everything unchanged (``box`` is then None). Corners are truncated with ``int`` as in pyskl.
    """
    kp = np.nan_to_num(np.array(keypoint, dtype=np.float32, copy=True), nan=0.0)
    h, w = img_shape
    kx, ky = kp[..., 0], kp[..., 1]
    min_x, max_x = np.min(kx[kx != 0], initial=np.inf), np.max(kx[kx != 0], initial=-np.inf)
    min_y, max_y = np.min(ky[ky != 0], initial=np.inf), np.max(ky[ky != 0], initial=-np.inf)
    if max_x - min_x < threshold or max_y - min_y < threshold:
        return kp, (h, w), None
    cx, cy = (max_x + min_x) / 2, (max_y + min_y) / 2
    half_w = (max_x - min_x) / 2 * (1 + padding)
    half_h = (max_y - min_y) / 2 * (1 + padding)
    if hw_ratio is not None:
        half_h = max(hw_ratio * half_w, half_h)
        half_w = max(half_h / hw_ratio, half_w)
    x0, x1, y0, y1 = cx - half_w, cx + half_w, cy - half_h, cy + half_h
    if allow_imgpad:
        x0, y0, x1, y1 = int(x0), int(y0), int(x1), int(y1)
    else:
        x0, y0 = int(max(0, x0)), int(max(0, y0))
        x1, y1 = int(min(w, x1)), int(min(h, y1))
    kx[kx != 0] -= x0
    ky[ky != 0] -= y0
    return kp, (y1 - y0, x1 - x0), (x0, y0, x1, y1)


def resize_keypoints(keypoint: np.ndarray, img_shape: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """Scale ``(..., 2)`` pixel coordinates from an ``img_shape`` (H, W) image to a ``size`` (H, W) image."""
    h, w = img_shape
    scale = np.array([size[1] / w, size[0] / h], dtype=np.float32)
    return (np.asarray(keypoint, dtype=np.float32) * scale).astype(np.float32)
