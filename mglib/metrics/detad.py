"""DETAD-style error analysis (Alwassel et al. 2018) without DETAD's stale-ground-truth bug.

Book: notebooks/02_metrics. Rules: evaluation-protocols.md (d). Three parts, all on the ActivityNet matching:

- **false-positive profile** (top-k·G predictions per class, k = 1..10, with G = the class's ground-truth count):
  each prediction is a True Positive or one of five error types, decided by the single best-overlapping ground truth
  of its video over *all* classes; plus the normalised average-mAP gain from removing each error type;
- **false-negative rates** per bucket of coverage / length / #instances (0.05 floor on normalised precision);
- **sensitivity**: average-mAP_N restricted to the ground truth of each bucket.

The official code types the unmatched predictions video by video and fetches a video's ground truth only when the
video id changes, so in a video *without* ground truth every prediction after the first is typed against the previous
video's ground truth. Here every prediction of a video without ground truth is Background.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from mglib.errors import InputError
from mglib.metrics.detection import (MATCH_BYTES, GroundTruth, _label_space, _source, class_segments, greedy_match,
                                     ground_truth_table, interpolated_ap, prediction_table, rank_order)
from mglib.metrics.levels import to_body_level
from mglib.metrics.tiou import tiou_rows

ERROR_TYPES = ("True Positive", "Double Detection", "Wrong Label", "Localization", "Confusion", "Background")
TP, DOUBLE, WRONG, LOCAL, CONFUSION, BACKGROUND = range(6)
INF = math.inf

# Buckets: (edges, labels); bucket i is (edges[i], edges[i+1]], bucket 0 also includes edges[0] (pandas.cut).
MMAD_BUCKETS = {
    "coverage": ((0, 0.2, 0.4, 0.6, 0.8, 1), ("XS", "S", "M", "L", "XL")),
    "length": ((0, 3, 5, 8, 9, INF), ("XS", "S", "M", "L", "XL")),
    "num_instances": ((-1, 2, 5, 7, INF), ("XS", "S", "M", "L")),
}
DETAD_ACTIVITYNET_BUCKETS = {
    "coverage": ((0, 0.2, 0.4, 0.6, 0.8, 1), ("XS", "S", "M", "L", "XL")),
    "length": ((0, 30, 60, 120, 180, INF), ("XS", "S", "M", "L", "XL")),
    "num_instances": ((-1, 1, 4, 8, INF), ("XS", "S", "M", "L")),
}
DETAD_THUMOS14_BUCKETS = {
    "coverage": ((0, 0.02, 0.04, 0.06, 0.08, 1), ("XS", "S", "M", "L", "XL")),
    "length": ((0, 3, 6, 12, 18, INF), ("XS", "S", "M", "L", "XL")),
    "num_instances": ((-1, 1, 40, 80, INF), ("XS", "S", "M", "L")),
}


def bucketize(values, edges) -> np.ndarray:
    """Bucket index of each value (pandas ``cut``, right-closed, lowest edge included); -1 outside the edges."""
    values = np.asarray(values, dtype=np.float64)
    edges = np.asarray(edges, dtype=np.float64)
    b = np.searchsorted(edges, values, side="left") - 1
    b[values == edges[0]] = 0
    b[~(values >= edges[0]) | (values > edges[-1])] = -1
    return b


def characteristics(gt: GroundTruth) -> dict[str, np.ndarray]:
    """Per ground-truth instance: coverage (length / video duration), length (s), num_instances (all classes)."""
    length = gt.end - gt.start
    duration = gt.duration[gt.video]
    return {"coverage": length / duration, "length": length,
            "num_instances": np.bincount(gt.video, minlength=len(gt.videos))[gt.video].astype(np.float64)}


def _ap_n(tp: np.ndarray, npos: int, N: float, floor: float | None):
    """Normalised AP (T,) of a ranked (n, T) hit matrix; ``floor``: positions with P_N <= floor become misses."""
    tpc = np.cumsum(tp, axis=0).astype(np.float64)
    fpc = np.cumsum(~tp, axis=0).astype(np.float64)
    rec = tpc / npos
    prec = rec * N / (rec * N + fpc)
    if floor is not None:
        drop = prec <= floor
        if (drop & tp).any():
            tp = tp & ~drop
            tpc = np.cumsum(tp, axis=0).astype(np.float64)
            fpc = np.cumsum(~tp, axis=0).astype(np.float64)
            rec = tpc / npos
            prec = rec * N / (rec * N + fpc)
    if len(tp) == 0:
        return np.zeros(tp.shape[1]), tp
    return interpolated_ap(prec, rec), tp


def _class_ap_n(gt, rows_by_class, matched, N, floor):
    """AP_N (T, C) per class and the matching after the floor (P, T)."""
    C, T = len(gt.classes), matched.shape[1]
    npos = np.bincount(gt.label, minlength=C)
    ap = np.zeros((T, C))
    out = np.full_like(matched, -1)
    for c in range(C):
        rows = rows_by_class[c]
        if len(rows) == 0:
            continue
        ap[:, c], tp = _ap_n(matched[rows] >= 0, npos[c], N, floor)
        out[rows] = np.where(tp, matched[rows], -1)
    return ap, out


def _error_types(gt, pr, rows, matched, thr, min_tiou, max_bytes: int = MATCH_BYTES):
    """Type (len(rows), T) of each prediction: TP, or the error decided by its video's best-overlapping ground truth.

    The tIoU with the video's ground truth is computed in tiles of about ``max_bytes`` (bounded memory)."""
    nv = int(max(pr.video.max(initial=0), gt.video.max(initial=0))) + 1
    count = np.bincount(gt.video, minlength=nv)
    first = np.cumsum(count) - count
    gsort = np.argsort(gt.video, kind="stable")
    lo, cnt = first[pr.video[rows]], count[pr.video[rows]]
    G = int(cnt.max(initial=0))
    top = np.full(len(rows), -np.inf)  # -inf for a video without ground truth -> Background
    best_g = np.zeros(len(rows), np.int64)
    cells = max(1, max_bytes // 64)
    cb = max(1, min(G, cells))
    rb = max(1, cells // cb)
    for r0 in range(0, len(rows), rb):
        idx = np.arange(r0, min(len(rows), r0 + rb))
        p = np.stack([pr.start[rows[idx]], pr.end[rows[idx]]], -1)[:, None, :]  # (a, 1, 2)
        for c0 in range(0, G, cb):
            j = np.arange(c0, min(G, c0 + cb))
            gi = gsort[np.minimum(lo[idx, None] + j, max(0, len(gsort) - 1))]  # (a, c)
            io = tiou_rows(p, np.stack([gt.start[gi], gt.end[gi]], -1), "activitynet")
            io[~(j < cnt[idx, None])] = -np.inf
            k = io.argmax(1)  # first on ties, as DETAD; earlier tiles win ties too (strict >)
            v = io[np.arange(len(idx)), k]
            better = v > top[idx]
            top[idx] = np.where(better, v, top[idx])
            best_g[idx] = np.where(better, gi[np.arange(len(idx)), k], best_g[idx])
    same = gt.label[best_g] == pr.label[rows] if len(gt.label) else np.zeros(len(rows), bool)
    types = np.empty((len(rows), len(thr)), np.int64)
    for t, th in enumerate(thr):
        ty = np.where(top >= th, np.where(same, DOUBLE, WRONG),
                      np.where(top >= min_tiou, np.where(same, LOCAL, CONFUSION), BACKGROUND))
        types[:, t] = np.where(matched[rows, t] >= 0, TP, ty)
    return types


def _none(x):
    return None if x is None or not math.isfinite(x) else float(x)


def error_analysis(gt: dict, preds: dict, tiou=(0.5,), subset: str | None = None, level: str = "action",
                   buckets: dict = MMAD_BUCKETS, limit_factor: int = 10, min_tiou: float = 0.1,
                   fn_floor: float = 0.05, num_classes: int | None = None, details: bool = False) -> dict:
    """DETAD-style analysis in the layout of ``python -m mglib eval errors`` (plus extra keys).

    ``fp_profile`` {"1G".."{limit_factor}G": {type: fraction averaged over thresholds | None when empty}},
    ``fp_removal_gain`` {error type: average-mAP_N gain}, ``fn_rate`` / ``fn_share`` / ``sensitivity``
    {characteristic: {bucket: value | None}}. ``details=True`` adds ``per_prediction`` (the types of the limited set).
    Ground truth needs each video's ``duration`` (for coverage). Chapter: notebooks/02_metrics.
    """
    thr = [float(t) for t in np.atleast_1d(tiou)]
    if level == "body":
        gt = to_body_level(gt, _source(gt, "ground truth"))
        preds = to_body_level(preds, _source(preds, "predictions"))
    elif level != "action":
        raise InputError(f"level: expected 'action' or 'body', got {level!r}")
    num_classes = num_classes or _label_space(gt) or _label_space(preds)
    g = ground_truth_table(gt, subset, clean="detad", num_classes=num_classes)
    if np.isnan(g.duration).any():
        vid = g.videos[int(np.argmax(np.isnan(g.duration)))]
        raise InputError(f"{g.source}, video {vid!r}, field 'duration': missing; expected a positive number of seconds "
                         "(needed for the coverage characteristic)")
    chars = characteristics(g)
    keep = chars["coverage"] <= 1.0  # DETAD drops instances longer than their video
    dropped = int((~keep).sum())
    if dropped:
        g = _filter_gt(g, keep)
        chars = characteristics(g)
    p = prediction_table(preds, g, num_classes=num_classes)
    C, T = len(g.classes), len(thr)
    npos = np.bincount(g.label, minlength=C)
    N = len(g.label) / C
    order = rank_order(p.label, p.score)
    order = order[p.label[order] >= 0]
    seg = class_segments(p.label[order], C)
    by_class = [order[seg[c]:seg[c + 1]] for c in range(C)]
    matched = greedy_match(g, p, thr, "activitynet", order=rank_order(p.label, p.score))

    # ---- false positives: the top limit_factor * n_j predictions of each class (matching is unaffected by the cut)
    limited = [rows[:limit_factor * npos[c]] for c, rows in enumerate(by_class)]
    ap, m_fp = _class_ap_n(g, limited, matched, N, 0.0)
    base = float(ap.mean())
    lim_rows = np.concatenate(limited) if limited else np.zeros(0, np.int64)
    types_all = np.full((len(p.score), T), -1, np.int64)
    types_all[lim_rows] = _error_types(g, p, lim_rows, m_fp, thr, min_tiou)
    groups = np.full(len(p.score), -1, np.int64)
    for c, rows in enumerate(limited):
        groups[rows] = np.arange(len(rows)) // npos[c]
    profile, sizes = {}, {}
    for k in range(limit_factor):
        in_g = groups == k
        n_g = int(in_g.sum())
        sizes[f"{k + 1}G"] = n_g
        profile[f"{k + 1}G"] = {
            name: (float(np.mean([(types_all[in_g, t] == e).sum() for t in range(T)]) / n_g) if n_g else None)
            for e, name in enumerate(ERROR_TYPES)}
    gain = {}
    for e in range(1, len(ERROR_TYPES)):
        ap_e = np.zeros((T, C))
        for c, rows in enumerate(limited):
            if len(rows) == 0:
                continue
            for t in range(T):
                kept = rows[types_all[rows, t] != e]
                ap_e[t, c] = _ap_n((m_fp[kept, t] >= 0)[:, None], npos[c], N, None)[0][0] if len(kept) else 0.0
        gain[ERROR_TYPES[e]] = float(ap_e.mean() - base)

    # ---- false negatives (all predictions, fn_floor) and sensitivity (all predictions, floor 0)
    _, m_fn = _class_ap_n(g, by_class, matched, N, fn_floor)
    _, m_s = _class_ap_n(g, by_class, matched, N, 0.0)
    missed = np.ones((len(g.label), T), bool)
    for t in range(T):
        hit = m_fn[:, t]
        missed[hit[hit >= 0], t] = False
    fn_rate, fn_share, sens = {}, {}, {}
    for name, (edges, labels) in buckets.items():
        if name not in chars:
            raise InputError(f"buckets: unknown characteristic {name!r}; expected one of {sorted(chars)}")
        if len(labels) != len(edges) - 1:
            raise InputError(f"buckets[{name!r}]: expected {len(edges) - 1} labels for {len(edges)} edges")
        b = bucketize(chars[name], edges)
        total = int((b >= 0).sum())
        fn_rate[name], fn_share[name], sens[name] = {}, {}, {}
        for k, lab in enumerate(labels):
            in_b = b == k
            n_b = int(in_b.sum())
            fn_share[name][lab] = n_b / total if n_b else None
            fn_rate[name][lab] = float(np.mean([missed[in_b, t].sum() / n_b for t in range(T)])) if n_b else None
            sens[name][lab] = _sensitivity(g, by_class, m_s, in_b, N) if n_b else None
    out = {
        "tiou": thr,
        "fp_profile": profile,
        "fp_removal_gain": gain,
        "fn_rate": fn_rate,
        "fn_share": fn_share,
        "sensitivity": sens,
        "fp_group_sizes": sizes,
        "average_mAP_N": base,
        "mAP_N": [float(x) for x in ap.mean(1)],
        "N": float(N),
        "ignored_predictions": p.ignored,
        "ignored_labels": list(p.ignored_labels),
        "dropped_ground_truth": dropped,
        "buckets": {k: {"edges": [e if math.isfinite(e) else "inf" for e in map(float, v[0])], "labels": list(v[1])}
                    for k, v in buckets.items()},
        "level": level,
    }
    if details:
        out["per_prediction"] = [
            {"video": p.videos[p.video[i]], "label": g.classes[p.label[i]], "segment": [float(p.start[i]), float(p.end[i])],
             "score": float(p.score[i]), **{f"type@{t}": ERROR_TYPES[types_all[i, j]] for j, t in enumerate(thr)}}
            for i in lim_rows]
    return out


def _sensitivity(g, by_class, matched, in_bucket, N) -> float:
    """Average-mAP_N over the classes with ground truth in the bucket, keeping unmatched predictions and those
    matched to the bucket's ground truth."""
    aps = []
    for c, rows in enumerate(by_class):
        n_c = int((in_bucket & (g.label == c)).sum())
        if n_c == 0:
            continue
        m = matched[rows]  # (n, T)
        ok = ((m < 0) | in_bucket[np.maximum(m, 0)]).all(1)
        aps.append(float(_ap_n(m[ok] >= 0, n_c, N, None)[0].mean()) if ok.any() else 0.0)
    return float(np.mean(aps))


def _filter_gt(g: GroundTruth, keep: np.ndarray) -> GroundTruth:
    labels = g.label[keep]
    used = list(dict.fromkeys(labels.tolist()))  # classes still present, first appearance order
    remap = np.full(len(g.classes), -1, np.int64)
    remap[used] = np.arange(len(used))
    if not used:
        raise InputError("ground truth: no instances left after dropping those longer than their video")
    return dataclasses.replace(g, video=g.video[keep], start=g.start[keep], end=g.end[keep], label=remap[labels],
                               classes=[g.classes[k] for k in used])
