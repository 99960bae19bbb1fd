"""Everything chapters 10-12 show: tables, figures and sentences generated from the recorded runs (no training).

Scores are fractions in the runs and in the records, percent in the book. Comparisons between methods are paired
by seed (:func:`mglib.book.paired_difference`); their sentences come from the intervals (:func:`mglib.book.verdict`).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from mglib import book
from mglib.studies.classification.config import TORCHVISION
from mglib.studies.classification.task import NUM_CLASSES, fused

LABELS = {
    "stgcn": ("ST-GCN", "Skeleton (J), keypoints"),
    "poseconv3d": ("PoseConv3D", "Skeleton (J)"),
    "poseconv3d_prm": ("PoseConv3D + PRM", "Skeleton (J)"),
    "rgb3d": ("SlowOnly 3D CNN (RGB pathway)", "RGB"),
    "swin3d_t": ("Video Swin-T (torchvision)", "RGB"),
    "r2plus1d_18": ("R(2+1)D-18 (torchvision)", "RGB"),
    "rgbpose": ("RGBPoseConv3D", "RGB & Skeleton (J)"),
    "rgbpose_cmf": ("RGBPoseConv3D + CMF", "RGB & Skeleton (J)"),
    "rgbpose_prm": ("RGBPoseConv3D + PRM", "RGB & Skeleton (J)"),
    "rgbpose_cmf_prm": ("RGBPoseConv3D + CMF + PRM (the paper's method)", "RGB & Skeleton (J)"),
}
# Table 2 of Chen et al. 2024 (chen2024prototype), top-1 % on the iMiGUE test set, rows quoted as printed
REPORTED_TABLE2 = [
    ("TSM [13]", "RGB", "58.77"), ("VSwin-T [14]", "RGB", "59.97"), ("VSwin-S [14]", "RGB", "57.83"),
    ("VSwin-B [14]", "RGB", "61.73"), ("ST-GCN [15]", "Skeleton (J)", "46.38"),
    ("ST-GCN++ [16]", "Skeleton (J)", "49.56"), ("StrongAug [16]", "Skeleton (J)", "53.13"),
    ("AAGCN [17]", "Skeleton (J)", "54.73"), ("CTR-GCN [18]", "Skeleton (J)", "53.02"),
    ("DG-STGCN [19]", "Skeleton (J)", "49.56"), ("PoseConv3D [3]", "Skeleton (J)", "61.11"),
    ("Li et al. (MiGA'23 1st) [20]", "Skeleton (J + L)", "64.12"), ("EHCT (MiGA'23 2nd) [21]", "Skeleton (L)", "63.02"),
    ("Ours (PoseConv3D)", "Skeleton (J)", "67.91"), ("Ours (Ensemble Model)", "RGB & Skeleton (J + L)", "70.25"),
]
# our method -> the Table 2 row it stands beside (the paper labels its own model "Ours (PoseConv3D)", Skeleton (J))
REPORTED_ROW = {"stgcn": "ST-GCN [15]", "poseconv3d": "PoseConv3D [3]", "swin3d_t": "VSwin-T [14]",
                "rgbpose_cmf_prm": "Ours (PoseConv3D)"}
# (a, b, what a adds): the paired comparisons of chapter 10
COMPARISONS = [("rgbpose", "poseconv3d", "RGB + pose fusion"), ("rgbpose_cmf", "rgbpose", "CMF"),
               ("rgbpose_prm", "rgbpose", "PRM"), ("rgbpose_cmf_prm", "rgbpose", "CMF + PRM"),
               ("rgbpose_cmf_prm", "poseconv3d", "RGB + CMF + PRM")]


# names in the columns of wide tables (the captions say which full names they stand for)
SHORT = {"stgcn": "ST-GCN", "poseconv3d": "PoseConv3D", "poseconv3d_prm": "PoseConv3D + PRM", "rgb3d": "RGB 3D CNN",
         "swin3d_t": "Swin-T", "r2plus1d_18": "R(2+1)D-18", "rgbpose": "RGBPose", "rgbpose_cmf": "RGBPose + CMF",
         "rgbpose_prm": "RGBPose + PRM", "rgbpose_cmf_prm": "RGBPose + CMF + PRM"}
SHORT_NOTE = "RGBPose = RGBPoseConv3D; RGBPose + CMF + PRM is the paper's method"


def name(method: str) -> str:
    return LABELS[method][0]


def _by_method(runs: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {m: g.sort_values("seed") for m, g in runs.groupby("method", sort=False)}


def _pm(values) -> str:
    return book.pm(*book.mean_std(values))


# ------------------------------------------------------------------------------------------------ the model


def architecture_figure() -> book.Figure:
    """RGBPoseConv3D with CMF at its two lateral points and PRM on each stream's features, drawn box by box."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.2))
    ax.set(xlim=(0, 10), ylim=(0, 5.4))
    ax.axis("off")
    colours = {"rgb": "#dbe9f6", "pose": "#fde3c8", "cmf": "#d9f0d3", "prm": "#ead7ef", "out": "#eeeeee"}

    d = book.Diagram(ax, colours)
    box, arrow = d.box, d.arrow

    rgb_y, pose_y = 4.3, 1.1
    box(0.75, rgb_y, "RGB clip\n$T$ frames", "rgb")
    box(0.75, pose_y, "pose heatmaps\n$sT$ frames", "pose")
    xs = [2.35, 4.55, 6.75]
    for i, x in enumerate(xs):
        box(x, rgb_y, f"RGB stage {i + 2}", "rgb")
        box(x, pose_y, f"pose stage {i + 2}", "pose")
    for x0, x1 in zip([0.75] + xs[:-1], xs):
        arrow((x0 + 0.65, rgb_y), (x1 - 0.65, rgb_y))
        arrow((x0 + 0.65, pose_y), (x1 - 0.65, pose_y))
    for k, x in enumerate(xs[:2]):  # the two lateral points: CMF (eqs. 1-3), laterals (eq. 4)
        box(x, 2.7, f"CMF {k + 1}\neqs. 1-3", "cmf", w=1.0, h=0.75)
        arrow((x, rgb_y - 0.4), (x, 3.08), style="<|-|>")
        arrow((x, pose_y + 0.4), (x, 2.32), style="<|-|>")
        arrow((x + 0.6, rgb_y - 0.4), (xs[k + 1] - 0.6, pose_y + 0.4), ls="--")
        arrow((x + 0.6, pose_y + 0.4), (xs[k + 1] - 0.6, rgb_y - 0.4), ls="--")
    for y, kind in ((rgb_y, "rgb"), (pose_y, "pose")):
        box(8.25, y, "pool + FC\nsoftmax", kind, w=1.1)
        arrow((xs[-1] + 0.65, y), (8.25 - 0.55, y))
        box(8.25, 2.7 + (0.55 if kind == "rgb" else -0.55), f"PRM ({kind})\neqs. 5-10", "prm", w=1.1, h=0.7)
        arrow((xs[-1] + 0.5, y + (-0.4 if kind == "rgb" else 0.4)),
              (8.25 - 0.55, 2.7 + (0.55 if kind == "rgb" else -0.55)))
    box(9.5, 2.7, "1 : 1\nscore\nfusion", "out", w=0.8, h=1.1)
    arrow((8.8, rgb_y), (9.45, 3.25))
    arrow((8.8, pose_y), (9.45, 2.15))
    ax.text(3.45, 0.25, "dashed: lateral connections (eq. 4)", ha="center", fontsize=9, color="0.3")
    ax.text(8.25, 0.25, "PRM adds $\\alpha\\,\\mathcal{L}_{PR}$ to the loss in training only", ha="center",
            fontsize=9, color="0.3")
    fig.tight_layout()
    return book.figure(fig, "RGBPoseConv3D with the cross-modal fusion module (CMF) at its two lateral points and "
                       "the prototypical refinement module (PRM) on the final features of each stream. Dashed: the "
                       "lateral connections, which read the features before fusion.", "cls-architecture")


# ------------------------------------------------------------------------------------------------ chapter 10

def torchvision_note(runs: pd.DataFrame) -> str | None:
    """One sentence when the torchvision rows could not run here, else None."""
    if set(TORCHVISION) & set(runs["method"]):
        return None
    from mglib.models import tv_video

    return (f"The Video Swin-T and R(2+1)D-18 rows are left out: they need torchvision, which does not import here "
            f"({tv_video.available()[1]}).")


def reported_table() -> book.Table:
    df = pd.DataFrame(REPORTED_TABLE2, columns=["Method", "Modality", "Top-1 Accuracy (%), reported"])
    return book.table(df, "Table 2 of Chen et al. (2024) as printed (reported: real iMiGUE, test "
                      "set, the authors' full-size models). The paper reports one number for its own model, "
                      "\"Ours (PoseConv3D)\", Skeleton (J), and none for CMF or PRM alone.", "reported-table2")


def summary_table(runs: pd.DataFrame, baseline: dict) -> book.Table:
    """The Table 2 analogue: validation top-1 of the selected epoch, test top-1 and macro-F1 of those weights
    (mean ± std over seeds), chance and the majority class beside them, the matching reported row."""
    rows = []
    for method, g in _by_method(runs).items():
        rep = dict((r[0], r[2]) for r in REPORTED_TABLE2).get(REPORTED_ROW.get(method, ""), "")
        rows.append({"method": SHORT[method], "val top-1 (%)": _pm(g["val_top1"]), "test top-1 (%)": _pm(g["test_top1"]),
                     "test macro-F1 (%)": _pm(g["test_macro_f1"]), "reported top-1 (%)": rep})
    rows.append({"method": "chance (uniform)", "val top-1 (%)": 1 / NUM_CLASSES, "test top-1 (%)": 1 / NUM_CLASSES,
                 "test macro-F1 (%)": None, "reported top-1 (%)": ""})
    rows.append({"method": "majority class of train", "val top-1 (%)": baseline["val"],
                 "test top-1 (%)": baseline["test"], "test macro-F1 (%)": None, "reported top-1 (%)": ""})
    seeds = sorted(set(len(g) for g in _by_method(runs).values()))
    return book.table(pd.DataFrame(rows), "Micro-gesture classification on the synthetic iMiGUE, cross-subject split. "
                      "Validation top-1 is that of the epoch the engine kept (chosen on validation); every test column "
                      f"scores those weights on the test subjects. Mean ± std over seeds ({'/'.join(map(str, seeds))} per row). "
                      "The reported column quotes the paper's Table 2 row of the same model (ST-GCN [15], PoseConv3D "
                      "[3], and \"Ours (PoseConv3D)\" beside the paper's method; real data, not comparable in level). "
                      f"{SHORT_NOTE}; RGB 3D CNN = the SlowOnly RGB pathway.",
                      "cls-table2",
                      pct=("val top-1 (%)", "test top-1 (%)", "test macro-F1 (%)"), best=("test top-1 (%)",))


def differences(runs: pd.DataFrame, comparisons=COMPARISONS, column: str = "test_top1") -> pd.DataFrame:
    """Paired (by seed) differences a − b of ``column`` with 95 % t intervals, for the pairs both present."""
    by = _by_method(runs)
    rows = []
    for a, b, what in comparisons:
        if a not in by or b not in by:
            continue
        ga, gb = by[a].set_index("seed")[column], by[b].set_index("seed")[column]
        seeds = sorted(set(ga.index) & set(gb.index))
        d = book.paired_difference(ga[seeds], gb[seeds])
        rows.append({"a": a, "b": b, "what": what, **d})
    return pd.DataFrame(rows)


def differences_table(diffs: pd.DataFrame, caption: str, label: str) -> book.Table:
    df = pd.DataFrame({"comparison": [f"{SHORT[a]} − {SHORT[b]}" for a, b in zip(diffs["a"], diffs["b"])],
                       "effect of": diffs["what"], "seeds": diffs["n"],
                       "mean (points)": [f"{100 * m:+.1f}" for m in diffs["diff_mean"]],
                       "95 % CI (points)": [_ci(lo, hi) for lo, hi in zip(diffs["ci95_low"], diffs["ci95_high"])]})
    return book.table(df, f"{caption} {SHORT_NOTE}.", label)


def _ci(lo, hi) -> str:
    return "—" if lo is None or pd.isna(lo) else f"[{100 * lo:+.1f}, {100 * hi:+.1f}]"


def verdicts(diffs: pd.DataFrame) -> list[str]:
    return [book.verdict(name(a), name(b), d) for a, b, d in zip(diffs["a"], diffs["b"], diffs.to_dict("records"))]


def best_on_validation(runs: pd.DataFrame) -> tuple[str, float, float]:
    """(method with the highest mean validation top-1, its mean validation top-1, its mean test top-1)."""
    means = runs.groupby("method")[["val_top1", "test_top1"]].mean()
    best = means["val_top1"].idxmax()
    return best, float(means.loc[best, "val_top1"]), float(means.loc[best, "test_top1"])


def findings(runs: pd.DataFrame, diffs: pd.DataFrame, baseline: dict) -> book.ResultBox:
    best, val, test = best_on_validation(runs)
    items = [f"Chosen on validation, the best model is {name(best)} ({100 * val:.1f} % validation top-1); on the "
             f"test subjects it scores {100 * test:.1f} % top-1, against {100 * baseline['test']:.1f} % for always "
             f"answering the most frequent training class and {100 / NUM_CLASSES:.1f} % for chance."]
    items += verdicts(diffs)
    items.append("The paper reports PoseConv3D at 61.11 and its own model at 67.91 top-1 on the real test set "
                 "(Table 2), one gain of 6.80 points for CMF, PRM and the RGB stream together; it reports no gain for "
                 "either module alone.")
    return book.result_box(items, "What the runs show (test split)")


def key_results(runs: pd.DataFrame, diffs: pd.DataFrame, baseline: dict) -> book.ResultBox:
    """The chapter's closing box: the selected model against the trivial baseline, and the whole method's verdict."""
    best, _, test = best_on_validation(runs)
    whole = diffs[(diffs["a"] == "rgbpose_cmf_prm") & (diffs["b"] == "poseconv3d")].to_dict("records")
    items = [f"The model chosen on validation, {name(best)}, scores {100 * test:.1f} % test top-1, "
             f"{100 * (test - baseline['test']):+.1f} points from the majority-class baseline."]
    items += [book.verdict(name(r["a"]), name(r["b"]), r) for r in whole]
    return book.result_box(items, "Key results of this run (test split)")


def curves(runs: pd.DataFrame) -> pd.DataFrame:
    """Long table (method, seed, epoch, train_loss, val_top1) from the engine's history of each run."""
    rows = []
    for r in runs.itertuples():
        hist = json.loads((Path(r.run_dir) / "metrics.json").read_text())["history"]
        rows += [{"method": r.method, "seed": r.seed, "epoch": h["epoch"], "train_loss": h["train_loss"],
                  "val_top1": h["eval"]["top1"]} for h in hist if h["eval"]]
    return pd.DataFrame(rows)


def plateau(curves: pd.DataFrame, last: int = 5) -> dict:
    """{method: :func:`mglib.book.plateau` of its per-seed validation top-1 curves}, judged over the last ``last``
    epochs."""
    out = {}
    for method, g in curves.groupby("method", sort=False):
        per_seed = [s.sort_values("epoch")["val_top1"].to_numpy() for _, s in g.groupby("seed")]
        out[method] = book.plateau(per_seed, last)
    return out


def plateau_sentence(p: dict, methods=("stgcn", "poseconv3d", "rgb3d"), last: int = 5) -> list[str]:
    """One sentence per single-stream model (the two-stream models are fine-tuned for a few epochs from them)."""
    judged = {m: t for m, t in p.items() if m in methods and t["trend"] != "short"}
    if not judged:
        return ["Too few epochs to judge whether validation accuracy has levelled off."]
    return [book.plateau_sentence(name(m), t, last, "top-1") for m, t in judged.items()]


def curves_figure(curves: pd.DataFrame, baseline: dict) -> book.Figure:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    mean = curves.groupby(["method", "epoch"])["val_top1"].mean().reset_index()
    for method, g in mean.groupby("method", sort=False):
        ax = axes[0] if method in ("stgcn", "poseconv3d", "rgb3d", *TORCHVISION) else axes[1]
        ax.plot(g["epoch"], 100 * g["val_top1"], marker=".", label=name(method))
    for ax, title in zip(axes, ("single-stream models", "two-stream fine-tuning (from the single streams)")):
        ax.axhline(100 * baseline["val"], color="0.5", ls="--", lw=1, label="majority class")
        ax.axhline(100 / NUM_CLASSES, color="k", ls=":", lw=1, label="chance")
        ax.set(xlabel="epoch", title=title)
        ax.legend(fontsize=8, loc="lower right")
    axes[0].set_ylabel("validation top-1 (%)")
    fig.tight_layout()
    return book.figure(fig, "Validation top-1 after each epoch, mean over seeds.", "cls-curves")


def pair_accuracy(runs: pd.DataFrame, pairs: dict, split: str = "test") -> pd.DataFrame:
    """Per method and designed pair (a, b): accuracy on the clips of a and b, pooled over seeds, and how many of
    them went to the other class of the pair. ``pairs``: {group: [(a, b), ...]} (``data.designed_pairs``)."""
    rows = []
    for method, g in _by_method(runs).items():
        preds = [fused(r, split=split) for r in g["run_dir"]]
        for group, plist in pairs.items():
            for a, b in plist:
                y = np.concatenate([p[0] for p in preds])
                yhat = np.concatenate([p[1].argmax(1) for p in preds])
                m = np.isin(y, (a, b))
                swap = ((y == a) & (yhat == b)) | ((y == b) & (yhat == a))
                rows.append({"method": method, "group": group, "pair": (a, b), "clips": int(m.sum()),
                             "correct": int((yhat[m] == y[m]).sum()), "swapped": int(swap.sum())})
    return pd.DataFrame(rows)


def _class(c: int) -> str:
    from mglib.taxonomy import IMIGUE_CODES

    return IMIGUE_CODES[c]


def pair_table(acc: pd.DataFrame, caption: str, label: str) -> book.Table:
    """Accuracy (%) per method (rows) on each pair's clips (columns), with the number of clip predictions."""
    cols = {}
    for (group, pair), g in acc.groupby(["group", "pair"], sort=False):
        head = f"{_class(pair[0])}/{_class(pair[1])} {group.replace('_', '-')}"
        cols[head] = {r.method: (f"{100 * r.correct / r.clips:.0f}: {r.correct}/{r.clips} ({r.swapped})"
                                 if r.clips else "no clips") for r in g.itertuples()}
    df = pd.DataFrame(cols)
    df.insert(0, "method", [SHORT[m] for m in df.index])
    return book.table(df.reset_index(drop=True), f"{caption} {SHORT_NOTE}.", label)


def metrics(runs: pd.DataFrame, diffs: pd.DataFrame, baseline: dict) -> dict:
    """The recorded numbers (fractions): ``top1_<method>`` (mean validation top-1), ``test/top1_<method>_mean``
    and ``_std``, ``diff/<a>-<b>/mean``, ``/ci95_low``, ``/ci95_high``, the baselines and the best method."""
    out = {"chance": 1 / NUM_CLASSES, "majority/val": round(baseline["val"], 4),
           "majority/test": round(baseline["test"], 4)}
    for method, g in _by_method(runs).items():
        mean, std = book.mean_std(g["test_top1"])
        out[f"top1_{method}"] = round(float(g["val_top1"].mean()), 4)
        out[f"test/top1_{method}_mean"] = round(mean, 4)
        out[f"test/top1_{method}_std"] = None if std is None else round(std, 4)
    for d in diffs.to_dict("records"):
        key = f"diff/{d['a']}-{d['b']}"
        out[f"{key}/mean"] = round(d["diff_mean"], 4)
        out[f"{key}/ci95_low"] = None if d["ci95_low"] is None else round(d["ci95_low"], 4)
        out[f"{key}/ci95_high"] = None if d["ci95_high"] is None else round(d["ci95_high"], 4)
    best, _, test = best_on_validation(runs)
    out["best_on_val"], out["test/top1_best_on_val"] = best, round(test, 4)
    return out


# ------------------------------------------------------------------------------------------------ chapter 11

def confusion(runs: pd.DataFrame, method: str, split: str = "test") -> np.ndarray:
    """Confusion counts of ``method`` summed over its seeds (row = true class)."""
    from mglib.metrics.classification import confusion_matrix

    conf = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
    for run in runs.loc[runs["method"] == method, "run_dir"]:
        y, p = fused(run, split=split)
        conf += confusion_matrix(y, p.argmax(1), NUM_CLASSES)
    return conf


def confusion_figure(conf: np.ndarray, method: str) -> book.Figure:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    im = ax.imshow(conf / np.maximum(conf.sum(1, keepdims=True), 1), cmap="Blues", vmin=0, vmax=1)
    ax.set(xlabel="predicted class (0-based)", ylabel="true class (0-based)")
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of the true class")
    return book.figure(fig, f"Test confusions of {name(method)}, summed over seeds, rows normalised.", "cls-confusion")


def confused_pairs(conf: np.ndarray, pairs: dict, top: int = 8) -> book.Table:
    """The most frequent off-diagonal (true, predicted) cells, and whether the generator designed the pair."""
    from mglib.taxonomy import IMIGUE_CLASSES

    kinds = {frozenset(p): g for g, plist in pairs.items() if g != "candidates" for p in plist}
    off = conf.astype(float).copy()
    np.fill_diagonal(off, 0)
    rows = []
    for flat in np.argsort(-off, axis=None, kind="stable")[:top]:
        t, p = divmod(int(flat), NUM_CLASSES)
        if off[t, p] == 0:
            break
        rows.append({"true": f"{_class(t)} {IMIGUE_CLASSES[t]}", "predicted": _class(p),
                     "clips": int(conf[t, p]), "share (%)": conf[t, p] / max(1, conf[t].sum()),
                     "designed": kinds.get(frozenset((t, p)), "").replace("_", "-")})
    return book.table(pd.DataFrame(rows), "The most frequent test confusions (summed over seeds; the predicted class by "
                      "its code). Share: of the true class's clips; designed: the pair is one the generator designed.", "cls-confused",
                      pct=("share (%)",))


def separation(x: np.ndarray, y: np.ndarray) -> float | None:
    """Between-class over within-class scatter (trace ratio) of L2-normalised features: higher = classes apart.
    Classes with fewer than two samples have no within-class scatter and are left out; None if none is left."""
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    keep = np.isin(y, [k for k in np.unique(y) if (y == k).sum() > 1])
    x, y = x[keep], y[keep]
    if len(x) == 0:
        return None
    mu = x.mean(0)
    sb = sw = 0.0
    for k in np.unique(y):
        xk = x[y == k]
        sb += len(xk) * float(((xk.mean(0) - mu) ** 2).sum())
        sw += float(((xk - xk.mean(0)) ** 2).sum())
    return sb / max(sw, 1e-12)


def separation_sentences(sep: dict) -> list[str]:
    return [f"{name(m)}: pose-stream separation {v:.3f}." if v is not None else
            f"{name(m)}: separation undefined (no class has two test clips)." for m, v in sep.items()]


def pca2(x: np.ndarray, extra: np.ndarray | None = None):
    """2-D PCA of ``x`` (N, C) (centred on x); ``extra`` rows (e.g. prototypes) are projected on the same axes."""
    mu = x.mean(0)
    _, s, vt = np.linalg.svd(x - mu, full_matrices=False)
    proj = (x - mu) @ vt[:2].T
    explained = float((s[:2] ** 2).sum() / max((s ** 2).sum(), 1e-12))
    return proj, (None if extra is None else (extra - mu) @ vt[:2].T), explained


def embedding_figure(without: dict, with_prm: dict) -> book.Figure:
    """Pose-stream test features of a model without PRM and of the full model, and the full model's refined
    embedding F' with its prototypes, on their first two principal components."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(9.5, 3.2))
    panels = [(without["pooled"][-1], None, "without PRM: pooled features"),
              (with_prm["pooled"][-1], None, "with PRM: pooled features"),
              (with_prm["refined"][-1], with_prm["prototypes"][-1], "with PRM: F' and prototypes (stars)")]
    for ax, (x, protos, title), f in zip(axes, panels, (without, with_prm, with_prm)):
        xy, pp, var = pca2(x, protos)
        ax.scatter(xy[:, 0], xy[:, 1], c=f["label"], cmap="tab20", s=6, vmin=0, vmax=NUM_CLASSES - 1)
        if pp is not None:
            ax.scatter(pp[:, 0], pp[:, 1], c=np.arange(NUM_CLASSES), cmap="tab20", marker="*", s=50,
                       edgecolors="k", linewidths=0.4)
        ax.set_title(f"{title}\n(PCA, {100 * var:.0f} % of variance)", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return book.figure(fig, "Pose-stream test features of one seed, coloured by class.", "cls-embeddings")


def ablation_differences(abl: pd.DataFrame) -> pd.DataFrame:
    """Per variant: the variant minus the run it modifies, paired by seed, on test top-1."""
    rows = []
    for variant, g in abl.groupby("variant", sort=False):
        base = g[g["arm"] == "base"].set_index("seed")["test_top1"]
        var = g[g["arm"] == "variant"].set_index("seed")["test_top1"]
        seeds = sorted(set(base.index) & set(var.index))
        rows.append({"variant": variant, "method": g["method"].iloc[0], "base": _pm(base[seeds]),
                     "variant top-1": _pm(var[seeds]), **book.paired_difference(var[seeds], base[seeds])})
    return pd.DataFrame(rows)


VARIANT_SHORT = {"cmf_time": "CMF over time", "prm_all": "PRM terms for all", "alpha_0.05": "α = 0.05", "alpha_1": "α = 1",
                 "rho_0.5": "ρ = 0.5", "rho_0.99": "ρ = 0.99"}
VARIANT_TEXT = {"cmf_time": "CMF attending over time tokens (this project's reading of the reference code)",
                "prm_all": "PRM terms for every sample of a class (FR-Head's V0), not TP only",
                "alpha_0.05": "PRM loss weight α = 0.05 (default 0.2)", "alpha_1": "PRM loss weight α = 1 (default 0.2)",
                "rho_0.5": "prototype momentum ρ = 0.5 (default 0.9)", "rho_0.99": "prototype momentum ρ = 0.99 (default 0.9)"}


def ablation_table(d: pd.DataFrame) -> book.Table:
    df = pd.DataFrame({"variant": [VARIANT_SHORT[v] for v in d["variant"]],
                       "modifies": [SHORT[m] for m in d["method"]],
                       "default (%)": d["base"], "variant (%)": d["variant top-1"],
                       "mean (points)": [f"{100 * m:+.1f}" for m in d["diff_mean"]],
                       "95 % CI (points)": [_ci(lo, hi) for lo, hi in zip(d["ci95_low"], d["ci95_high"])]})
    seeds = "/".join(str(n) for n in sorted(set(d["n"])))
    return book.table(df, "Ablations: test top-1 of the default and of the variant that modifies it, and their "
                      f"difference paired by seed ({seeds} seeds). The variants: {'; '.join(VARIANT_TEXT[v] for v in d['variant'])}. "
                      f"{SHORT_NOTE}.", "cls-ablations")


def ablation_findings(d: pd.DataFrame) -> list[str]:
    return [book.verdict(VARIANT_TEXT[r["variant"]], f"the default {name(r['method'])}", r)
            for r in d.to_dict("records")]


def analysis_key_results(separation: dict, d: pd.DataFrame) -> book.ResultBox:
    """Chapter 11's closing box: the feature separation with and without PRM (one seed, so no verdict), and the CMF
    token ablation's verdict."""
    a, b = separation.get("rgbpose_cmf_prm"), separation.get("rgbpose_cmf")
    items = ["The separation of the test features is undefined here, so PRM's effect on them cannot be judged."
             if a is None or b is None else
             f"The separation of the test features is {a:.2f} with PRM and {b:.2f} without ("
             + ("higher" if a > b else "not higher") + " with PRM) on one seed; one seed gives no interval, so this "
             "is an observation, not a measured effect of PRM."]
    items += [book.verdict(VARIANT_TEXT[r["variant"]], f"the default {name(r['method'])}", r)
              for r in d.to_dict("records") if r["variant"] == "cmf_time"]
    return book.result_box(items, "Key results of this run (test split)")


def fusion_table(runs: pd.DataFrame, method: str = "rgbpose_cmf_prm",
                 ratios=((1, 1), (2, 1), (1, 2), (1, 0), (0, 1))) -> book.Table:
    """Test top-1 (%) of a two-stream model's stored test probabilities re-fused with RGB : pose weights."""
    runs_m = runs.loc[runs["method"] == method, "run_dir"]
    rows = []
    for w in ratios:
        acc = [float((y == p.argmax(1)).mean()) for y, p in (fused(r, w) for r in runs_m)]
        rows.append({"RGB : pose": f"{w[0]}:{w[1]}", "seeds": len(acc), "test top-1 (%)": _pm(acc)})
    return book.table(pd.DataFrame(rows), f"Score fusion of {name(method)}'s two streams (1:0 = the RGB stream "
                      "alone, 0:1 = the pose stream alone; the paper fuses 1:1).", "cls-fusion",
                      best=("test top-1 (%)",))


# ------------------------------------------------------------------------------------------------ chapter 12

SWEEP_GAINS = {"cue": [("rgbpose", "poseconv3d"), ("rgbpose_cmf", "poseconv3d"), ("rgbpose_cmf", "rgbpose")],
               "pairs": [("poseconv3d_prm", "poseconv3d")]}
SWEEP_AXIS = {"cue": "share of classes whose cue is RGB-only", "pairs": "distance of the ambiguous pairs (x the body's)"}


def _pair_scores(run: str, pairs: list) -> float:
    """Test top-1 restricted to the clips of the classes in ``pairs``."""
    y, p = fused(run)
    m = np.isin(y, [c for pair in pairs for c in pair])
    return float((p.argmax(1)[m] == y[m]).mean()) if m.any() else float("nan")


def sweep_scores(sw: pd.DataFrame) -> pd.DataFrame:
    """The sweep rows plus ``pair_top1``: test top-1 on the classes the sweep changes (the twin candidates for the
    RGB-only share, the ambiguous pairs for the distance)."""
    from mglib.studies.classification.data import designed_pairs

    out = sw.copy()
    group = {"cue": "candidates", "pairs": "ambiguous"}
    out["pair_top1"] = [_pair_scores(r.run_dir, designed_pairs(r.data)[group[r.sweep]]) for r in sw.itertuples()]
    return out


def sweep_gains(scores: pd.DataFrame) -> pd.DataFrame:
    """Per sweep, level and (a, b): paired differences a − b over seeds, on all classes and on the changed ones."""
    rows = []
    for (sweep, level), g in scores.groupby(["sweep", "level"], sort=False):
        by = {m: x.set_index("seed") for m, x in g.groupby("method")}
        for a, b in SWEEP_GAINS[sweep]:
            seeds = sorted(set(by[a].index) & set(by[b].index))
            for col, on in (("test_top1", "all classes"), ("pair_top1", "changed classes")):
                rows.append({"sweep": sweep, "level": level, "a": a, "b": b, "on": on,
                             **book.paired_difference(by[a].loc[seeds, col], by[b].loc[seeds, col])})
    return pd.DataFrame(rows)


def sweep_table(scores: pd.DataFrame, sweep: str) -> book.Table:
    """One row per method, one column per level; each cell is test top-1 on all classes / on the changed ones."""
    s = scores[scores["sweep"] == sweep]
    rows = []
    for method, g in s.groupby("method", sort=False):
        for col, on in (("test_top1", "all"), ("pair_top1", "changed")):
            rows.append({"method": SHORT[method], "classes": on,
                         **{f"{level:.2f}": _pm(x[col]) for level, x in g.groupby("level", sort=True)}})
    what = "the twin-candidate classes" if sweep == "cue" else "the classes of the ambiguous pairs"
    return book.table(pd.DataFrame(rows), f"Sweep of the {SWEEP_AXIS[sweep]} (columns): test top-1 (%) on all "
                      f"classes and on {what} (changed), mean ± std over seeds; chance is {100 / 12:.1f} % on 12 "
                      f"classes. {SHORT_NOTE}; RGB 3D CNN = the SlowOnly RGB pathway.", f"sweep-{sweep}")


def cue_table(sw: pd.DataFrame, level: float) -> book.Table:
    """At one level of the RGB-only sweep: per method, pooled over seeds, how many test clips of the prop-wearing
    (twin) classes it assigns to some prop-wearing class, against the same rate for the other clips. Pose cannot
    see the prop; a stream that can separates the two rates."""
    from mglib.studies.classification.data import designed_pairs

    s = sw[(sw["sweep"] == "cue") & (sw["level"] == level)]
    twins = [t for t, _ in designed_pairs(s["data"].iloc[0])["rgb_cue"]]
    rows = []
    for method, g in s.groupby("method", sort=False):
        y, pred = (np.concatenate(x) for x in zip(*((f[0], f[1].argmax(1)) for f in map(fused, g["run_dir"]))))
        hit, other = np.isin(y, twins), ~np.isin(y, twins)
        rows.append({"method": name(method), "seeds": len(g),
                     "prop clips put in a prop class (%)": float(np.isin(pred[hit], twins).mean()),
                     "other clips put in a prop class (%)": float(np.isin(pred[other], twins).mean())})
    return book.table(pd.DataFrame(rows), f"Does the model see the prop? Share {level:.2f}: {len(twins)} of the 12 "
                      "classes wear a prop that only RGB shows; test clips pooled over seeds.", "sweep-props",
                      pct=("prop clips put in a prop class (%)", "other clips put in a prop class (%)"))


def sweep_figure(gains: pd.DataFrame) -> book.Figure:
    import matplotlib.pyplot as plt

    sweeps = list(dict.fromkeys(gains["sweep"]))
    fig, axes = plt.subplots(1, len(sweeps), figsize=(4.6 * len(sweeps), 3.4), squeeze=False)
    for ax, sweep in zip(axes[0], sweeps):
        g = gains[(gains["sweep"] == sweep) & (gains["on"] == "changed classes")]
        for k, ((a, b), x) in enumerate(g.groupby(["a", "b"], sort=False)):
            x = x.sort_values("level")
            lo = [np.nan if v is None else v for v in x["ci95_low"]]
            hi = [np.nan if v is None else v for v in x["ci95_high"]]
            err = 100 * np.abs(np.array([x["diff_mean"] - np.array(lo, float), np.array(hi, float) - x["diff_mean"]]))
            ax.errorbar(x["level"] + 0.008 * k, 100 * x["diff_mean"], yerr=err, marker="o", capsize=3,
                        label=f"{name(a)} − {name(b)}")
        ax.axhline(0, color="k", lw=0.8)
        ax.set(xlabel=SWEEP_AXIS[sweep], ylabel="gain on the changed classes (points)")
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return book.figure(fig, "Gains on the classes each sweep changes, paired by seed, with 95 % t intervals "
                       "(no bar: one seed).", "sweeps")


def sweep_findings(gains: pd.DataFrame) -> list[str]:
    items = []
    for r in gains[gains["on"] == "changed classes"].to_dict("records"):
        head = f"At {SWEEP_AXIS[r['sweep']]} {r['level']:.2f}, on the changed classes: "
        items.append(head + book.verdict(name(r["a"]), name(r["b"]), r))
    return items


def sweep_key_results(gains: pd.DataFrame) -> book.ResultBox:
    """Chapter 12's closing box: each gain at the extreme level of its sweep (most RGB-only classes, closest pairs)."""
    g = gains[gains["on"] == "changed classes"]
    items = []
    for sweep, pick in (("cue", max), ("pairs", min)):
        s = g[g["sweep"] == sweep]
        if len(s):
            level = pick(s["level"])
            items += [f"At {SWEEP_AXIS[sweep]} {level:.2f}: " + book.verdict(name(r["a"]), name(r["b"]), r)
                      for r in s[s["level"] == level].to_dict("records")]
    return book.result_box(items, "Key results of this run (test split, changed classes)")


def sweep_metrics(gains: pd.DataFrame) -> dict:
    out = {}
    for r in gains.to_dict("records"):
        on = "all" if r["on"] == "all classes" else "changed"
        key = f"sweep/{r['sweep']}/{r['level']:g}/diff/{r['a']}-{r['b']}/{on}"
        out[f"{key}/mean"] = round(r["diff_mean"], 4)
        out[f"{key}/ci95_low"] = None if r["ci95_low"] is None else round(r["ci95_low"], 4)
        out[f"{key}/ci95_high"] = None if r["ci95_high"] is None else round(r["ci95_high"], 4)
    return out
