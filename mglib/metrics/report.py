"""The worked examples of chapter 02 (notebooks/02_metrics) as book tables, figures and result boxes.

Every number comes from the metric functions of this package; this module only arranges and formats them (scores in
%, tIoU as a fraction because the thresholds are written that way), so the chapter's cells stay one line long.
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd

from mglib import book
from mglib.metrics import detection as D
from mglib.metrics.detad import error_analysis
from mglib.metrics.online import online_f1
from mglib.metrics.plots import plot_fn_profile, plot_fp_profile, plot_pr_curve
from mglib.metrics.reference import reference_ap
from mglib.metrics.tiou import PROTOCOLS, tiou

# ------------------------------------------------------------------------------------------------ tIoU and matching


def tiou_table(pairs) -> book.Table:
    """tIoU of (prediction, ground truth) pairs under each official evaluator's denominator."""
    rows = [{"prediction": str(list(p)), "ground truth": str(list(g)),
             **{name: tiou(p, g, name) for name in PROTOCOLS}} for p, g in pairs]
    return book.table(pd.DataFrame(rows), "tIoU of four segment pairs under the denominators of the three official "
                      "evaluators (six decimals, to show PointTAD's $+10^{-4}$).", "tiou", decimals=6,
                      headers={"opentad": "OpenTAD", "activitynet": "ActivityNet", "pointtad": "PointTAD"})


def matches(gt: dict, preds: dict, thresholds=(0.3, 0.5, 0.7)) -> pd.DataFrame:
    """One row per prediction, in listing order: its segment, score, best tIoU with a ground truth of its video and
    class, and whether greedy matching makes it a true positive at each threshold."""
    g = D.ground_truth_table(gt)
    p = D.prediction_table(preds, g)
    matched = D.greedy_match(g, p, thresholds)
    best = []
    for v, s, e, c in zip(p.video, p.start, p.end, p.label):
        same = (g.video == v) & (g.label == c)
        best.append(max((tiou([s, e], [gs, ge]) for gs, ge in zip(g.start[same], g.end[same])), default=0.0))
    out = pd.DataFrame({"segment": [f"[{s:g}, {e:g}]" for s, e in zip(p.start, p.end)],
                        "score": [f"{s:g}" for s in p.score], "best tIoU": best})
    for j, t in enumerate(thresholds):
        out[f"TP at {t}"] = matched[:, j] >= 0
    return out


def matching_table(gt: dict, preds: dict, thresholds=(0.3, 0.5, 0.7)) -> book.Table:
    return book.table(matches(gt, preds, thresholds), "Greedy matching of the toy predictions: each prediction's best "
                      "tIoU with a ground truth of its class, and whether it is a true positive (TP) at three "
                      "thresholds.", "matching", decimals=4)


def ranked_hits(gt: dict, preds: dict, threshold: float) -> np.ndarray:
    """True/false-positive flags down the score-ranked list (one class), as the AP computation walks it."""
    g = D.ground_truth_table(gt)
    p = D.prediction_table(preds, g)
    return D.greedy_match(g, p, [threshold])[D.rank_order(p.label, p.score), 0] >= 0


def pr_figure(hits, num_gt: int, ap: float, threshold: float) -> book.Figure:
    ax = plot_pr_curve(hits, num_gt=num_gt, label="toy predictions")
    return book.figure(ax.figure, f"Precision and recall down the ranked toy predictions at tIoU {threshold}, and the "
                       f"interpolated envelope; the area under the envelope is the AP, {100 * ap:.1f} %.", "pr-curve")


def threshold_table(gt: dict, preds: dict) -> book.Table:
    """mAP at each threshold of a literal list and of ``np.linspace(0.1, 0.9, 9)``, side by side."""
    literal = D.detection_map(gt, preds, D.DEFAULT_TIOU)
    spaced = np.linspace(0.1, 0.9, 9)
    lin = D.detection_map(gt, preds, spaced)
    rows = [{"threshold": f"{t}", "np.linspace value": repr(float(s)), "mAP, literal (%)": a, "mAP, linspace (%)": b}
            for t, s, a, b in zip(D.DEFAULT_TIOU, spaced, literal["mAP"], lin["mAP"])]
    rows.append({"threshold": "**average**", "np.linspace value": "", "mAP, literal (%)": literal["average_mAP"],
                 "mAP, linspace (%)": lin["average_mAP"]})
    return book.table(pd.DataFrame(rows), "The same two predictions scored with literal thresholds and with "
                      "`np.linspace(0.1, 0.9, 9)`; only the thresholds differ.", "thresholds",
                      pct=("mAP, literal (%)", "mAP, linspace (%)"))


# ------------------------------------------------------------------------------------------------ random problem


def chance_predictions(gt: dict, preds: dict, seed: int) -> dict:
    """The chance baseline of ``preds``: the same videos, labels and scores, every segment placed at random."""
    rng = np.random.default_rng(seed)
    out = {}
    for vid, items in preds["results"].items():
        dur = gt["database"][vid]["duration"]
        placed = []
        for q in items:
            s = float(rng.uniform(0, dur * 0.9))
            placed.append({**q, "segment": [s, s + float(rng.uniform(0.2, dur * 0.5))]})
        out[vid] = placed
    return {"results": out}


def table3_table(t3: dict) -> book.Table:
    """The MMAD paper's Table-3 columns for each named set of predictions (``{name: mmad_table3(...)}``)."""
    cols = ["mAP@0.2", "mAP@0.5", "mAP@0.7", "average_mAP"]
    rows = [{"predictions": name, "level": level, **{c: t[level][c] for c in cols}}
            for name, t in t3.items() for level in ("action", "body")]
    return book.table(pd.DataFrame(rows), "The MMAD paper's Table-3 figures for the jittered detector and its chance "
                      "baseline, at action level (52 classes) and body level (7 classes).", "table3", pct=cols,
                      headers={c: c.replace("average_mAP", "average mAP") + " (%)" for c in cols})


def avg_box(t3: dict) -> book.ResultBox:
    return book.result_box([f"{name}: AVG = {100 * t['AVG']:.1f} % (action {100 * t['action']['average_mAP']:.1f} %, "
                            f"body {100 * t['body']['average_mAP']:.1f} %)." for name, t in t3.items()],
                           "AVG, the mean of the two levels' average mAP")


# ------------------------------------------------------------------------------------------------ online F1


def online_scores(gt: dict, preds: dict) -> dict:
    """Online F1 under both protocols, and the empty prediction list as the trivial baseline."""
    out = {p: online_f1(gt, preds, p) for p in ("smg", "strict")}
    out["no predictions (baseline)"] = online_f1(gt, {}, "smg")
    return out


def online_table(scores: dict) -> book.Table:
    rows = [{"protocol": name, "hits": r["hits"], "ground truths": r["num_gt"], "predictions": r["num_pred"],
             "precision (%)": r["precision"], "recall (%)": r["recall"], "F1 (%)": r["f1"]}
            for name, r in scores.items()]
    return book.table(pd.DataFrame(rows), "Online F1 of the two-sequence example under the starter-kit rule (`smg`) "
                      "and the one-to-one rule (`strict`).", "online-f1",
                      pct=("precision (%)", "recall (%)", "F1 (%)"))


# ------------------------------------------------------------------------------------------------ error analysis


def errors(gt: dict, preds: dict, chance: dict) -> dict:
    """DETAD analysis at tIoU 0.5 of the detector and of its chance baseline."""
    return {"detector": error_analysis(gt, preds, tiou=(0.5,)), "chance": error_analysis(gt, chance, tiou=(0.5,))}


def fp_figure(ea: dict) -> book.Figure:
    axes = plot_fp_profile(ea)
    return book.figure(axes[0].figure, "False-positive profile of the jittered detector at tIoU 0.5. Left: the type of "
                       "each prediction among the class's top 1G … 10G predictions ($G$ = the class's ground-truth "
                       "count). Right: the gain in average-mAP$_N$ if all errors of one type were removed.", "fp-profile")


def fn_figure(ea: dict) -> book.Figure:
    ax = plot_fn_profile(ea)
    return book.figure(ax.figure, "False-negative rate of the jittered detector at tIoU 0.5, per bucket of coverage, "
                       "length and number of instances (buckets without ground truth are left out).", "fn-profile")


def fn_table(ea: dict) -> book.Table:
    rate = ea["fn_rate"]
    buckets = list(dict.fromkeys(b for row in rate.values() for b in row))
    rows = [{"bucket": b, **{f"{name} (%)": rate[name].get(b) for name in rate}} for b in buckets]
    return book.table(pd.DataFrame(rows), "False-negative rate (%) per bucket; — : no ground truth in the bucket.",
                      "fn-rate", pct=tuple(f"{name} (%)" for name in rate),
                      headers={"num_instances (%)": "instances per video (%)"})


def errors_box(res: dict) -> book.ResultBox:
    return book.result_box(f"Normalised average mAP (average-mAP$_N$) at tIoU 0.5: detector "
                           f"{100 * res['detector']['average_mAP_N']:.1f} %, chance baseline "
                           f"{100 * res['chance']['average_mAP_N']:.1f} %.", "Error analysis")


# ------------------------------------------------------------------------------------------------ speed


def time_matchers(gt: dict, preds: dict) -> dict:
    """Wall time of the vectorised matcher and of the per-prediction reference on the same tables; both must give
    the same mAP bit for bit."""
    g = D.ground_truth_table(gt)
    p = D.prediction_table(preds, g)
    t0 = time.perf_counter()
    fast = D.evaluate_tables(g, p)
    t_fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = reference_ap(g, p, D.DEFAULT_TIOU)
    t_ref = time.perf_counter() - t0
    return {"predictions": len(p.score), "vectorised_s": t_fast, "reference_s": t_ref,
            "identical": bool(np.array_equal(np.array(fast["mAP"]), ref.mean(1)))}


def speed_table(bench: dict) -> book.Table:
    row = {"predictions": bench["predictions"], "vectorised (s)": f"{bench['vectorised_s']:.3f}",
           "per-prediction (s)": f"{bench['reference_s']:.3f}",
           "speed-up": f"{bench['reference_s'] / bench['vectorised_s']:.1f}×", "identical mAP": bench["identical"]}
    return book.table(pd.DataFrame([row]), "Detection mAP over nine thresholds, computed by the vectorised matcher and "
                      "by the per-prediction reference loop, on this machine.", "speed")
