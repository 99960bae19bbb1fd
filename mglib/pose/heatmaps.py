"""Pseudo-heatmap volumes of PoseConv3D (pyskl ``GeneratePoseTarget``), vectorised over persons, frames and joints.

Semantics, kept value-for-value with pyskl:
- joint channel: ``exp(-d^2 / (2 sigma^2)) * score`` on the pixel grid, only inside the box
  ``[int(mu - 3 sigma), int(mu + 3 sigma)]`` (``int`` truncates toward zero), joints with score < EPS skipped;
- limb channel: the same Gaussian of the squared distance to the segment (to the nearer endpoint when the
  projection falls outside it), times ``min(score_a, score_b)``, inside the box around both endpoints +-3 sigma;
  a limb shorter than one pixel falls back to the joint Gaussian of its start point (with the start's score);
- several persons are merged with ``max``.

The ``*_loop`` functions are the per-joint reference (a direct transcription of pyskl's loops); tests and
``benchmarks/bench_heatmaps.py`` compare the two. Book chapter: ``10_classification``.
"""
from __future__ import annotations

import numpy as np

EPS = 1e-3  # scores below this draw nothing
LIMB_BUCKETS = 4  # limb boxes vary from a finger to the shoulders: pad per size bucket, not to the largest


def _check(keypoint, score):
    kp = np.asarray(keypoint, dtype=np.float32)
    sc = np.asarray(score, dtype=np.float32)
    if kp.ndim != 4 or kp.shape[-1] != 2 or sc.shape != kp.shape[:-1]:
        raise ValueError(f"expected keypoint (M, T, V, 2) and score (M, T, V), got {kp.shape} and {sc.shape}")
    return kp, sc


def _box(lo, hi, sigma, size):
    """pyskl's +-3 sigma box ``[start, end)`` on a grid of ``size`` pixels (``int`` truncates toward zero)."""
    return np.maximum(np.trunc(lo - 3 * sigma), 0).astype(np.int64), \
        np.minimum(np.trunc(hi + 3 * sigma).astype(np.int64) + 1, size)


def _scatter_max(out, t, c, x0, x1, y0, y1, patch_fn, buckets: int = 1):
    """Draw N patches into ``out`` (T, C, H, W) with max; each (t, c) pair must occur at most once.

    Patches are padded to one size per bucket (the largest box in it; ``buckets`` > 1 sorts the boxes by area
    first, so long limbs do not make every short one pay for their size). ``patch_fn(sel, xs, ys)`` gets the
    selected patch indices and the pixel coordinates ``(n, 1, PW)``, ``(n, PH, 1)`` as float32 and returns the
    values ``(n, PH, PW)``.
    """
    if len(t) == 0:
        return
    if buckets > 1:
        order = np.argsort((x1 - x0) * (y1 - y0), kind="stable")
        for sel in np.array_split(order, buckets):
            _scatter_max(out, t[sel], c[sel], x0[sel], x1[sel], y0[sel], y1[sel],
                         lambda s, xs, ys, sel=sel: patch_fn(sel[s], xs, ys))
        return
    pw, ph = int(max((x1 - x0).max(), 0)), int(max((y1 - y0).max(), 0))
    if pw == 0 or ph == 0:
        return
    xs = x0[:, None] + np.arange(pw)  # (N, PW)
    ys = y0[:, None] + np.arange(ph)  # (N, PH)
    valid = (ys < y1[:, None])[:, :, None] & (xs < x1[:, None])[:, None, :]  # (N, PH, PW)
    vals = patch_fn(np.arange(len(t)), xs[:, None, :].astype(np.float32), ys[:, :, None].astype(np.float32))
    _, n_c, h, w = out.shape
    flat = ((t * n_c + c)[:, None, None] * h + ys[:, :, None]) * w + xs[:, None, :]
    idx, vals = flat[valid], vals[valid]
    view = out.reshape(-1)
    # indices are unique within one call, so a gather-max-scatter is an exact per-pixel max
    view[idx] = np.maximum(view[idx], vals)


def joint_heatmaps(keypoint, score, img_shape, sigma: float = 0.6) -> np.ndarray:
    """Joint heatmaps ``(T, V, H, W)`` float32 from keypoint ``(M, T, V, 2)`` and score ``(M, T, V)``.

    Only the +-3 sigma boxes are computed (all joints of a person at once, padded to one box size), so the cost
    grows with the number of joints, not with the image area."""
    kp, sc = _check(keypoint, score)
    m, n_t, n_v, _ = kp.shape
    h, w = img_shape
    out = np.zeros((n_t, n_v, h, w), np.float32)
    for p in range(m):  # persons one after the other: within a person every (t, v) channel has one patch
        t, v = np.nonzero(sc[p] >= EPS)
        mx, my, amp = kp[p, t, v, 0], kp[p, t, v, 1], sc[p, t, v]
        x0, x1 = _box(mx, mx, sigma, w)
        y0, y1 = _box(my, my, sigma, h)

        def patch(s, xs, ys):
            d2 = (xs - mx[s, None, None]) ** 2 + (ys - my[s, None, None]) ** 2
            return np.exp(-d2 / 2 / sigma ** 2) * amp[s, None, None]

        _scatter_max(out, t, v, x0, x1, y0, y1, patch)
    return out


def limb_heatmaps(keypoint, score, img_shape, limbs, sigma: float = 0.6) -> np.ndarray:
    """Limb heatmaps ``(T, L, H, W)`` float32; ``limbs`` is a sequence of (start joint, end joint) pairs."""
    kp, sc = _check(keypoint, score)
    limbs = np.asarray(limbs, dtype=np.int64).reshape(-1, 2)
    m, n_t = kp.shape[:2]
    h, w = img_shape
    out = np.zeros((n_t, len(limbs), h, w), np.float32)
    for p in range(m):
        sa, sb = sc[p][:, limbs[:, 0]], sc[p][:, limbs[:, 1]]  # (T, L)
        t, l = np.nonzero(np.minimum(sa, sb) >= EPS)
        a, b = kp[p, t, limbs[l, 0]], kp[p, t, limbs[l, 1]]  # (N, 2)
        d2ab = (a[:, 0] - b[:, 0]) ** 2 + (a[:, 1] - b[:, 1]) ** 2
        short = d2ab < 1  # sub-pixel limb: the start joint's Gaussian, with the start joint's box and score
        amp = np.where(short, sa[t, l], np.minimum(sa[t, l], sb[t, l]))
        x0, x1 = _box(np.where(short, a[:, 0], np.minimum(a[:, 0], b[:, 0])),
                      np.where(short, a[:, 0], np.maximum(a[:, 0], b[:, 0])), sigma, w)
        y0, y1 = _box(np.where(short, a[:, 1], np.minimum(a[:, 1], b[:, 1])),
                      np.where(short, a[:, 1], np.maximum(a[:, 1], b[:, 1])), sigma, h)
        # A sub-pixel limb gets a zero direction, so the clamped projection below is its start point and the
        # distance is the start joint's: no separate branch needed.
        dx = np.where(short, 0, b[:, 0] - a[:, 0])
        dy = np.where(short, 0, b[:, 1] - a[:, 1])
        ab = np.where(short, 1, d2ab)

        def patch(s, xs, ys):
            rx, ry = xs - a[s, 0, None, None], ys - a[s, 1, None, None]  # (n, 1, PW), (n, PH, 1)
            ddx, ddy, den = dx[s, None, None], dy[s, None, None], ab[s, None, None]
            # projection parameter, clamped to the segment: 0 -> nearer to a, 1 -> nearer to b (pyskl's three
            # cases in one expression; equal to its value up to float rounding)
            proj = np.clip((rx * ddx) / den + (ry * ddy) / den, 0, 1)  # (n, PH, PW)
            d2 = (rx - proj * ddx) ** 2 + (ry - proj * ddy) ** 2
            return np.exp(d2 * np.float32(-0.5 / sigma ** 2)) * amp[s, None, None]

        _scatter_max(out, t, l, x0, x1, y0, y1, patch, buckets=LIMB_BUCKETS)
    return out


# ------------------------------------------------------------------------------------------------------------
# Per-joint reference loops: one patch at a time, exactly as pyskl draws them.

def _draw_joint(arr, mu_x, mu_y, value, sigma):
    if value < EPS:
        return
    h, w = arr.shape
    st_x, ed_x = max(int(mu_x - 3 * sigma), 0), min(int(mu_x + 3 * sigma) + 1, w)
    st_y, ed_y = max(int(mu_y - 3 * sigma), 0), min(int(mu_y + 3 * sigma) + 1, h)
    x = np.arange(st_x, ed_x, 1, np.float32)
    y = np.arange(st_y, ed_y, 1, np.float32)
    if not (len(x) and len(y)):
        return
    y = y[:, None]
    patch = np.exp(-((x - mu_x) ** 2 + (y - mu_y) ** 2) / 2 / sigma ** 2) * value
    arr[st_y:ed_y, st_x:ed_x] = np.maximum(arr[st_y:ed_y, st_x:ed_x], patch)


def _draw_limb(arr, start, end, sv, ev, sigma):
    value = min(sv, ev)
    if value < EPS:
        return
    h, w = arr.shape
    min_x = max(int(min(start[0], end[0]) - 3 * sigma), 0)
    max_x = min(int(max(start[0], end[0]) + 3 * sigma) + 1, w)
    min_y = max(int(min(start[1], end[1]) - 3 * sigma), 0)
    max_y = min(int(max(start[1], end[1]) + 3 * sigma) + 1, h)
    x = np.arange(min_x, max_x, 1, np.float32)
    y = np.arange(min_y, max_y, 1, np.float32)
    if not (len(x) and len(y)):
        return
    y = y[:, None]
    d2_start = (x - start[0]) ** 2 + (y - start[1]) ** 2
    d2_end = (x - end[0]) ** 2 + (y - end[1]) ** 2
    d2_ab = (start[0] - end[0]) ** 2 + (start[1] - end[1]) ** 2
    if d2_ab < 1:
        _draw_joint(arr, start[0], start[1], sv, sigma)
        return
    coeff = (d2_start - d2_end + d2_ab) / 2.0 / d2_ab
    a_dom, b_dom = coeff <= 0, coeff >= 1
    seg = 1 - a_dom - b_dom.astype(np.float32)
    px = start[0] + coeff * (end[0] - start[0])
    py = start[1] + coeff * (end[1] - start[1])
    d2_line = (x - px) ** 2 + (y - py) ** 2
    d2 = a_dom * d2_start + b_dom * d2_end + seg * d2_line
    patch = np.exp(-d2 / 2.0 / sigma ** 2) * value
    arr[min_y:max_y, min_x:max_x] = np.maximum(arr[min_y:max_y, min_x:max_x], patch)


def joint_heatmaps_loop(keypoint, score, img_shape, sigma: float = 0.6) -> np.ndarray:
    kp, sc = _check(keypoint, score)
    m, t, v, _ = kp.shape
    out = np.zeros((t, v, *img_shape), np.float32)
    for i in range(t):
        for j in range(v):
            for p in range(m):
                _draw_joint(out[i, j], kp[p, i, j, 0], kp[p, i, j, 1], sc[p, i, j], sigma)
    return out


def limb_heatmaps_loop(keypoint, score, img_shape, limbs, sigma: float = 0.6) -> np.ndarray:
    kp, sc = _check(keypoint, score)
    m, t = kp.shape[:2]
    out = np.zeros((t, len(limbs), *img_shape), np.float32)
    for i in range(t):
        for k, (s, e) in enumerate(limbs):
            for p in range(m):
                _draw_limb(out[i, k], kp[p, i, s], kp[p, i, e], sc[p, i, s], sc[p, i, e], sigma)
    return out


# ------------------------------------------------------------------------------------------------------------

def pose_volume(keypoint, score, img_shape, sigma: float = 0.6, limbs=None, with_joints: bool = True,
                scaling: float = 1.0) -> np.ndarray:
    """Network input ``(C, T, H, W)``: joint channels, then limb channels when ``limbs`` is given.

    ``scaling`` multiplies image size (rounded as ``int(s * scaling + 0.5)``) and keypoints before drawing.
    Both kinds may be stacked (mmaction2 allows it; pyskl allows one kind per model).
    """
    kp = np.asarray(keypoint, dtype=np.float32) * np.float32(scaling)
    shape = (int(img_shape[0] * scaling + 0.5), int(img_shape[1] * scaling + 0.5))
    parts = []
    if with_joints:
        parts.append(joint_heatmaps(kp, score, shape, sigma))
    if limbs is not None and len(limbs):
        parts.append(limb_heatmaps(kp, score, shape, limbs, sigma))
    if not parts:
        raise ValueError("pose_volume needs joints, limbs or both")
    return np.concatenate(parts, axis=1).transpose(1, 0, 2, 3).copy()  # (T, C, H, W) -> (C, T, H, W)


def flip_keypoints(keypoint, score, img_width: float, flip_idx):
    """Horizontal flip in keypoint space (pyskl ``Flip``): ``x -> W - x`` for non-missing points, then swap the
    left/right joints given by the permutation ``flip_idx``."""
    kp = np.array(keypoint, dtype=np.float32, copy=True)
    x = kp[..., 0]
    x[x != 0] = img_width - x[x != 0]
    flip_idx = np.asarray(flip_idx)
    return kp[:, :, flip_idx], np.asarray(score)[:, :, flip_idx]


def flip_heatmaps(volume, channel_idx):
    """Mirror a ``(C, T, H, W)`` volume along W and permute its channels (test-time flip of pyskl's ``double``)."""
    volume = np.asarray(volume)
    return volume[np.asarray(channel_idx)][..., ::-1].copy()
