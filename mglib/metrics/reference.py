"""Straightforward per-prediction implementation of the detection protocol, the oracle for tests and benchmarks.

It follows the official ActivityNet/OpenTAD code path literally (one prediction at a time, ground truth sorted by
tIoU, a walk per threshold) and shares nothing with the vectorised matcher except the tIoU formula and the table
readers. ``benchmarks/bench_metrics.py`` times the two side by side.
"""
from __future__ import annotations

import numpy as np

from mglib.metrics.detection import GroundTruth, Predictions
from mglib.metrics.tiou import tiou_rows


def _segment_iou(p, gts, protocol):
    return tiou_rows(np.asarray(p)[None, :], gts, protocol)


def _voc_ap(prec, rec):
    mprec = np.hstack([[0], prec, [0]])
    mrec = np.hstack([[0], rec, [1]])
    for i in range(len(mprec) - 1)[::-1]:
        mprec[i] = max(mprec[i], mprec[i + 1])
    idx = np.where(mrec[1::] != mrec[0:-1])[0] + 1
    return np.sum((mrec[idx] - mrec[idx - 1]) * mprec[idx])


def reference_ap(gt: GroundTruth, pr: Predictions, thresholds, protocol: str = "opentad") -> np.ndarray:
    """AP (T, C) computed one prediction at a time."""
    T, C = len(thresholds), len(gt.classes)
    ap = np.zeros((T, C))
    for c in range(C):
        g_rows = np.nonzero(gt.label == c)[0]
        by_video: dict[int, list[int]] = {}
        for r in g_rows:
            by_video.setdefault(int(gt.video[r]), []).append(int(r))
        p_rows = np.nonzero(pr.label == c)[0]
        if len(p_rows) == 0:
            continue
        scores = pr.score[p_rows]
        p_rows = p_rows[np.argsort(scores, kind="stable")[::-1]]  # ties: later-listed first
        lock = {}
        tp = np.zeros((T, len(p_rows)))
        fp = np.zeros((T, len(p_rows)))
        for i, r in enumerate(p_rows):
            cands = by_video.get(int(pr.video[r]))
            if not cands:
                fp[:, i] = 1
                continue
            segs = np.stack([gt.start[cands], gt.end[cands]], -1)
            ious = _segment_iou([pr.start[r], pr.end[r]], segs, protocol)
            order = np.argsort(ious, kind="stable")[::-1]
            for t, thr in enumerate(thresholds):
                for j in order:
                    if ious[j] < thr:
                        fp[t, i] = 1
                        break
                    if (t, cands[j]) in lock:
                        continue
                    tp[t, i] = 1
                    lock[(t, cands[j])] = i
                    break
                if tp[t, i] == 0 and fp[t, i] == 0:
                    fp[t, i] = 1
        npos = float(len(g_rows))
        for t in range(T):
            tpc = np.cumsum(tp[t]).astype(float)
            fpc = np.cumsum(fp[t]).astype(float)
            ap[t, c] = _voc_ap(tpc / (tpc + fpc), tpc / npos)
    return ap


def random_problem(num_videos: int = 1475, num_preds: int = 100_000, num_classes: int = 52, seed: int = 0,
                   gt_per_video: tuple[int, int] = (2, 10), duration: tuple[float, float] = (5.0, 15.0)):
    """A random MMA-52-like detection problem in the ActivityNet dict layouts (ground truth, predictions).

    About half the predictions jitter a ground-truth instance (right or wrong label), the rest are random
    segments; scores are uniform, so ties are (almost surely) absent. Used by tests and the benchmark.
    """
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, num_classes + 1)  # long tail
    weights /= weights.sum()
    db, gts = {}, []
    for v in range(num_videos):
        vid = f"val{v:04d}"
        dur = float(rng.uniform(*duration))
        anns = []
        for _ in range(int(rng.integers(gt_per_video[0], gt_per_video[1] + 1))):
            s = float(rng.uniform(0, dur * 0.8))
            e = float(min(dur, s + rng.uniform(0.3, dur * 0.5)))
            lab = int(rng.choice(num_classes, p=weights))
            anns.append({"segment": [round(s, 4), round(e, 4)], "label": lab})
            gts.append((vid, s, e, lab, dur))
        db[vid] = {"subset": "val", "duration": round(dur, 4), "annotations": anns}
    results: dict = {}
    pick = rng.integers(0, len(gts), num_preds)
    near = rng.random(num_preds) < 0.5
    vids = rng.integers(0, num_videos, num_preds)
    for i in range(num_preds):
        if near[i]:
            vid, s, e, lab, dur = gts[pick[i]]
            L = e - s
            s, e = s + rng.normal(0, 0.15) * L, e + rng.normal(0, 0.15) * L
            if rng.random() < 0.3:
                lab = int(rng.choice(num_classes, p=weights))
        else:
            vid = f"val{vids[i]:04d}"
            dur = db[vid]["duration"]
            s = float(rng.uniform(0, dur * 0.9))
            e = s + float(rng.uniform(0.2, dur * 0.5))
            lab = int(rng.choice(num_classes, p=weights))
        s, e = max(0.0, s), max(0.0, e)
        if e < s:
            s, e = e, s
        results.setdefault(vid, []).append({"segment": [s, e], "label": lab, "score": float(rng.random())})
    return {"database": db}, {"results": results}
