"""Study 2 report: the tables, figures, recorded metrics and generated findings of chapters 04, 20, 21 and 22.

Everything here reads the dicts returned by the ``run_*`` functions of :mod:`mglib.studies.online.task`; nothing
trains. Scores are fractions in the records and % in the book (``mglib.book``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from mglib import book
from mglib.studies.online.config import ABLATION_FIELDS, INTERVAL, MIXERS

# Paper 000 (Liu et al. 2024, arXiv 2407.04490): F1 in % on the real SMG test set. Table 1 = the MiGA 2024 track-2
# leaderboard (the paper's entry is PointTAD + Mamba-MHSA); Table 2 = its ablations (other settings at Nq 48, Ns 30,
# β 128, L 4, M 2). Shown only in columns labelled "reported".
REPORTED = {
    "table1": {"NPU-MUCIS (1st)": 27.57, "HFUT-VUT: PointTAD + Mamba-MHSA (2nd)": 14.34, "JDY203 (3rd)": 9.28},
    "table2": {"num_points": {25: 11.33, 27: 13.48, 30: 14.34, 31: 13.49, 32: 13.43, 35: 9.81},
               "window": {16: 7.33, 32: 8.45, 64: 9.27, 128: 14.34, 200: 7.95},
               "num_layers": {2: 8.3, 3: 11.96, 4: 14.34, 5: 10.01},
               "num_mamba": {1: 8.42, 2: 14.34, 3: 9.22}},
}
# MMA-52 PointTAD baseline, official MAC-2024 settings (VUT-HFUT/MAC_2024_baseline, architectures.md §1)
OFFICIAL_MMA52 = {"lr": 2e-4, "backbone lr": 1e-5, "weight_decay": 1e-2, "batch_size": 8, "num_queries": 24,
                  "num_points": 30, "num_layers": 2, "window": 48, "interval": 4, "decode_fps": 25, "epochs": 50}
STREAM_NAMES = {"skeleton": "skeleton → causal TCN", "rgb": "RGB → I3D-style encoder"}


def _f1s(runs: list[dict], key: str = "test") -> list[float]:
    return [r[key]["f1"] for r in runs if r["status"] == "ok"]


# ----------------------------------------------------------------------------------------------- chapter 04
def streams_table(streams: dict, chosen: str):
    def beside(value, majority):
        return "—" if value is None else f"{value * 100:.1f} ({majority * 100:.1f})"

    rows = [{"stream": STREAM_NAMES[name] + (" (used)" if name == chosen else ""), "causal": s["causal"],
             "params": s["params"], "clip (majority)": beside(s.get("test_clip_acc"), s["majority"]),
             "gesture? (majority)": beside(s.get("test_actionness_acc"), s.get("test_actionness_majority")),
             "1-NN": s["nn_acc"]} for name, s in streams.items()]
    return book.table(pd.DataFrame(rows), "The feature streams on the test subjects (36–40), in %. Clip: accuracy of "
                      "the pretrained clip classifier over the 17 gesture classes, beside the test rate of the most "
                      "frequent training class. Gesture?: accuracy of gesture vs background, beside its majority rate. "
                      "1-NN: a probe of the frozen tokens (each test gesture labelled by its nearest training "
                      f"gesture). Chance is {100 / 17:.1f} %.", "streams", pct=("1-NN",), best=("1-NN",))


def streams_figure(streams: dict):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 2.8))
    for name, s in streams.items():
        if "val_curve" in s:
            ax.plot(range(1, len(s["val_curve"]) + 1), np.array(s["val_curve"]) * 100, marker="o", label=name)
            ax.axhline(s["majority"] * 100, ls=":", lw=0.8, color=ax.lines[-1].get_color())
    ax.set(xlabel="epoch", ylabel="validation clip accuracy (%)", ylim=(0, 100))
    ax.legend()
    return book.figure(fig, "Clip accuracy on the validation subjects per pretraining epoch; dotted: the test rate of "
                       "the majority class. The epoch with the best mean of clip and gesture-vs-background "
                       "accuracy is kept.", "stream-curves")


def stream_targets(s: dict) -> dict:
    """The issue's targets for a stream: clip accuracy ≥ 2× the majority rate, gesture vs background above its
    majority rate."""
    clip = s.get("test_clip_acc")
    act, act_maj = s.get("test_actionness_acc"), s.get("test_actionness_majority")
    return {"clip": clip is not None and clip >= 2 * s["majority"],
            "actionness": act is not None and act > act_maj}


def streams_findings(streams: dict, chosen: str):
    out = []
    for name, s in streams.items():
        if "test_clip_acc" not in s:
            out.append(f"The {name} stream is a local weights file used as is: no clip classifier was trained here; "
                       f"its 1-NN probe reaches {book.pm(s['nn_acc'])} % against {book.pm(s['majority'])} % for the "
                       "majority class.")
            continue
        t = stream_targets(s)
        out.append(f"The {name} stream classifies {book.pm(s['test_clip_acc'])} % of the test clips, "
                   f"{s['test_clip_acc'] / s['majority']:.1f}× the majority-class rate ({book.pm(s['majority'])} %): "
                   f"the target of 2× is {'met' if t['clip'] else 'not met'}." + (
                       f" Gesture vs background: {book.pm(s['test_actionness_acc'])} % against a majority rate of "
                       f"{book.pm(s['test_actionness_majority'])} % ({'above' if t['actionness'] else 'not above'})."
                       if "test_actionness_acc" in s else "") +
                   ("" if s["causal"] else " Its preprocessing uses the whole sequence (not causal)."))
    out.append(f"The detectors of chapters 20–22 read the {chosen} stream at this profile.")
    return book.result_box(out, "What the streams carry")


# ----------------------------------------------------------------------------------------------- chapter 20
def windows_table(runs: dict, window: int):
    rows = [{"split": k, **v} for k, v in runs["windows"].items()]
    return book.table(pd.DataFrame(rows), f"Sequences, tokens, gestures and windows per split (β = {window * INTERVAL} "
                      f"decoded frames = {window} tokens = {window * INTERVAL / 10:g} s; training windows overlap by "
                      "0.75 and keep only complete gestures, test windows do not overlap).", "windows")


def summary_rows(runs: dict) -> list[dict]:
    """Mean ± std of the test F1 per model over seeds, and the trivial baseline (fractions)."""
    out = []
    for mixer, rs in runs["runs"].items():
        f, fs = _f1s(rs), _f1s(rs, "test_strict")
        if not f:
            continue
        (m, s), (ms, ss) = book.mean_std(f), book.mean_std(fs)
        out.append({"model": MIXERS[mixer], "f1_mean": m, "f1_std": s or 0.0, "f1_strict_mean": ms,
                    "f1_strict_std": ss or 0.0, "tau": float(np.mean([r["tau"] for r in rs if r["status"] == "ok"])),
                    "runs": len(f)})
    b = runs["baseline"]
    out.append({"model": "trivial baseline", "f1_mean": b["test"]["f1"], "f1_std": 0.0,
                "f1_strict_mean": b["test_strict"]["f1"], "f1_strict_std": 0.0, "tau": None, "runs": 1})
    return out


def main_table(runs: dict):
    base = runs["baseline"]["test"]["f1"]
    rows = [{"model": r["model"], "F1 (smg)": book.pm(r["f1_mean"], r["f1_std"] if r["runs"] > 1 else None),
             "F1 (strict)": book.pm(r["f1_strict_mean"], r["f1_strict_std"] if r["runs"] > 1 else None),
             "× baseline": f"{r['f1_mean'] / base:.1f}" if base else "—",
             "τ (validation)": r["tau"], "seeds": r["runs"]} for r in summary_rows(runs)]
    return book.table(pd.DataFrame(rows), "F1 (%) on the test subjects 36–40, mean ± std over seeds, τ chosen on "
                      "the validation subjects 31–35. The trivial baseline never looks at the data: it tiles each "
                      "sequence with segments of the mean training length, all of the most frequent training class.",
                      "main", best=("F1 (smg)",), decimals=2)


def comparison(runs: dict) -> dict:
    """Paired difference Mamba-MHSA − MHSA of the test F1 over the same seeds (t interval)."""
    a = {r_seed: r for r_seed, r in zip(runs["seeds"], runs["runs"]["mamba_mhsa"]) if r["status"] == "ok"}
    b = {r_seed: r for r_seed, r in zip(runs["seeds"], runs["runs"]["mhsa"]) if r["status"] == "ok"}
    seeds = [s for s in runs["seeds"] if s in a and s in b]
    return book.paired_difference([a[s]["test"]["f1"] for s in seeds], [b[s]["test"]["f1"] for s in seeds])


def record(runs: dict, stream: dict) -> dict:
    """The chapter's recorded metrics (fractions): per-model F1 mean/std, the paired difference and the stream."""
    out = {}
    for r in summary_rows(runs):
        out |= {f"{r['model']}/{k}": r[k] for k in ("f1_mean", "f1_std", "f1_strict_mean", "f1_strict_std")}
    d = comparison(runs)
    out |= {f"PointTAD + Mamba-MHSA - PointTAD/{k}": d[k] for k in ("diff_mean", "ci95_low", "ci95_high", "n")}
    for mixer, rs in runs["runs"].items():  # the end of the validation curves (section 3)
        p = plateau(rs)
        out |= {f"{MIXERS[mixer]}/val_rise_last{PLATEAU_LAST}/{k}": p[k] for k in ("diff_mean", "ci95_low", "ci95_high")
                if p.get(k) is not None}
    if "test_clip_acc" in stream:
        out |= {"stream/test_clip_acc": stream["test_clip_acc"], "stream/majority": stream["majority"]}
    return out


PLATEAU_LAST = 4  # epochs judged at the end of a validation curve


def plateau(rs: list[dict], last: int = PLATEAU_LAST) -> dict:
    """:func:`mglib.book.plateau` of the validation F1 curves of the runs that finished."""
    return book.plateau([r["val_curve"] for r in rs if r["status"] == "ok"], last)


def plateau_sentence(model: str, p: dict, last: int = PLATEAU_LAST) -> str:
    return book.plateau_sentence(model, p, last, "F1")


def plateau_box(runs: dict):
    return book.result_box([plateau_sentence(MIXERS[m], plateau(rs)) for m, rs in runs["runs"].items()],
                           "Has the validation F1 levelled off?")


def curves_figure(runs: dict):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3))
    for i, (mixer, rs) in enumerate(runs["runs"].items()):
        curves = np.array([r["val_curve"] for r in rs if r["status"] == "ok"]) * 100
        ep = np.arange(1, curves.shape[1] + 1)
        for c in curves:
            ax.plot(ep, c, color=f"C{i}", lw=0.6, alpha=0.35)
        ax.plot(ep, curves.mean(0), color=f"C{i}", lw=2, label=f"{MIXERS[mixer]} (mean of {len(curves)} seeds)")
    ax.set(xlabel="epoch", ylabel="validation F1 (%)")
    ax.legend()
    return book.figure(fig, "Validation F1 (subjects 31–35, best τ of each epoch) during training: thin lines are "
                       "single seeds, thick lines their mean. The checkpoint of the best epoch is scored on test.",
                       "val-curves")


def histogram_figure(runs: dict):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 2.8))
    true = np.array(next(r for rs in runs["runs"].values() for r in rs if r["status"] == "ok")["true_hist"], float)
    width = 0.27
    x = np.arange(len(true))
    ax.bar(x - width, true / true.sum() * 100, width, color="0.6", label="ground truth")
    for i, (mixer, rs) in enumerate(runs["runs"].items()):
        pred = np.sum([r["pred_hist"] for r in rs if r["status"] == "ok"], axis=0).astype(float)
        ax.bar(x + i * width, pred / max(pred.sum(), 1) * 100, width, color=f"C{i}", label=MIXERS[mixer])
    ax.set(xlabel="class (0-based)", ylabel="share of segments (%)", xticks=x)
    ax.legend()
    return book.figure(fig, "Predicted vs true classes on the test subjects: the share of each class among the ground "
                       "truth and among each model's predictions at its τ (all seeds pooled).", "class-histogram")


def dominant_class(runs: dict) -> list[dict]:
    """Per model: the class with the largest share of the predictions (all seeds pooled) and its true share."""
    out = []
    for mixer, rs in runs["runs"].items():
        ok = [r for r in rs if r["status"] == "ok"]
        pred = np.sum([r["pred_hist"] for r in ok], axis=0)
        true = np.asarray(ok[0]["true_hist"])
        c = int(pred.argmax())
        out.append({"model": MIXERS[mixer], "class": c, "pred_share": float(pred[c] / max(pred.sum(), 1)),
                    "true_share": float(true[c] / max(true.sum(), 1))})
    return out


def findings(runs: dict):
    base = runs["baseline"]["test"]["f1"]
    out = []
    for r in summary_rows(runs)[:-1]:
        ratio = r["f1_mean"] / base if base else float("inf")
        out.append(f"{r['model']}: F1 {book.pm(r['f1_mean'], r['f1_std'])} % on test, {ratio:.1f}× the trivial "
                   f"baseline ({book.pm(base)} %); the target of 2× is {'met' if ratio >= 2 else 'not met'}.")
    out.append(book.verdict("PointTAD + Mamba-MHSA", "PointTAD", comparison(runs)))
    for d in dominant_class(runs):
        ok = d["pred_share"] <= 0.5 or d["true_share"] > 0.5
        out.append(f"{d['model']}: the most predicted class ({d['class']}) takes {d['pred_share'] * 100:.0f} % of the "
                   f"predictions and {d['true_share'] * 100:.0f} % of the ground truth" +
                   ("." if ok else ": one class takes more than half of the predictions, which the data do not."))
    return book.result_box(out, "What the main comparison shows")


def timeline_figure(runs: dict, name: str | None = None):
    """Ground truth and the first seed's PointTAD + Mamba-MHSA predictions (at τ) on one test sequence."""
    import matplotlib.pyplot as plt

    run = runs["runs"]["mamba_mhsa"][0]
    name = name or sorted(runs["test_gt"])[0]
    fig, ax = plt.subplots(figsize=(8, 2.2))
    cmap = plt.get_cmap("tab20", 17)
    for lane, rows in ((1, runs["test_gt"][name]), (0, run.get("pred_rows", {}).get(name, []))):
        for lab, s, e in np.asarray(rows, dtype=np.float64).reshape(-1, 3):
            ax.barh(lane, e - s + 1, left=s, height=0.6, color=cmap(int(lab)), edgecolor="k", linewidth=0.3)
            ax.text((s + e) / 2, lane, str(int(lab)), ha="center", va="center", fontsize=6)
    ax.set_yticks([0, 1], ["predicted", "ground truth"])
    ax.set_xlim(1, runs["num_frames"][name])
    ax.set_xlabel("label frame (30 fps)")
    return book.figure(fig, f"{name} (a test subject): ground-truth gestures (top) and the predictions of PointTAD + "
                       f"Mamba-MHSA, seed {runs['seeds'][0]}, at its validation τ = {run.get('tau')} (bottom); "
                       "numbers are 0-based classes.", "timeline")


def reported_table1():
    df = pd.DataFrame([{"team (MiGA 2024, track 2)": k, "F1 (%), reported": f"{v:.2f}"}
                       for k, v in REPORTED["table1"].items()])
    return book.table(df, "Reported: Table 1 of Liu et al. (2024), the MiGA 2024 online-recognition leaderboard on "
                      "the real SMG test set. Not reproduced here (synthetic data, CPU-sized model).", "reported-t1")


def latency_table(lat: dict):
    rows = [{"part": k, "ms per window": f"{v:.1f}"} for k, v in lat["ms"].items()]
    return book.table(pd.DataFrame(rows), f"Compute time of one window of β = {lat['window'] * INTERVAL} decoded "
                      f"frames ({lat['window'] * INTERVAL / 10:g} s of data) on one CPU thread, median of "
                      f"{lat['repeats']} repetitions. The answer for a window comes when the window is complete, so "
                      "the delay of a live system is this time plus up to one window.", "latency")


def mma52_settings(cfg: dict, profile: str):
    here = {"lr": cfg["optim"]["lr"], "backbone lr": "frozen (cached features)",
            "weight_decay": cfg["optim"]["weight_decay"], "batch_size": cfg["optim"]["batch_size"],
            "num_queries": cfg["num_queries"], "num_points": cfg["num_points"], "num_layers": cfg["num_layers"],
            "window": cfg["window"], "interval": cfg["interval"], "decode_fps": cfg["decode_fps"],
            "epochs": cfg["optim"]["epochs"]}
    df = pd.DataFrame([{"setting": k, "official MAC-2024": str(v), f"here ({profile})": str(here[k])}
                       for k, v in OFFICIAL_MMA52.items()])
    return book.table(df, "The PointTAD baseline of MMA-52: the official MAC-2024 settings beside the ones run here. "
                      "The backbone is frozen and its features cached in this book, so its learning rate does not "
                      "apply.", "mma52-settings")


def mma52_table(mma: dict):
    m = mma["metrics"]
    rows = [{"level": lvl, **{f"mAP@{t}": m[f"{lvl}/mAP@{t}"] for t in ("0.2", "0.5", "0.7")},
             "average mAP (0.1:0.9)": m[f"{lvl}/average_mAP"]} for lvl in ("action", "body")]
    return book.table(pd.DataFrame(rows), f"PointTAD on the MMA-52 stand-in, scored on its val split "
                      f"({mma['num_val_videos']} videos, the split chapter 30 scores) after the last training epoch, "
                      "with PointTAD's evaluator (tIoU 0.1–0.9).", "mma52", pct=("mAP@0.2", "mAP@0.5", "mAP@0.7", "average mAP (0.1:0.9)"),
                      decimals=2)


# ----------------------------------------------------------------------------------------------- chapter 21
def ablation_frame(abl: dict) -> pd.DataFrame:
    rows = [{"field": r["field"], "value": r["value"], "seed": r["seed"], "f1": r["test"]["f1"],
             "skipped": r["skipped_steps"]} for r in abl["rows"] if r["status"] == "ok"]
    return pd.DataFrame(rows)


def _shown(field: str, value: int) -> int:
    return value * INTERVAL if field == "window" else value


def ablation_table(abl: dict):
    df = ablation_frame(abl)
    rows = []
    for (f, v), g in df.groupby(["field", "value"], sort=False):
        m, s = book.mean_std(g.f1)
        rep = REPORTED["table2"][f].get(_shown(f, v))
        rows.append({"setting": ABLATION_FIELDS[f], "value": _shown(f, v),
                     "default": "yes" if abl["default"][f] == v else "", "F1 (%)": book.pm(m, s),
                     "seeds": len(g), "skipped steps": int(g.skipped.sum()),
                     "F1 (%), reported": f"{rep:.2f}" if rep is not None else "—"})
    return book.table(pd.DataFrame(rows), "Table 2 on the PointTAD + Mamba-MHSA model: one setting varied at a time, "
                      f"test F1 (%) mean ± std over seeds (trivial baseline {book.pm(abl['baseline']['test']['f1'])} "
                      "%). The reported column is the paper's Table 2 (real SMG, its full-size model); "
                      "its default is Ns 30, β 128, L 4, M 2.", "ablations")


def ablation_figure(abl: dict):
    import matplotlib.pyplot as plt

    df = ablation_frame(abl)
    fields = list(dict.fromkeys(df.field))
    fig, axes = plt.subplots(1, len(fields), figsize=(2.1 * len(fields) + 0.6, 2.6), squeeze=False, sharey=True)
    base = abl["baseline"]["test"]["f1"] * 100
    for ax, f in zip(axes[0], fields):
        g = df[df.field == f].groupby("value").f1.agg(["mean", "std"]).reset_index()
        x = [_shown(f, v) for v in g["value"]]
        ax.errorbar(x, g["mean"] * 100, yerr=g["std"].fillna(0) * 100, marker="o", capsize=3, label="here")
        ax.axhline(base, color="k", lw=0.8, ls=":", label="trivial baseline")
        ax.set(xlabel=ABLATION_FIELDS[f], xticks=x)
    axes[0][0].set_ylabel("test F1 (%)")
    axes[0][0].legend(fontsize=8)
    return book.figure(fig, "Ablations of PointTAD + Mamba-MHSA: test F1, mean ± std over seeds; dotted: the trivial "
                       "baseline.", "ablation-plot")


def gradient_figure(abl: dict, field: str = "num_mamba"):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 2.6))
    for r in abl["rows"]:
        if r["field"] == field and r["status"] == "ok" and r["seed"] == abl["rows"][0]["seed"]:
            g = np.array([np.nan if v is None else v for v in r["grad_norms"]], dtype=float)
            ax.semilogy(g, lw=0.8, label=f"{ABLATION_FIELDS[field]} = {r['value']}")
    ax.set(xlabel="optimizer step", ylabel="gradient norm (before clipping)")
    ax.legend(fontsize=8)
    return book.figure(fig, "Gradient norm of every optimizer step (clipped at 0.1 afterwards) for each number of "
                       "Mamba blocks, first seed: the paper reports gradient explosion above two blocks.",
                       "grad-norms")


def ablation_findings(abl: dict):
    df = ablation_frame(abl)
    base = abl["baseline"]["test"]["f1"]
    out = []
    for f in dict.fromkeys(df.field):
        g = df[df.field == f].groupby("value").f1.mean()
        best = int(g.idxmax())
        d = abl["default"][f]
        pair = book.paired_difference(df[(df.field == f) & (df.value == best)].sort_values("seed").f1,
                                      df[(df.field == f) & (df.value == d)].sort_values("seed").f1) \
            if best != d else None
        text = (f"{ABLATION_FIELDS[f]}: the best mean is at {_shown(f, best)} ({book.pm(g.max())} %), "
                f"{g.min() / base:.1f}–{g.max() / base:.1f}× the trivial baseline.")
        if pair is not None:
            text += " " + book.verdict(f"{ABLATION_FIELDS[f]} = {_shown(f, best)}", f"the default {_shown(f, d)}", pair)
        out.append(text)
    stopped = [r for r in abl["rows"] if r["status"] != "ok"]
    skipped = int(df.skipped.sum()) if len(df) else 0
    deep = [r for r in abl["rows"] if r["field"] == "num_mamba" and r["value"] > 2]
    out.append(f"{len(stopped)} run(s) stopped and {skipped} optimizer step(s) skipped for a non-finite loss or "
               "gradient." + (" The paper's gradient explosion with more than two Mamba blocks does not occur here."
                              if deep and not stopped and not skipped else ""))
    return book.result_box(out, "What the ablations show")


# ----------------------------------------------------------------------------------------------- chapter 22
def sweep_frame(sw: dict) -> pd.DataFrame:
    return pd.DataFrame([{"knob": r["knob"], "value": r["value"], "mixer": r["mixer"], "seed": r["seed"],
                          "f1": r["test"]["f1"]} for r in sw["rows"] if r["status"] == "ok"])


def sweep_table(sw: dict):
    df = sweep_frame(sw)
    rows = []
    for (k, v), g in df.groupby(["knob", "value"], sort=False):
        row = {"knob": k, "level": f"{v:g}", "trivial baseline": sw["baselines"][f"{k}={v:g}"]}
        for mixer, name in MIXERS.items():
            row[name] = book.pm(*book.mean_std(g[g.mixer == mixer].sort_values("seed").f1))
        d = book.paired_difference(g[g.mixer == "mamba_mhsa"].sort_values("seed").f1,
                                   g[g.mixer == "mhsa"].sort_values("seed").f1)
        row["Mamba-MHSA − MHSA (95 % CI)"] = (f"{d['diff_mean'] * 100:+.1f} [{d['ci95_low'] * 100:+.1f}, "
                                              f"{d['ci95_high'] * 100:+.1f}]" if d["ci95_low"] is not None else "—")
        rows.append(row)
    return book.table(pd.DataFrame(rows), "Test F1 (%) of both decoders at each level of a generator knob (mean ± "
                      "std over seeds), the trivial baseline of that data, and the paired difference with its 95 % "
                      "t interval (points).", "sweeps", pct=("trivial baseline",))


def sweep_figure(sw: dict):
    import matplotlib.pyplot as plt

    df = sweep_frame(sw)
    knobs = list(dict.fromkeys(df.knob))
    fig, axes = plt.subplots(1, len(knobs), figsize=(3.4 * len(knobs), 2.8), squeeze=False, sharey=True)
    for ax, k in zip(axes[0], knobs):
        for i, (mixer, name) in enumerate(MIXERS.items()):
            g = df[(df.knob == k) & (df.mixer == mixer)].groupby("value").f1.agg(["mean", "std"]).reset_index()
            ax.errorbar(g["value"], g["mean"] * 100, yerr=g["std"].fillna(0) * 100, marker="o", capsize=3,
                        color=f"C{i}", label=name)
        levels = sorted(set(df[df.knob == k].value))
        ax.plot(levels, [sw["baselines"][f"{k}={v:g}"] * 100 for v in levels], "k:", lw=1, label="trivial baseline")
        ax.set(xlabel=f"{k} (× the calibrated default)", xscale="log" if k == "gap" else "linear")
    axes[0][0].set_ylabel("test F1 (%)")
    axes[0][0].legend(fontsize=8)
    return book.figure(fig, "Test F1 against the generator's difficulty knobs (mean ± std over seeds): the gesture "
                       "knob of the sweep, and the idle gap between gestures (log scale). Dotted: the trivial baseline "
                       "of each dataset.", "sweep-plot")


def sweep_findings(sw: dict):
    df = sweep_frame(sw)
    out = []
    for k in dict.fromkeys(df.knob):
        levels = sorted(set(df[df.knob == k].value))
        for mixer, name in MIXERS.items():
            g = df[(df.knob == k) & (df.mixer == mixer)].groupby("value").f1.mean()
            out.append(f"{name}, {k}: F1 {' → '.join(book.pm(g[v]) for v in levels)} % as the knob goes "
                       f"{' → '.join(f'{v:g}' for v in levels)}.")
        for v in levels:
            g = df[(df.knob == k) & (df.value == v)]
            d = book.paired_difference(g[g.mixer == "mamba_mhsa"].sort_values("seed").f1,
                                       g[g.mixer == "mhsa"].sort_values("seed").f1)
            out.append(f"{k} = {v:g}: " + book.verdict("PointTAD + Mamba-MHSA", "PointTAD", d))
    return book.result_box(out, "What the sweeps show")


def sweep_record(sw: dict) -> dict:
    df = sweep_frame(sw)
    out = {}
    for (k, v, m), g in df.groupby(["knob", "value", "mixer"]):
        out[f"{k}={v:g}/{MIXERS[m]}/f1_mean"] = float(g.f1.mean())
    out |= {f"{k}/trivial baseline/f1": v for k, v in sw["baselines"].items()}
    return out


# ----------------------------------------------------------------------------------------------- diagram
def architecture_figure():
    """The study's pipeline, drawn (not measured): stream → tokens → windows → L decoder layers → detections."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    fig, ax = plt.subplots(figsize=(8, 4.2))
    ax.set(xlim=(0, 10), ylim=(0, 6.2))
    ax.axis("off")

    def box(x, y, w, h, text, color):
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.05", fc=color, ec="0.3", lw=0.8))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=9)

    def arrow(x0, y0, x1, y1):
        ax.annotate("", (x1, y1), (x0, y0), arrowprops={"arrowstyle": "->", "color": "0.3", "lw": 1})

    # left column: from the sequence to the windows of tokens
    box(0.1, 5.0, 2.6, 0.8, "skeleton (30 fps) or\nRGB frames (10 fps)", "#dde8f5")
    box(0.1, 3.6, 2.6, 0.9, "causal stream encoder\n(chapter 04, frozen)", "#dde8f5")
    box(0.1, 2.2, 2.6, 0.9, "tokens, one per 0.4 s\nwindows of β frames", "#dde8f5")
    box(0.1, 0.4, 2.6, 1.2, "merge windows,\nscores ≥ τ, NMS\n→ Sample_prediction.csv", "#e8f0dd")
    arrow(1.4, 5.0, 1.4, 4.5)
    arrow(1.4, 3.6, 1.4, 3.1)
    # the decoder layer, repeated L times
    ax.add_patch(FancyBboxPatch((3.3, 0.3), 4.3, 5.6, boxstyle="round,pad=0.05", fc="none", ec="0.4", lw=1,
                                ls="--"))
    ax.text(5.45, 5.65, "decoder layer ×L", ha="center", fontsize=9, style="italic")
    box(3.6, 4.4, 3.7, 0.8, "deformable sampling: 4 sub-points\nper query point (eqs. 9–11)", "#f5e6d3")
    box(3.6, 3.2, 3.7, 0.8, "query mixer: MHSA, or\nM Mamba blocks → MHSA (eqs. 2–8)", "#f5d3d3")
    box(3.6, 2.0, 3.7, 0.8, "dynamic mixing: frame and\nchannel mix (eqs. 12–15)", "#f5e6d3")
    box(3.6, 0.6, 3.7, 0.9, "FFN → class logits;\npoint offsets, update (eq. 1)", "#f5e6d3")
    arrow(2.7, 2.65, 3.6, 4.8)
    for y0, y1 in ((4.4, 4.0), (3.2, 2.8), (2.0, 1.5)):
        arrow(5.45, y0, 5.45, y1)
    # the queries and their points, fed back into the next layer
    box(8.1, 3.6, 1.8, 1.4, "$N_q$ query\nvectors $q$\n$N_q \\times N_s$\npoints $t_i$", "#eeeeee")
    arrow(8.1, 4.3, 7.3, 4.8)
    arrow(7.3, 1.05, 9.0, 3.6)
    ax.text(9.1, 2.2, "next\nlayer", fontsize=8, ha="center")
    arrow(3.6, 0.9, 2.7, 0.9)
    return book.figure(fig, "The online detector: a causal stream turns the sequence into tokens; each of the L "
                       "decoder layers samples the tokens around every query point, mixes the queries (the only "
                       "part that differs between PointTAD and PointTAD + Mamba-MHSA), mixes the sampled features "
                       "into each query and moves its points. After the last layer each query gives one class and "
                       "one segment.", "architecture")


def streams_record(streams: dict) -> dict:
    """Chapter 04's recorded metrics: each stream's test measurements (fractions) and size."""
    keys = ("test_clip_acc", "majority", "test_actionness_acc", "test_actionness_majority", "nn_acc", "params")
    return {f"{name}/{k}": s[k] for name, s in streams.items() for k in keys if k in s}


def ablation_record(abl: dict) -> dict:
    """Chapter 21's recorded metrics: mean and std of the test F1 per ablation setting, and the trivial baseline."""
    out = {"trivial baseline/f1": abl["baseline"]["test"]["f1"]}
    for (f, v), g in ablation_frame(abl).groupby(["field", "value"]):
        m, s = book.mean_std(g.f1)
        out |= {f"{f}={v}/f1_mean": m, f"{f}={v}/f1_std": s or 0.0}
    return out
