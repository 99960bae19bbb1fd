"""Detectors that never look at a video, fitted on the real MMA-52 training annotations, and two oracles.

Of a scored video these detectors see only its duration. Their scores tie across the videos of a class (and of a
duration bin); the evaluator breaks ties by listing order, later-listed first, and predictions are listed video by
video in the order of the annotation file. Chapter: notebooks/05_mma52_real.

- ``whole_video``: every action class on the whole video, scored by its training frequency;
- ``typical_segments``: one segment per action class, of the class's median length (s) at its median relative
  centre, scored by the class's training frequency;
- ``templates``: per class and duration bin, up to K segments on a grid (fractions of the video, or seconds), chosen
  greedily on the training annotations to cover the most instances over the tIoU thresholds, each scored by the
  share of training videos it hits (its estimated precision). Fitted to the labels of the level it is scored at
  (action classes, or body levels); grid, K and bins are tuned by cross-validation within train.

Action-level predictions are scored at body level through the evaluator's mapping, as the paper scores detectors.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from mglib.data import mma52
from mglib.metrics import DEFAULT_TIOU, to_body_level
from mglib.metrics.detection import Predictions, evaluate_tables, ground_truth_table
from mglib.taxonomy import ACTION_TO_BODY

NUM_CLASSES = {"action": 52, "body": 7}
THRESHOLDS = np.asarray(DEFAULT_TIOU)
GRIDS = {"relative": np.linspace(0.0, 1.0, 11), "seconds": np.arange(0.0, 15.01, 1.0)}


@dataclass
class Split:
    """One split's annotations as columns, in seconds (frames / the video's fps)."""
    videos: list  # video ids, in file order
    duration: np.ndarray  # (V,)
    video: np.ndarray  # (N,) index into videos
    start: np.ndarray  # (N,)
    end: np.ndarray  # (N,)
    label: np.ndarray  # (N,) action class

    @classmethod
    def of(cls, videos: list[mma52.MMAVideo]) -> "Split":
        idx = np.repeat(np.arange(len(videos)), [len(v.instances) for v in videos])
        inst = np.concatenate([np.asarray(v.instances).reshape(-1, 3) for v in videos])
        fps = np.array([v.fps for v in videos])[idx]
        return cls([v.video_id for v in videos], np.array([v.duration for v in videos]), idx,
                   inst[:, 0] / fps, inst[:, 1] / fps, inst[:, 2].astype(np.int64))

    def labels(self, level: str) -> np.ndarray:
        return ACTION_TO_BODY[self.label] if level == "body" else self.label


@dataclass
class Detections:
    """Predictions as columns, listed video by video in the split's order (the order ties are broken by)."""
    video: np.ndarray  # (P,) index into the split's videos
    start: np.ndarray
    end: np.ndarray
    label: np.ndarray
    score: np.ndarray
    level: str = "action"  # the label space: action classes, or body levels

    @classmethod
    def listed(cls, video, start, end, label, score, level="action") -> "Detections":
        o = np.argsort(video, kind="stable")
        return cls(video[o], start[o], end[o], label[o], score[o], level)

    def __len__(self) -> int:
        return len(self.score)


def class_frequency(train: Split) -> np.ndarray:
    """Share of each action class among the training instances."""
    return np.bincount(train.label, minlength=NUM_CLASSES["action"]) / len(train.label)


def _every_class(split: Split):
    V, C = len(split.videos), NUM_CLASSES["action"]
    return np.repeat(np.arange(V), C), np.tile(np.arange(C), V)


def whole_video(train: Split, split: Split) -> Detections:
    vid, label = _every_class(split)
    return Detections.listed(vid, np.zeros(len(vid)), split.duration[vid], label, class_frequency(train)[label])


def typical_segments(train: Split, split: Split) -> Detections:
    freq = class_frequency(train)
    length, centre = np.zeros(len(freq)), np.full(len(freq), 0.5)
    for c in np.nonzero(freq)[0]:
        m = train.label == c
        length[c] = np.median(train.end[m] - train.start[m])
        centre[c] = np.median((train.start[m] + train.end[m]) / 2 / train.duration[train.video[m]])
    vid, label = _every_class(split)
    T = split.duration[vid]
    half = np.minimum(length[label], T) / 2
    mid = np.clip(centre[label] * T, half, T - half)
    keep = freq[label] > 0
    return Detections.listed(vid[keep], (mid - half)[keep], (mid + half)[keep], label[keep], freq[label][keep])


# ---------------------------------------------------------------------------------------------- templates
@dataclass(frozen=True)
class TemplateParams:
    coords: str = "relative"  # grid in fractions of the video ("relative") or in seconds ("seconds")
    templates: int = 4  # K: segments per class and duration bin
    bins: int = 1  # duration bins (quantiles of the training durations)
    level: str = "action"  # the labels fitted: action classes or body levels


@dataclass
class Templates:
    params: TemplateParams
    edges: np.ndarray  # (bins + 1,) duration bin edges, the outer ones infinite
    table: np.ndarray  # (R, 6) rows [bin, class, rank, a, b, score]; a, b in the grid's coordinates

    def top(self, k: int) -> "Templates":
        """The same fit keeping the first k picks (greedy picks do not depend on how many follow)."""
        return Templates(replace(self.params, templates=k), self.edges, self.table[self.table[:, 2] < k])


def _candidates(coords: str) -> np.ndarray:
    g = GRIDS[coords]
    i, j = np.triu_indices(len(g), 1)
    return np.stack([g[i], g[j]], 1)  # (M, 2)


def _place(a, b, T, coords: str):
    """Grid segments [a, b] on videos of duration T, in seconds."""
    return (a * T, b * T) if coords == "relative" else (np.minimum(a, T), np.minimum(b, T))


_POPCOUNT = np.array([bin(i).count("1") for i in range(1 << len(THRESHOLDS))], np.int64)


def _greedy(cand, coords, T, s, e, group, n_videos, K) -> list[tuple[int, float]]:
    """Up to K candidates, each the one hitting the most still-uncovered instances (one per video and threshold, as
    the evaluator's matching allows); returns (candidate, hits / (videos x thresholds)) in pick order.

    T, s, e: (G,) video duration, start and end of one class's instances, sorted by video; group: (G,) video rank.
    Threshold sets are bit masks (bit t: tIoU >= THRESHOLDS[t]), so one pass covers all thresholds.
    """
    cs, ce = _place(cand[:, :1], cand[:, 1:], T, coords)  # (M, G)
    inter = np.clip(np.minimum(ce, e) - np.maximum(cs, s), 0, None)
    union = np.maximum(ce, e) - np.minimum(cs, s)
    iou = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)  # (M, G)
    met = (1 << (iou[:, :, None] >= THRESHOLDS).sum(-1)) - 1  # (M, G) thresholds are sorted: the met ones are a prefix
    first = np.r_[0, np.nonzero(np.diff(group))[0] + 1]  # first instance of each video
    covered = np.zeros(len(s), np.int64)  # (G,) thresholds at which the instance is already taken
    bit = 1 << np.arange(len(THRESHOLDS))
    picks = []
    for _ in range(K):
        hits = _POPCOUNT[np.bitwise_or.reduceat(met & ~covered, first, axis=1)].sum(1)  # (M,) over videos, thresholds
        m = int(np.argmax(hits))  # ties: the first candidate on the grid
        if hits[m] == 0:
            break
        picks.append((m, hits[m] / (len(THRESHOLDS) * n_videos)))
        # in each video and at each threshold the pick takes the uncovered instance it overlaps most (the first of ties)
        val = np.where((met[m] & ~covered)[:, None] & bit, iou[m][:, None], -1.0)  # (G, T)
        take = (val == np.maximum.reduceat(val, first, axis=0)[group]) & (val >= 0)
        rank = np.cumsum(take, axis=0)
        before = np.vstack([np.zeros((1, take.shape[1]), np.int64), rank])[first][group]
        covered |= ((take & (rank - before == 1)) * bit).sum(1)
    return picks


def _bin(duration, edges) -> np.ndarray:
    return np.clip(np.searchsorted(edges, duration, side="right") - 1, 0, len(edges) - 2)


def fit_templates(train: Split, params: TemplateParams) -> Templates:
    edges = np.quantile(train.duration, np.linspace(0, 1, params.bins + 1))
    edges[0], edges[-1] = -np.inf, np.inf
    cand = _candidates(params.coords)
    vbin = _bin(train.duration, edges)
    labels = train.labels(params.level)
    rows = []
    for b in range(params.bins):
        n_videos = int((vbin == b).sum())
        for c in range(NUM_CLASSES[params.level]):
            m = np.nonzero((labels == c) & (vbin[train.video] == b))[0]
            if len(m) == 0:
                continue
            m = m[np.argsort(train.video[m], kind="stable")]
            group = np.unique(train.video[m], return_inverse=True)[1]
            picks = _greedy(cand, params.coords, train.duration[train.video[m]], train.start[m], train.end[m],
                            group, n_videos, params.templates)
            rows += [(b, c, r, cand[k, 0], cand[k, 1], p) for r, (k, p) in enumerate(picks)]
    return Templates(params, edges, np.asarray(rows, np.float64).reshape(-1, 6))


def predict_templates(model: Templates, split: Split, present: list | None = None) -> Detections:
    """Every video gets the templates of its duration bin. ``present`` (per video, the classes in its ground truth)
    keeps only those classes: the classification-solved oracle."""
    vbin = _bin(split.duration, model.edges)
    t = model.table
    pair = vbin[:, None] == t[None, :, 0]  # (V, R): template rows of each video's bin
    if present is not None:
        allowed = np.zeros((len(split.videos), NUM_CLASSES[model.params.level]), bool)
        for v, cls in enumerate(present):
            allowed[v, list(cls)] = True
        pair &= allowed[:, t[:, 1].astype(np.int64)]
    vid, row = np.nonzero(pair)
    T = split.duration[vid]
    s, e = _place(t[row, 3], t[row, 4], T, model.params.coords)
    return Detections(vid, s, e, t[row, 1].astype(np.int64), t[row, 5], model.params.level)


@dataclass(frozen=True)
class Search:
    """The cross-validated grid of the template detector (the score: OpenTAD average mAP at the fitted level)."""
    coords: tuple = ("relative", "seconds")
    bins: tuple = (1, 3)
    templates: tuple = (1, 4, 16)
    folds: int = 3
    seed: int = 0  # the assignment of training videos to folds


def cross_validate(videos: list[mma52.MMAVideo], level: str, search: Search) -> list[dict]:
    """One row per fold and grid point: its average mAP on the held-out training videos."""
    fold = np.random.default_rng(search.seed).permutation(len(videos)) % search.folds
    rows = []
    for f in range(search.folds):
        fit_on = Split.of([v for v, k in zip(videos, fold) if k != f])
        held = [v for v, k in zip(videos, fold) if k == f]
        held_split, scorer = Split.of(held), Scorer(held, ("opentad",), (level,))
        for coords in search.coords:
            for bins in search.bins:
                model = fit_templates(fit_on, TemplateParams(coords, max(search.templates), bins, level))
                for k in search.templates:
                    r = scorer(predict_templates(model.top(k), held_split), ("opentad",), (level,))
                    rows.append({"level": level, "fold": f, "coords": coords, "bins": bins, "templates": k,
                                 "average_mAP": r["opentad"][level]["average_mAP"]})
    return rows


def best_params(rows: list[dict]) -> TemplateParams:
    """The grid point with the highest mean over folds (ties: the first in grid order, the simpler)."""
    keys = list(dict.fromkeys((r["coords"], r["bins"], r["templates"]) for r in rows))
    means = [np.mean([r["average_mAP"] for r in rows if (r["coords"], r["bins"], r["templates"]) == k]) for k in keys]
    coords, bins, k = keys[int(np.argmax(means))]
    return TemplateParams(coords, k, bins, rows[0]["level"])


# ---------------------------------------------------------------------------------------------- oracles
def localisation_oracle(train: Split, split: Split, level: str = "action", length_bins: int = 8) -> Detections:
    """Localisation solved: each distinct ground-truth segment, predicted as every class of ``level``, scored by the
    class's share among training instances of similar length (``length_bins`` quantile bins, add-one smoothing)."""
    C = NUM_CLASSES[level]
    length = train.end - train.start
    edges = np.quantile(length, np.linspace(0, 1, length_bins + 1))
    edges[0], edges[-1] = -np.inf, np.inf
    counts = np.ones((length_bins, C))
    np.add.at(counts, (_bin(length, edges), train.labels(level)), 1)
    prob = counts / counts.sum(1, keepdims=True)  # (bins, C)
    seg = np.unique(np.stack([split.video, split.start, split.end], 1), axis=0)  # distinct segments, by video
    vid, s, e = (np.repeat(seg[:, k], C) for k in range(3))
    label = np.tile(np.arange(C), len(seg))
    return Detections.listed(vid.astype(np.int64), s, e, label, prob[_bin(e - s, edges), label], level)


def classes_present(split: Split, level: str = "action") -> list[set]:
    out = [set() for _ in split.videos]
    for v, c in zip(split.video, split.labels(level)):
        out[v].add(int(c))
    return out


# ---------------------------------------------------------------------------------------------- scoring
class Scorer:
    """The project's evaluator (``evaluate_tables``) on one split's ground truth, read once per protocol and level,
    so that many prediction sets are scored without building result dicts."""

    def __init__(self, videos: list[mma52.MMAVideo], protocols=("opentad", "pointtad"), levels=("action", "body")):
        gt = {**mma52.to_activitynet(videos), "label_space": "ma52"}
        self.videos = [v.video_id for v in videos]
        self.tables = {}
        for level in levels:
            g = to_body_level(gt, "ground truth") if level == "body" else gt
            for protocol in protocols:
                clean = "opentad" if protocol == "opentad" else None
                self.tables[protocol, level] = ground_truth_table(g, clean=clean)

    def predictions(self, det: Detections, protocol: str, level: str) -> Predictions:
        """``det`` as the evaluator's prediction table (what ``prediction_table`` makes of the same results dict)."""
        if det.level not in (level, "action"):
            raise ValueError(f"{det.level}-level predictions cannot be scored at {level} level")
        g = self.tables[protocol, level]
        raw = ACTION_TO_BODY[det.label] if det.level != level else det.label
        lut = np.full(NUM_CLASSES[level], -1, np.int64)
        lut[np.asarray(g.classes, np.int64)] = np.arange(len(g.classes))
        label = lut[raw]
        known = {v: i for i, v in enumerate(g.videos)}  # videos without ground truth get the next indices
        ids = np.array([known.setdefault(v, len(known)) for v in self.videos], np.int64)
        return Predictions(ids[det.video], det.start, det.end, label, det.score, int((label < 0).sum()),
                           sorted({str(c) for c in raw[label < 0]}), list(known))

    def __call__(self, det: Detections, protocols=("opentad", "pointtad"), levels=("action", "body")) -> dict:
        """{protocol: {level: evaluator result}}."""
        return {p: {lv: evaluate_tables(self.tables[p, lv], self.predictions(det, p, lv), DEFAULT_TIOU, p)
                    for lv in levels} for p in protocols}


def results_dict(det: Detections, videos: list[str]) -> dict:
    """``det`` as ActivityNet results (the layout of ``python -m mglib eval detection``), videos in listing order."""
    out: dict = {v: [] for v in videos}
    for i in range(len(det)):
        out[videos[det.video[i]]].append({"segment": [float(det.start[i]), float(det.end[i])],
                                          "label": int(det.label[i]), "score": float(det.score[i])})
    return {"results": out, "label_space": "ma52" if det.level == "action" else "ma52-body"}


# ---------------------------------------------------------------------------------------------- the chapter's runs
BASELINES = ("whole_video", "typical_segments", "templates")
ORACLES = ("localisation_solved", "classification_solved")
LEVELS = ("action", "body")


def evaluate(data: dict, search: Search) -> dict:
    """Fit every blind detector on the real train annotations and score it, and the oracles, on val.

    Returns ``{"scores": {name: {protocol: {level: evaluator result}}}, "params": {level: TemplateParams},
    "cv": [rows of cross_validate]}``. The template detector and the oracles are fitted per level.
    """
    train, val = Split.of(data["train"]), Split.of(data["val"])
    scorer = Scorer(data["val"])
    cv = [row for level in LEVELS for row in cross_validate(data["train"], level, search)]
    params = {level: best_params([r for r in cv if r["level"] == level]) for level in LEVELS}
    scores = {"whole_video": scorer(whole_video(train, val)), "typical_segments": scorer(typical_segments(train, val))}
    per_level = {name: {} for name in ("templates", *ORACLES)}
    for level in LEVELS:
        model = fit_templates(train, params[level])
        dets = {"templates": predict_templates(model, val),
                "localisation_solved": localisation_oracle(train, val, level),
                "classification_solved": predict_templates(model, val, classes_present(val, level))}
        for name, det in dets.items():
            per_level[name][level] = scorer(det, levels=(level,))
    for name, by_level in per_level.items():
        scores[name] = {p: {lv: by_level[lv][p][lv] for lv in LEVELS} for p in ("opentad", "pointtad")}
    return {"scores": scores, "params": params, "cv": cv}
