"""Runs, tables and analyses of the classification chapters (``10_classification``, ``11_classification_analysis``).

Every model is trained through :func:`mglib.train.engine.fit` into a run folder under ``results/cache/
classification/`` named by the hash of its resolved config, with ``reuse=True``: a second notebook asking for the
same model (same config, same seed) reads the finished run instead of training again. The two-stream models follow
the paper's recipe: the RGB and pose single-stream models of the same seed are trained first and initialise them.

A study is described by a flat ``config`` dict of ``--set``-style keys (``{"size": "tiny", "optim.lr": 0.05}``),
validated like ``python -m mglib train classification --set ...``.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mglib import paths
from mglib.errors import InputError
from mglib.studies.classification import (METHODS, REPORTED_TABLE2, TORCHVISION, ClassificationConfig,
                                          ClassificationTask, late_fusion, load_predictions)
from mglib.train.config import apply_overrides, to_dict

NUM_CLASSES = 32
TABLE_METHODS = ("stgcn", "poseconv3d_joint", "poseconv3d_limb", "rgb3d", "rgbpose", "rgbpose_cmf", "rgbpose_prm",
                 "rgbpose_cmf_prm", "swin3d_t", "r2plus1d_18")
LABELS = {
    "stgcn": ("ST-GCN", "skeleton (J), keypoints"),
    "poseconv3d_joint": ("PoseConv3D", "skeleton (J)"),
    "poseconv3d_limb": ("PoseConv3D", "skeleton (L)"),
    "rgb3d": ("3D CNN (SlowOnly)", "RGB"),
    "rgbpose": ("RGBPoseConv3D", "RGB & skeleton (J)"),
    "rgbpose_cmf": ("RGBPoseConv3D + CMF", "RGB & skeleton (J)"),
    "rgbpose_prm": ("RGBPoseConv3D + PRM", "RGB & skeleton (J)"),
    "rgbpose_cmf_prm": ("RGBPoseConv3D + CMF + PRM (paper)", "RGB & skeleton (J)"),
    "swin3d_t": ("Video Swin-T (torchvision)", "RGB"),
    "r2plus1d_18": ("R(2+1)D-18 (torchvision)", "RGB"),
    "ensemble": ("score-level ensemble", "RGB & skeleton (J + L)"),
}


# ------------------------------------------------------------------------------------------------ runs

def _fmt(value) -> str:
    return json.dumps(list(value)) if isinstance(value, (list, tuple)) else str(value)


def make_config(method: str, seed: int = 0, config: dict | None = None, data_root: str = "",
                profile: str = "smoke", **extra) -> ClassificationConfig:
    """The resolved config of one run. ``data_root`` empty = the synthetic iMiGUE of ``profile``; a relative
    path is read from the project root. ``extra`` overrides ``config`` (ablations)."""
    if method not in METHODS:
        raise InputError(f"method {method!r}: expected one of {', '.join(METHODS)}")
    root = Path(data_root) if data_root else paths.synthetic_dir("imigue", profile)
    root = root if root.is_absolute() else paths.ROOT / root
    config = {k: v for k, v in (config or {}).items() if k != "fusion_epochs"}  # a train_method setting
    items = {**config, **{k.replace("__", "."): v for k, v in extra.items()}, "method": method, "optim.seed": seed, "data_root": str(root)}
    return apply_overrides(ClassificationConfig(), [f"{k}={_fmt(v)}" for k, v in items.items()], source="config")


def run_dir(cfg: ClassificationConfig) -> Path:
    """Run folder named by the hash of the resolved config: same config, same folder (``fit(reuse=True)``)."""
    digest = hashlib.sha256(json.dumps(to_dict(cfg), sort_keys=True).encode()).hexdigest()[:12]
    return paths.CACHE / "classification" / f"{cfg.method}_s{cfg.optim.seed}_{digest}"


def train(cfg: ClassificationConfig, threads: int = 1) -> dict:
    """Fit one model (or reuse its finished run); the metrics plus ``run_dir``.

    ``threads``: torch CPU threads (0 = leave as is). On a shared CPU one thread is often much faster than two:
    an oversubscribed OpenMP pool spins."""
    from mglib.train.engine import fit

    if threads > 0:
        torch.set_num_threads(threads)
    out = run_dir(cfg)
    metrics = fit(ClassificationTask(cfg), out, reuse=True)
    return {**metrics, "run_dir": out}


def train_method(method: str, seed: int, config: dict, data_root: str = "", profile: str = "smoke",
                 threads: int = 1, **extra) -> dict:
    """Train one method the paper's way: a two-stream model starts from the RGB and joint-pose single-stream
    models of the same seed (trained first, or reused). ``config["fusion_epochs"]`` (if given) sets the epochs of
    the two-stream fine-tuning; it is not a model field."""
    config = dict(config)
    fusion_epochs = config.pop("fusion_epochs", None)
    kw = dict(config=config, data_root=data_root, profile=profile)
    if method.startswith("rgbpose"):
        if fusion_epochs:
            extra = {"optim.epochs": fusion_epochs, **extra}
        rgb = train_method("rgb3d", seed, config, data_root, profile, threads)
        pose = train_method("poseconv3d_joint", seed, config, data_root, profile, threads)
        extra = {**extra, "init_rgb": str(rgb["run_dir"]), "init_pose": str(pose["run_dir"])}
    return train(make_config(method, seed, **kw, **extra), threads)


def skip_reason(method: str) -> str | None:
    """Why a method cannot run here (the torchvision models need the optional dependency), else None."""
    if method in TORCHVISION:
        from mglib.models import tv_video

        ok, why = tv_video.available()
        return None if ok else why
    return None


def _row(method: str, seed: int, m: dict) -> dict:
    row = {"method": method, "seed": seed, "top1": m["top1"], "top5": m["top5"], "macro_f1": m["macro_f1"],
           "top1_rgb": m.get("top1_rgb", np.nan), "top1_pose": m.get("top1_pose", np.nan),
           "run_dir": str(m["run_dir"]), "skipped": ""}
    return row


def run_table(methods, seeds, config: dict, data_root: str = "", profile: str = "smoke", threads: int = 1,
              ensemble: bool = True) -> pd.DataFrame:
    """One row per (method, seed): top-1/top-5/macro-F1 on the validation split (fractions), per-stream top-1 of
    two-stream models and the run folder; a method that cannot run gets one row with ``skipped`` = the reason.
    ``ensemble``: add rows averaging the probabilities of :func:`ensemble_members` (per seed)."""
    rows = []
    for method in methods:
        why = skip_reason(method)
        if why:
            rows.append({"method": method, "seed": np.nan, "skipped": why})
            continue
        for seed in seeds:
            rows.append(_row(method, seed, train_method(method, seed, config, data_root, profile, threads)))
    df = pd.DataFrame(rows)
    if ensemble:
        members = ensemble_members(df)
        if members:
            df = pd.concat([df, ensemble_rows(df, members)], ignore_index=True)
    return df


def ensemble_members(df: pd.DataFrame) -> list[str]:
    """The analogue of the paper's ensemble (RGB model + skeleton J + L model + the paper's model): the full model,
    the limb model and the best available RGB model (Video Swin when torchvision runs, else the 3D CNN)."""
    ran = set(df.loc[df["skipped"] == "", "method"]) if "skipped" in df else set()
    rgb = "swin3d_t" if "swin3d_t" in ran else "rgb3d"
    members = ["rgbpose_cmf_prm", "poseconv3d_limb", rgb]
    return members if all(m in ran for m in members) else []


def fused_probs(run, weights=None) -> tuple[np.ndarray, np.ndarray]:
    """(labels, probabilities) of a finished run; two streams fused with ``weights`` (default: the run's)."""
    pred = load_predictions(run)
    if weights is None:
        cfg = json.loads((Path(run) / "config.json").read_text())["config"]
        weights = cfg["fusion_weights"]
    return pred["label"], late_fusion(pred["probs"], weights)


def _scores(y, p) -> dict:
    from mglib.metrics import classification_report

    rep = classification_report(y, p, NUM_CLASSES)
    return {"top1": rep["top1"], "top5": rep["top5"], "macro_f1": rep["macro_f1"]}


def ensemble_rows(df: pd.DataFrame, members: list[str]) -> pd.DataFrame:
    """Per seed: the mean of the members' (fused) probabilities, scored."""
    rows = []
    for seed, grp in df[df["method"].isin(members) & (df["skipped"] == "")].groupby("seed"):
        probs, y = [], None
        for run in grp["run_dir"]:
            y, p = fused_probs(run)
            probs.append(p)
        rows.append({"method": "ensemble", "seed": seed, **_scores(y, np.mean(probs, 0)),
                     "run_dir": "", "skipped": "", "members": " + ".join(members)})
    return pd.DataFrame(rows)


def _mean_std(values, scale=100.0) -> str:
    v = np.asarray(values, float) * scale
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return ""
    return f"{v.mean():.1f} ± {v.std(ddof=1):.1f}" if len(v) > 1 else f"{v.mean():.1f}"


def summary_table(df: pd.DataFrame) -> pd.DataFrame:
    """Table 2 analogue: mean ± std over seeds (%), chance level, and the paper's number in "reported"."""
    rows = []
    for method in dict.fromkeys(df["method"]):
        grp = df[df["method"] == method]
        name, modality = LABELS[method]
        rep = REPORTED_TABLE2.get(method)
        skipped = grp["skipped"].iloc[0] if "skipped" in grp else ""
        ran = grp[grp["skipped"] == ""] if not skipped else grp.iloc[:0]
        rows.append({"method": name, "modality": modality, "key": method, "seeds": len(ran),
                     "top-1 (%)": f"skipped: {skipped}" if skipped else _mean_std(ran["top1"]),
                     "top-5 (%)": "" if skipped else _mean_std(ran["top5"]),
                     "chance top-1 / top-5 (%)": f"{100 / NUM_CLASSES:.1f} / {500 / NUM_CLASSES:.1f}",
                     "reported top-1 (%)": f"{rep[1]:.2f}" if rep else "",
                     "reported as": rep[0] if rep else ""})
    return pd.DataFrame(rows)


def mean_top1(df: pd.DataFrame) -> dict[str, float]:
    ok = df[df["skipped"] == ""]
    return ok.groupby("method")["top1"].mean().to_dict()


def learning_curves(df: pd.DataFrame) -> pd.DataFrame:
    """Long table (method, seed, epoch, train_loss, val_top1) from the engine's metrics history."""
    rows = []
    for _, r in df[(df["skipped"] == "") & (df["run_dir"] != "")].iterrows():
        hist = json.loads((Path(r["run_dir"]) / "metrics.json").read_text())["history"]
        for h in hist:
            rows.append({"method": r["method"], "seed": r["seed"], "epoch": h["epoch"],
                         "train_loss": h["train_loss"], "val_top1": h["eval"]["top1"] if h["eval"] else np.nan})
    return pd.DataFrame(rows)


def plot_learning_curves(curves: pd.DataFrame):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    mean = curves.groupby(["method", "epoch"])[["train_loss", "val_top1"]].mean().reset_index()
    for method, g in mean.groupby("method", sort=False):
        axes[0].plot(g["epoch"], g["train_loss"], label=method)
        axes[1].plot(g["epoch"], 100 * g["val_top1"], label=method)
    axes[1].axhline(100 / NUM_CLASSES, color="k", ls=":", label="chance")
    axes[0].set(xlabel="epoch", ylabel="train loss (mean over seeds)")
    axes[1].set(xlabel="epoch", ylabel="val top-1 (%)")
    axes[1].legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------------ findings

def compare(df: pd.DataFrame, with_: str, without: str) -> dict:
    """Mean top-1 difference (percentage points) of ``with_`` over ``without``, paired by seed, and its spread."""
    ok = df[df["skipped"] == ""]
    a = ok[ok["method"] == with_].set_index("seed")["top1"]
    b = ok[ok["method"] == without].set_index("seed")["top1"]
    d = 100 * (a - b).dropna()
    std = float(d.std(ddof=1)) if len(d) > 1 else float("nan")
    return {"diff": float(d.mean()), "std": std, "n": len(d), "wins": int((d > 0).sum())}


def finding(df: pd.DataFrame, with_: str, without: str, what: str) -> str:
    """One sentence on whether ``what`` helps, generated from the measured numbers."""
    c = compare(df, with_, without)
    if c["n"] == 0:
        return f"{what}: not measured."
    spread = f" (paired over {c['n']} seeds, {c['wins']} won; std {c['std']:.1f} pp)" if c["n"] > 1 else \
        " (one seed)"
    head = f"{what}: {LABELS[with_][0]} vs {LABELS[without][0]}: {c['diff']:+.1f} pp top-1{spread}"
    if c["n"] < 2:
        return head + " — too few seeds to call; see the cpu profile (3 seeds)."
    if abs(c["diff"]) <= c["std"]:
        return head + f" — within the seed spread: the paper's gain from {what} is not reproduced here."
    if c["diff"] > 0:
        return head + f" — {what} helps on this data, as the paper reports."
    return head + f" — {what} does not help on this data; the paper's finding does not reproduce here."


def majority_baseline(config: dict, data_root: str = "", profile: str = "smoke") -> float:
    """Validation top-1 of always predicting the most frequent training class (a trivial baseline)."""
    task = ClassificationTask(make_config("poseconv3d_joint", 0, config, data_root, profile))
    train_anns, val_anns = task.load()[:2]
    top = np.bincount([a["label"] for a in train_anns], minlength=NUM_CLASSES).argmax()
    return float(np.mean([a["label"] == top for a in val_anns]))


# ------------------------------------------------------------------------------------------------ analysis

def confusion(run, weights=None) -> np.ndarray:
    from mglib.metrics.classification import confusion_matrix

    y, p = fused_probs(run, weights)
    return confusion_matrix(y, p.argmax(1), NUM_CLASSES)


def confused_pairs(conf: np.ndarray, top: int = 8) -> pd.DataFrame:
    """The most frequent off-diagonal (true, predicted) pairs, with the fraction of the true class they take and
    whether the synthetic generator made the pair ambiguous on purpose (pose-ambiguous / RGB-cue pairs)."""
    from mglib.data.gestures import AMBIGUOUS_PAIRS, RGB_CUE_PAIRS
    from mglib.taxonomy import IMIGUE_CLASSES

    amb = {frozenset(p) for p in AMBIGUOUS_PAIRS["imigue"]}
    cue = {frozenset(p) for p in RGB_CUE_PAIRS["imigue"]}
    off = conf.astype(float).copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(-off, axis=None, kind="stable")[:top]
    rows = []
    for flat in order:
        t, p = divmod(int(flat), conf.shape[1])
        if off[t, p] == 0:
            break
        pair = frozenset((t, p))
        rows.append({"true": t, "predicted": p, "true name": IMIGUE_CLASSES[t],
                     "predicted name": IMIGUE_CLASSES[p], "count": int(conf[t, p]),
                     "share of true class": round(conf[t, p] / max(1, conf[t].sum()), 3),
                     "generator": "pose-ambiguous" if pair in amb else "RGB-cue" if pair in cue else ""})
    return pd.DataFrame(rows)


def load_config(run) -> ClassificationConfig:
    """The config a finished run was trained with (from its ``config.json``)."""
    path = Path(run) / "config.json"
    if not path.exists():
        raise InputError(f"{paths.relative(path)}: missing; train the run first")
    d = json.loads(path.read_text())["config"]
    items = {f"optim.{k}": v for k, v in d.pop("optim").items()} | d
    return apply_overrides(ClassificationConfig(), [f"{k}={_fmt(v)}" for k, v in items.items()],
                           source=paths.relative(path))


@torch.no_grad()
def features(run) -> dict:
    """Validation features of a trained run: per stream the pooled backbone vector (B, C) and, for a PRM model,
    the refined embedding F' (B, D) and the class prototypes (K, D)."""
    from torch.utils.data import DataLoader

    from mglib.train.engine import load_model

    task = ClassificationTask(load_config(run))
    model = load_model(task, run)
    _, val = task.datasets()
    labels, pooled, refined = [], None, None
    for batch in DataLoader(val, batch_size=16, collate_fn=task.collate):
        b = batch["label"].shape[0]
        feats = model(batch, return_features=True)["features"]  # per stream (B*clips, C, ...)
        labels.append(batch["label"].numpy())
        vecs = [f.mean(dim=tuple(range(2, f.dim()))).view(b, -1, f.shape[1]).mean(1).numpy() for f in feats]
        pooled = _append(pooled, vecs)
        if model.prm is not None:
            refined = _append(refined, [prm.embed(f).view(b, -1, prm.cfg.dim).mean(1).numpy()
                                        for prm, f in zip(model.prm, feats)])
    res = {"label": np.concatenate(labels), "streams": list(model.streams),
           "pooled": [np.concatenate(x) for x in pooled]}
    if refined is not None:
        res["refined"] = [np.concatenate(x) for x in refined]
        res["prototypes"] = [prm.prototypes.numpy().copy() for prm in model.prm]
    return res


def _append(acc, arrays):
    acc = [[] for _ in arrays] if acc is None else acc
    for a, x in zip(acc, arrays):
        a.append(x)
    return acc


def pca2(x: np.ndarray, extra: np.ndarray | None = None):
    """2-D PCA of ``x`` (N, C) (centred on x); ``extra`` rows (e.g. prototypes) are projected on the same axes."""
    mu = x.mean(0)
    _, s, vt = np.linalg.svd(x - mu, full_matrices=False)
    proj = (x - mu) @ vt[:2].T
    explained = float((s[:2] ** 2).sum() / max((s ** 2).sum(), 1e-12))
    return proj, (None if extra is None else (extra - mu) @ vt[:2].T), explained


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
    return round(sb / max(sw, 1e-12), 4)


def ablation_table(variants: dict[str, dict], seeds, config: dict, data_root: str = "", profile: str = "smoke",
                   threads: int = 1) -> pd.DataFrame:
    """``variants``: name -> {"method": ..., extra config fields}. One row per (variant, seed)."""
    rows = []
    for name, spec in variants.items():
        spec = dict(spec)
        method = spec.pop("method")
        for seed in seeds:
            m = train_method(method, seed, config, data_root, profile, threads, **spec)
            rows.append({"variant": name, **_row(method, seed, m)})
    return pd.DataFrame(rows)


def fusion_table(df: pd.DataFrame, method: str = "rgbpose_cmf_prm",
                 ratios=((1, 1), (2, 1), (1, 2), (1, 0), (0, 1))) -> pd.DataFrame:
    """Top-1/top-5 (%) of a two-stream model's stored predictions re-fused with RGB : pose weights, mean over seeds."""
    runs = df[(df["method"] == method) & (df["skipped"] == "")]["run_dir"]
    rows = []
    for w in ratios:
        s = [_scores(*fused_probs(r, w)) for r in runs]
        rows.append({"RGB : pose": f"{w[0]}:{w[1]}", "seeds": len(s),
                     "top-1 (%)": _mean_std([v["top1"] for v in s]), "top-5 (%)": _mean_std([v["top5"] for v in s])})
    return pd.DataFrame(rows)
