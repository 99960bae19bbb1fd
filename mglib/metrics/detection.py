"""Temporal action detection mAP, exactly per the ActivityNet / OpenTAD protocol (book: notebooks/02_metrics).

Rules (evaluation-protocols.md (a)):

- classes = labels that occur in the (cleaned) ground truth of the selected subset; a class with ground truth and no
  prediction has AP 0 and stays in the mean; a predicted label without ground truth is ignored and *counted*;
- greedy matching per class and threshold: predictions in score order (ties: later-listed first) take the free
  ground truth of their video with the highest tIoU (ties: later-listed first) if that tIoU >= t;
- VOC all-point interpolated AP; mAP@t = mean over classes; average mAP = mean over thresholds.

Protocols: ``opentad`` (default; drops zero-length and near-duplicate ground truth, union clamped at 1e-8),
``activitynet`` (no cleaning), ``pointtad`` (no cleaning, union + 1e-4).

The matcher is vectorised over (class, video) groups: all groups advance one prediction per step, so the Python loop
runs once per *rank within a group*, not once per prediction. ``mglib.metrics.reference`` holds the
straightforward per-prediction loop it is tested and benchmarked against.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from mglib.errors import InputError, short
from mglib.metrics.levels import LABEL_SPACES, class_index, to_body_level
from mglib.metrics.tiou import PROTOCOLS, tiou_rows

# Literal decimals: 0.3 and 0.7 are the doubles nearest to 0.3 and 0.7, not linspace's 0.30000000000000004.
DEFAULT_TIOU = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
ACTIVITYNET_TIOU = tuple(float(t) for t in np.linspace(0.5, 0.95, 10))  # ActivityNet's own default
POINTTAD_TIOU = tuple(float(t) for t in np.arange(0.1, 1.0, 0.1))  # PointTAD's evaluate.py
TABLE3_TIOU = (0.2, 0.5, 0.7)  # the columns of the MMAD paper's Table 3 (plus the average over 0.1..0.9)
# Memory the matcher may use for its blocks of predictions x ground-truth tIoU (bounded whatever the input).
MATCH_BYTES = 64 << 20


@dataclass
class GroundTruth:
    """Ground truth of one subset as columns. ``classes[k]`` is the original label of class index k."""
    videos: list  # video ids; index -> id
    video: np.ndarray  # (G,) int, index into videos
    start: np.ndarray  # (G,) float seconds
    end: np.ndarray  # (G,)
    label: np.ndarray  # (G,) int class index
    classes: list
    duration: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (V,) seconds, NaN when absent
    source: str = "ground truth"  # the file (or name) for error messages
    label_kind: type | None = None  # str or int: the type of the original labels (None with a known taxonomy)


@dataclass
class Predictions:
    """Predictions as columns, in listing order. ``label`` = -1 marks a label with no ground truth (ignored)."""
    video: np.ndarray  # (P,) int; ids unknown to the ground truth get indices >= len(gt.videos)
    start: np.ndarray
    end: np.ndarray
    label: np.ndarray
    score: np.ndarray
    ignored: int = 0
    ignored_labels: list = field(default_factory=list)
    videos: list = field(default_factory=list)  # index -> video id (ground-truth videos first)


def _label_space(obj) -> int | None:
    space = obj.get("label_space") if isinstance(obj, dict) else None
    if space is None:
        return None
    if space not in LABEL_SPACES:
        raise InputError(f"unknown label_space {space!r}; expected one of {sorted(LABEL_SPACES)}")
    return LABEL_SPACES[space]


def _segment(seg, where: str) -> tuple[float, float]:
    """``[start, end]``: exactly two finite numbers (not strings, not booleans) with end >= start."""
    if not (isinstance(seg, (list, tuple)) and len(seg) == 2 and all(_is_number(v) for v in seg)):
        raise InputError(f"{where}, field 'segment': expected [start, end] numbers, got {short(seg)}")
    s, e = float(seg[0]), float(seg[1])
    if not (math.isfinite(s) and math.isfinite(e)):
        raise InputError(f"{where}, field 'segment': expected finite numbers, got {short(seg)}")
    if e < s:
        raise InputError(f"{where}, field 'segment': end {e} is before start {s}")
    return s, e


def _source(obj, default: str) -> str:
    """The file a dict was read from (``mglib.metrics.io`` records it), for error messages."""
    return obj.get("_path", default) if isinstance(obj, dict) else default


def _label_kind(label, where: str) -> type:
    """str or int: the two label types of ActivityNet files (anything else is malformed)."""
    if isinstance(label, str):
        return str
    if isinstance(label, (int, np.integer)) and not isinstance(label, (bool, np.bool_)):
        return int
    raise InputError(f"{where}, field 'label': expected a class name (string) or index (integer), got {short(label)}")


_KIND_NAMES = {str: "a string", int: "an integer"}


def _duration(v: dict, where: str) -> float:
    d = v.get("duration")
    if d is None:
        return math.nan
    if not _is_number(d) or not math.isfinite(d) or d <= 0:
        raise InputError(f"{where}, field 'duration': expected a positive number of seconds, got {short(d)}")
    return float(d)


def ground_truth_table(gt: dict, subset: str | None = None, clean: str | None = "opentad",
                       num_classes: int | None = None, source: str = "ground truth") -> GroundTruth:
    """Read the ActivityNet layout ``{"database": {vid: {"subset", "duration", "annotations"}}}``.

    ``clean``: ``"opentad"`` drops zero-length instances and a same-label instance whose start and end both lie
    within 1e-3 s of an already kept one (in listing order); ``"detad"`` drops only zero-length ones; ``None`` keeps all.
    ``num_classes``: labels must be class indices below it (a known taxonomy), else InputError; without it labels
    are strings or integers, one type per file. A negative length is malformed input everywhere (the official code
    would silently drop it), and so is a segment that is not two numbers or a duration that is not positive.
    """
    source = _source(gt, source)
    if not isinstance(gt, dict) or not isinstance(gt.get("database"), dict):
        raise InputError(f"{source}: expected an object with a 'database' mapping")
    num_classes = num_classes or _label_space(gt)
    videos, vid_col, starts, ends, labels, durations = [], [], [], [], [], []
    class_of: dict = {}
    subsets_seen = set()
    kinds: dict = {}  # label type -> first place it was seen
    for vid, v in gt["database"].items():
        if not isinstance(v, dict):
            raise InputError(f"{source}, video {vid!r}: expected an object with 'annotations'")
        sub = v.get("subset")
        if sub is not None and not isinstance(sub, str):
            raise InputError(f"{source}, video {vid!r}, field 'subset': expected a string, got {short(sub)}")
        subsets_seen.add(sub)
        duration = _duration(v, f"{source}, video {vid!r}")
        if subset is not None and sub != subset:
            continue
        anns = v.get("annotations", [])
        if not isinstance(anns, list):
            raise InputError(f"{source}, video {vid!r}, field 'annotations': expected a list")
        kept: list[tuple[float, float, object]] = []
        near: dict = {}
        for i, ann in enumerate(anns):
            where = f"{source}, video {vid!r}, annotation {i}"
            if not isinstance(ann, dict) or "label" not in ann:
                raise InputError(f"{where}: expected an object with 'segment' and 'label'")
            s, e = _segment(ann.get("segment"), where)
            label = ann["label"]
            if num_classes is not None:
                label = class_index(label, num_classes, where)
            else:
                kind = _label_kind(label, where)
                kinds.setdefault(kind, where)
                if len(kinds) > 1:
                    other = next(w for k, w in kinds.items() if k is not kind)
                    raise InputError(f"{where}, field 'label': {short(label)} is {_KIND_NAMES[kind]} but the label "
                                     f"of {other} is not; expected all class names (strings) or all class indices "
                                     "(integers)")
                label = int(label) if isinstance(label, np.integer) else label
            if clean in ("opentad", "detad") and e - s <= 0:
                continue
            if clean == "opentad":
                # kept instances are binned by (label, start in ms), so a near-duplicate is looked for among the
                # few in neighbouring bins, not among all (quadratic in a video with thousands of instances)
                cell = math.floor(s / 1e-3)
                if any(abs(s - ks) <= 1e-3 and abs(e - ke) <= 1e-3
                       for c in range(cell - 2, cell + 3) for ks, ke in near.get((label, c), ())):
                    continue
                near.setdefault((label, cell), []).append((s, e))
            kept.append((s, e, label))
        if not kept:
            continue
        vi = len(videos)
        videos.append(vid)
        durations.append(duration)
        for s, e, label in kept:
            if label not in class_of:
                class_of[label] = len(class_of)
            vid_col.append(vi)
            starts.append(s)
            ends.append(e)
            labels.append(class_of[label])
    if not labels:
        what = "ground truth" if subset is None else f"ground truth of subset {subset!r}"
        seen = ", ".join(sorted(repr(s) for s in subsets_seen)) or "none"
        raise InputError(f"{source}: no {what} instances to evaluate (subsets present: {seen})")
    return GroundTruth(videos, np.asarray(vid_col, np.int64), np.asarray(starts), np.asarray(ends),
                       np.asarray(labels, np.int64), list(class_of), np.asarray(durations, float), source,
                       next(iter(kinds), None))


_NUMBER_TYPES = {int, float, np.float64, np.float32, np.int64, np.int32}


def prediction_table(preds: dict, gt: GroundTruth, num_classes: int | None = None,
                     source: str = "predictions") -> Predictions:
    """Read ``{"results": {vid: [{"segment", "label", "score"}]}}`` against the classes and videos of ``gt``.

    Segments and scores must be numbers (a string "0.9" or a boolean is an error, not coerced); without a known
    taxonomy, labels must have the type of the ground truth's labels (a "3" never silently misses a 3)."""
    source = _source(preds, source)
    if not isinstance(preds, dict) or not isinstance(preds.get("results"), dict):
        raise InputError(f"{source}: expected an object with a 'results' mapping")
    num_classes = num_classes or _label_space(preds)
    video_index = {v: i for i, v in enumerate(gt.videos)}
    class_of = {c: k for k, c in enumerate(gt.classes)}
    counts, flat = [], []
    for vid, items in preds["results"].items():
        if not isinstance(items, list):
            raise InputError(f"{source}, video {vid!r}: expected a list of predictions")
        counts.append((video_index.setdefault(vid, len(video_index)), len(items)))
        flat.extend(items)
    n = len(flat)
    try:  # fast path: plain comprehensions, one numpy conversion per column
        segs = [p["segment"] for p in flat]
        labels = [p["label"] for p in flat]
        scores = [p["score"] for p in flat]
        if n and set(map(len, segs)) != {2}:
            raise ValueError
        starts, ends = [x[0] for x in segs], [x[1] for x in segs]
        if not set(map(type, starts)) | set(map(type, ends)) | set(map(type, scores)) <= _NUMBER_TYPES:
            raise ValueError  # strings, booleans, lists: found and named by the slow path
        start = np.array(starts, dtype=np.float64)
        end = np.array(ends, dtype=np.float64)
        score = np.array(scores, dtype=np.float64)
        ok = np.isfinite(start) & np.isfinite(end) & np.isfinite(score) & (end >= start)
        bad = None if ok.all() else int(np.argmin(ok))
    except (KeyError, TypeError, IndexError, ValueError):
        bad = next((i for i, p in enumerate(flat) if not _well_formed(p)), None)
        if bad is None:
            raise InputError(f"{source}: malformed predictions (expected 'segment', 'label', 'score' per item)")
    if bad is not None:
        vid, item = _locate(preds, bad)
        where = f"{source}, video {vid!r}, item {item}"
        p = flat[bad]
        if not isinstance(p, dict) or not {"segment", "label", "score"} <= set(p):
            raise InputError(f"{where}: expected an object with 'segment', 'label' and 'score'")
        if not _is_number(p["score"]) or not math.isfinite(float(p["score"])):
            raise InputError(f"{where}, field 'score': expected a finite number, got {short(p['score'])}")
        _segment(p["segment"], where)
        raise InputError(f"{where}: malformed prediction")  # not reached: _segment raised
    video = np.repeat(np.array([c[0] for c in counts], np.int64), [c[1] for c in counts])
    kinds = {}
    for lab in labels:  # usually one or two distinct types: cheap
        t = type(lab)
        if t not in kinds:
            kinds[t] = lab
    for t, lab in kinds.items():
        if t not in (str, int) and not (issubclass(t, np.integer) and not issubclass(t, np.bool_)):
            i = next(i for i, x in enumerate(labels) if type(x) is t)
            vid, item = _locate(preds, i)
            raise InputError(f"{source}, video {vid!r}, item {item}, field 'label': expected a class name (string) "
                             f"or index (integer), got {short(lab)}")
    uniq = set(labels)
    if num_classes is not None:  # a known taxonomy: map (and check) each distinct label once
        canon = {}
        for lab in uniq:
            try:
                canon[lab] = class_index(lab, num_classes, "")
            except InputError:
                i = labels.index(lab)
                vid, item = _locate(preds, i)
                class_index(lab, num_classes, f"{source}, video {vid!r}, item {item}")
        class_of = {lab: class_of.get(c, -1) for lab, c in canon.items()}
    elif gt.label_kind is not None:
        other = next((lab for lab in kinds.values() if (str if isinstance(lab, str) else int) is not gt.label_kind),
                     None)
        if other is not None:
            raise InputError(f"{source}: label {short(other)} is {_KIND_NAMES[str if isinstance(other, str) else int]} "
                             f"but the labels of {gt.source} are {'strings' if gt.label_kind is str else 'integers'}; "
                             "expected the same label type in both files")
    label = np.array([class_of.get(lab, -1) for lab in labels], dtype=np.int64).reshape(n)
    ignored_labels = sorted({str(lab) for lab in uniq if class_of.get(lab, -1) < 0})
    return Predictions(video, start, end, label, score, int((label < 0).sum()), ignored_labels, list(video_index))


def _well_formed(p) -> bool:
    return (isinstance(p, dict) and {"segment", "label", "score"} <= set(p) and _is_pair(p["segment"])
            and _is_number(p["score"]) and math.isfinite(float(p["score"])) and _hashable(p["label"])
            and all(math.isfinite(float(v)) for v in p["segment"]) and p["segment"][1] >= p["segment"][0])


def _hashable(x) -> bool:
    return isinstance(x, (str, int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _is_number(x) -> bool:
    return isinstance(x, (int, float, np.floating, np.integer)) and not isinstance(x, (bool, np.bool_))


def _is_pair(seg) -> bool:
    return isinstance(seg, (list, tuple)) and len(seg) == 2 and all(_is_number(v) for v in seg)


def _locate(preds: dict, flat_index: int) -> tuple[str, int]:
    for vid, items in preds["results"].items():
        if flat_index < len(items):
            return vid, flat_index
        flat_index -= len(items)
    raise IndexError(flat_index)


def rank_order(label: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Indices sorted by class, then score descending; among equal scores the later-listed item comes first.

    This is what the official "stable ascending argsort, reversed" produces; numpy's unstable default argsort agrees
    for small lists and may differ for large, heavily tied inputs (evaluation-protocols.md (a.5)).
    """
    idx = np.arange(len(score))
    return np.lexsort((-idx, -score, label))


def greedy_match(gt: GroundTruth, pr: Predictions, thresholds, protocol: str = "opentad",
                 order: np.ndarray | None = None, max_bytes: int = MATCH_BYTES) -> np.ndarray:
    """Greedy ActivityNet matching for every prediction and threshold at once.

    Returns ``matched`` (P, T): the index of the ground-truth instance each prediction takes at each threshold,
    -1 for a false positive (and for ignored predictions).

    The tIoU of predictions with the ground truth of their group is computed in tiles of at most about
    ``max_bytes`` (rows = predictions, columns = the group's ground truth), never as one predictions x ground-truth
    matrix, so memory stays bounded whatever the input (one video with 2,000 instances of one class against 100k
    predictions included); the tiles give the same choices, bit for bit, as the whole matrix.
    """
    thr = np.asarray(thresholds, dtype=np.float64)  # (T,)
    n, T = len(pr.score), len(thr)
    matched = np.full((n, T), -1, np.int32 if len(gt.label) < 2**31 else np.int64)
    keep = np.nonzero(pr.label >= 0)[0]
    if keep.size == 0:
        return matched
    nv = int(max(pr.video.max(initial=0), gt.video.max(initial=0))) + 1
    gkey = gt.label * nv + gt.video  # (class, video) group of each ground truth
    gsort = np.argsort(gkey, kind="stable")  # groups in listing order inside
    pkey = pr.label[keep] * nv + pr.video[keep]
    nkeys = len(gt.classes) * nv
    if nkeys <= max_bytes // 16:  # dense lookup table of group start/count
        count = np.bincount(gkey, minlength=nkeys)
        first = np.cumsum(count) - count
        lo, cnt = first[pkey], count[pkey]
    else:
        gkey_s = gkey[gsort]
        lo = np.searchsorted(gkey_s, pkey, "left")
        cnt = np.searchsorted(gkey_s, pkey, "right") - lo
    has = cnt > 0  # predictions whose video holds ground truth of their class
    rows, lo, cnt, key = keep[has], lo[has], cnt[has], pkey[has]
    if rows.size == 0:
        return matched
    G = int(cnt.max())
    # tile = (predictions, ground truth of their group); about 64 + 9 T bytes per cell in the matching step
    cells = max(1, max_bytes // (64 + 9 * T))
    cb = min(G, cells)  # columns per tile
    rb = max(1, cells // cb)  # rows per tile

    def tile(idx, c0, c1):
        """tIoU (a, c) of rows ``idx`` with the ground truth c0..c1-1 of their group (-inf past its end), and the
        ground-truth indices (a, c)."""
        j = np.arange(c0, c1)
        valid = j < cnt[idx, None]
        gi = gsort[np.minimum(lo[idx, None] + j, len(gsort) - 1)]
        p = np.stack([pr.start[rows[idx]], pr.end[rows[idx]]], -1)[:, None, :]  # (a, 1, 2)
        io = tiou_rows(p, np.stack([gt.start[gi], gt.end[gi]], -1), protocol)
        io[~valid] = -np.inf
        return io, gi

    # A prediction below the lowest threshold with every ground truth is a false positive whatever happens before it.
    top = np.full(len(rows), -np.inf)
    for r0 in range(0, len(rows), rb):
        idx = np.arange(r0, min(len(rows), r0 + rb))
        for c0 in range(0, G, cb):
            top[idx] = np.maximum(top[idx], tile(idx, c0, min(G, c0 + cb))[0].max(1))
    cand = np.nonzero(top >= thr.min())[0]
    if cand.size == 0:
        return matched
    # Rank of each candidate inside its (class, video) group, in global score order.
    pos = np.empty(n, np.int64)
    pos[rank_order(pr.label, pr.score) if order is None else order] = np.arange(n)
    key = key[cand]
    order = np.lexsort((pos[rows[cand]], key))
    key_o = key[order]
    first = np.r_[True, key_o[1:] != key_o[:-1]]
    depth = np.empty(len(order), np.int64)
    depth[order] = np.arange(len(order)) - np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
    taken = np.zeros((len(gt.label), T), bool)
    by_depth = cand[np.argsort(depth, kind="stable")]
    bounds = np.searchsorted(np.sort(depth), np.arange(depth.max() + 2))
    for k in range(depth.max() + 1):  # one step = the k-th candidate of every group; groups share no ground truth
        step = by_depth[bounds[k]:bounds[k + 1]]
        for r0 in range(0, len(step), rb):  # tiles of one step are independent (disjoint ground truth)
            sel = step[r0:r0 + rb]
            best = np.full((len(sel), T), -1.0)  # best free tIoU >= threshold so far, -1 = none
            best_g = np.zeros((len(sel), T), np.int64)
            for c0 in range(0, G, cb):  # column tiles in listing order: ties go to the later-listed ground truth
                io, gi = tile(sel, c0, min(G, c0 + cb))  # (a, c)
                ok = (io[:, :, None] >= thr) & ~taken[gi]  # (a, c, T)
                val = np.where(ok, io[:, :, None], -1.0)
                j = val.shape[1] - 1 - val[:, ::-1, :].argmax(1)  # (a, T): the last column holding the tile's max
                v = np.take_along_axis(val, j[:, None, :], 1)[:, 0, :]
                better = v >= best
                best = np.where(better, v, best)
                best_g = np.where(better, np.take_along_axis(gi, j, 1), best_g)
            a, t = np.nonzero(best >= 0)  # thresholds are > 0, so a free match has tIoU > 0
            g = best_g[a, t]
            taken[g, t] = True
            matched[rows[sel][a], t] = g
    return matched


def interpolated_ap(prec: np.ndarray, rec: np.ndarray) -> np.ndarray:
    """VOC all-point AP of each column of ``prec``/``rec`` (n, T) -> (T,), padded with (0, 0) and (1, 0)."""
    T = prec.shape[1]
    mprec = np.vstack([np.zeros(T), prec, np.zeros(T)])
    mrec = np.vstack([np.zeros(T), rec, np.ones(T)])
    mprec = np.maximum.accumulate(mprec[::-1], axis=0)[::-1]  # upper envelope
    step = mrec[1:] - mrec[:-1]
    terms = step * mprec[1:]
    return np.array([terms[step[:, t] != 0, t].sum() for t in range(T)])


def class_segments(sorted_labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Start offsets (C+1,) of each class in an array sorted by class."""
    return np.searchsorted(sorted_labels, np.arange(num_classes + 1))


def ap_per_class(gt: GroundTruth, pr: Predictions, matched: np.ndarray, order: np.ndarray | None = None) -> np.ndarray:
    """AP (T, C) from the matching; classes without predictions get 0."""
    C, T = len(gt.classes), matched.shape[1]
    npos = np.bincount(gt.label, minlength=C)
    order = rank_order(pr.label, pr.score) if order is None else order
    order = order[pr.label[order] >= 0]
    tp = matched[order] >= 0  # (P', T)
    seg = class_segments(pr.label[order], C)
    ap = np.zeros((T, C))
    for c in range(C):
        if seg[c + 1] == seg[c]:
            continue
        tpc = np.cumsum(tp[seg[c]:seg[c + 1]], axis=0).astype(np.float64)
        fpc = np.cumsum(~tp[seg[c]:seg[c + 1]], axis=0).astype(np.float64)
        ap[:, c] = interpolated_ap(tpc / (tpc + fpc), tpc / npos[c])
    return ap


def evaluate_tables(gt: GroundTruth, pr: Predictions, tiou=DEFAULT_TIOU, protocol: str = "opentad") -> dict:
    """mAP from already-read tables (the array-level entry point)."""
    thr = _thresholds(tiou)
    order = rank_order(pr.label, pr.score)
    matched = greedy_match(gt, pr, thr, protocol, order)
    ap = ap_per_class(gt, pr, matched, order)  # (T, C)
    m = ap.mean(axis=1)
    return {
        "tiou": list(thr),
        "mAP": [float(x) for x in m],
        "average_mAP": float(m.mean()),
        "per_class_AP": {str(c): [float(x) for x in ap[:, k]] for k, c in enumerate(gt.classes)},
        "ignored_predictions": pr.ignored,
        "ignored_labels": [str(x) for x in pr.ignored_labels],
        "num_classes": len(gt.classes),
        "num_ground_truth": int(len(gt.label)),
        "num_predictions": int(len(pr.score)),
        "protocol": protocol,
    }


def _thresholds(tiou) -> list[float]:
    thr = [float(t) for t in np.atleast_1d(np.asarray(tiou, dtype=np.float64))]
    if not thr or any(not (0.0 < t <= 1.0) for t in thr):
        raise InputError(f"tiou: expected thresholds in (0, 1], got {tiou!r}")
    return thr


def detection_map(gt: dict, preds: dict, tiou=DEFAULT_TIOU, protocol: str = "opentad", subset: str | None = None,
                  level: str = "action", num_classes: int | None = None) -> dict:
    """Detection mAP of ``preds`` against ``gt`` (ActivityNet dict layouts; see :func:`mglib.metrics.io.load_ground_truth`).

    Returns ``{"tiou", "mAP", "average_mAP", "per_class_AP", "ignored_predictions", ...}``. ``level="body"`` maps MA-52
    action labels (0-51) to their 7 body levels on both sides first (OpenTAD cleaning then applies after mapping).
    ``num_classes`` (or a ``label_space`` key in either dict) makes labels outside ``0..num_classes-1`` an input error.
    Chapter: notebooks/02_metrics.
    """
    if protocol not in PROTOCOLS:
        raise InputError(f"protocol: expected one of {PROTOCOLS}, got {protocol!r}")
    if level == "body":
        gt = to_body_level(gt, _source(gt, "ground truth"))
        preds = to_body_level(preds, _source(preds, "predictions"))
        num_classes = None  # the mapped dicts carry label_space ma52-body
    elif level != "action":
        raise InputError(f"level: expected 'action' or 'body', got {level!r}")
    if num_classes is None:
        num_classes = _label_space(gt) or _label_space(preds)
    g = ground_truth_table(gt, subset, clean="opentad" if protocol == "opentad" else None, num_classes=num_classes)
    p = prediction_table(preds, g, num_classes=num_classes)
    out = evaluate_tables(g, p, tiou, protocol)
    out["level"] = level
    return out


def mmad_table3(gt: dict, preds: dict, subset: str | None = None, protocol: str = "opentad") -> dict:
    """The figures of the MMAD paper's Table 3: action and body mAP@0.2/0.5/0.7 and average over 0.1..0.9, and
    ``AVG = (action average + body average) / 2``."""
    out = {}
    for level in ("action", "body"):
        r = detection_map(gt, preds, DEFAULT_TIOU, protocol, subset, level=level, num_classes=52)
        row = {f"mAP@{t}": r["mAP"][r["tiou"].index(t)] for t in TABLE3_TIOU}
        row["average_mAP"] = r["average_mAP"]
        out[level] = row
    out["AVG"] = (out["action"]["average_mAP"] + out["body"]["average_mAP"]) / 2
    return out
