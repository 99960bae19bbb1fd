"""What chapters 30 and 31 show of the detection runs: the paper's Tables 3-4 next to the measured rows, paired
differences against TIA, the backbone's pretraining and probe, per-threshold and amplitude figures, error profiles and
timelines. No training here: everything is read from :class:`~mglib.studies.detection.task.Runs`.

Paper numbers are quoted as strings, exactly as printed in the MMAD paper's Tables 3 and 4, and always shown under a
"reported" label.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mglib import book, paths
from mglib.errors import InputError
from mglib.models import adapters as A
from mglib.studies.detection.config import TABLE3, TABLE4, DataConfig
from mglib.studies.detection.task import THRESHOLDS, Runs

NAMES = {"prior": "class prior (trivial)", "snippet": "snippet features + ActionFormer",
         "temporalmaxer": "snippet features + TemporalMaxer", "pointtad": "PointTAD (snippet features)",
         "full": "full fine-tuning", "standard": "standard adapter", "tia": "TIA (AdaTAD)",
         "dsta": "DSTA (1×1, W_down per path)", "dsta-ours": "DSTA, our reading (3×3, one W_down)"}
BASELINE = "tia"  # the paper's baseline (AdaTAD)

# Table 3 of the MMAD paper: action @0.2, @0.5, @0.7, Avg, body @0.2, @0.5, @0.7, Avg, AVG (strings, as printed).
# Each measured setting maps to the paper row it is compared with; the snippet row is ActionFormer on the frozen
# ViT's features, which is the recipe of the paper's ActionFormer row (frozen VideoMAEv2-g features).
REPORTED_TABLE3 = {
    "pointtad": ("PointTAD, I3D", ("9.46", "3.79", "1.02", "4.51", "24.35", "11.06", "3.35", "12.12", "8.32")),
    "snippet": ("ActionFormer, v2-g",
                ("23.81", "16.87", "8.50", "15.30", "40.51", "24.44", "12.20", "23.99", "19.65")),
    "temporalmaxer": ("TemporalMaxer, v2-g",
                      ("25.61", "17.09", "7.04", "15.17", "43.94", "26.48", "11.98", "25.51", "20.34")),
    "tia": ("AdaTAD, VideoMAE-S", ("24.94", "16.78", "10.93", "16.25", "45.51", "27.90", "7.52", "27.35", "21.80")),
    "dsta": ("DSTA, VideoMAE-S", ("28.05", "20.40", "9.03", "18.16", "47.14", "30.02", "8.37", "28.70", "23.43")),
}
# Table 4: (Param., mAP) as printed; the paper's row "+ DTSA (Ours)" is its DSTA
REPORTED_TABLE4 = {"snippet": ("-", "10.60"), "full": ("20.89M", "15.40"), "standard": ("0.85M", "15.87"),
                   "tia": ("0.96M", "16.25"), "dsta": ("1.80M", "18.16")}
TABLE3_COLUMNS = ["action/mAP@0.2", "action/mAP@0.5", "action/mAP@0.7", "action/average_mAP",
                  "body/mAP@0.2", "body/mAP@0.5", "body/mAP@0.7", "body/average_mAP", "AVG"]
SHORT = {"action/mAP@0.2": "action @0.2", "action/mAP@0.5": "action @0.5", "action/mAP@0.7": "action @0.7",
         "action/average_mAP": "action avg", "body/mAP@0.2": "body @0.2", "body/mAP@0.5": "body @0.5",
         "body/mAP@0.7": "body @0.7", "body/average_mAP": "body avg", "AVG": "AVG"}


# --- selections -----------------------------------------------------------------------------------------------------

def _rows(runs: Runs, setting: str, amplitude: float | None = None) -> list[dict]:
    amp = runs.study.detection.data.amplitude if amplitude is None else amplitude
    return sorted((r for r in runs.rows if r["setting"] == setting and r["amplitude"] == amp), key=lambda r: r["seed"])


def settings(runs: Runs) -> list[str]:
    return [s for s in runs.study.settings if _rows(runs, s)]


def _values(runs: Runs, setting: str, key: str, amplitude: float | None = None) -> list[float]:
    return [r[key] for r in _rows(runs, setting, amplitude)]


def _prior(runs: Runs, amplitude: float | None = None) -> dict:
    return runs.prior[runs.study.detection.data.amplitude if amplitude is None else amplitude]


def _over_seeds(runs: Runs, shown: list[str]) -> str:
    """"5 seeds", or "5 seeds (3 for PointTAD)" where rows of ``shown`` ran fewer."""
    n = {s: len(_rows(runs, s)) for s in shown}
    most = max(n.values(), default=0)
    fewer = {}
    for s, k in n.items():
        if k < most:
            fewer.setdefault(k, []).append(NAMES[s])
    extra = "; ".join(f"{k} for {', '.join(names)}" for k, names in sorted(fewer.items()))
    return f"{most} seeds" + (f" ({extra})" if extra else "")


def best_setting(runs: Runs) -> str:
    return max(settings(runs), key=lambda s: np.mean(_values(runs, s, "AVG")))


# --- records --------------------------------------------------------------------------------------------------------

def metrics(runs: Runs) -> dict:
    """The chapter's recorded metrics: ``<setting>/AVG|action_avg|body_avg`` (seed means), the same of ``prior``,
    ``probe/val_acc`` and ``probe/majority`` (when the backbone was pretrained here)."""
    out = {}
    keys = {"AVG": "AVG", "action_avg": "action/average_mAP", "body_avg": "body/average_mAP"}
    for s in settings(runs):
        out.update({f"{s}/{k}": float(np.mean(_values(runs, s, v))) for k, v in keys.items()})
        out[f"{s}/seeds"] = len(_rows(runs, s))
    out.update({f"prior/{k}": float(_prior(runs)[v]) for k, v in keys.items()})
    if runs.backbone:
        out["probe/val_acc"] = runs.backbone["probe"]["val_acc"]
        out["probe/majority"] = runs.backbone["probe"]["majority"]
        out["probe/mean_pooled_val_acc"] = runs.backbone["probe"]["rows"][-2]["val_acc"]
    return out


# --- the backbone ---------------------------------------------------------------------------------------------------

def architecture_figure() -> book.Figure:
    """The detector of chapter 30 box by box: person crop, frozen ViT with an adapter after each block, spatial
    pooling, the ActionFormer pyramid and its shared heads; an inset opens DSTA's two paths."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    fig, ax = plt.subplots(figsize=(9, 4.6))
    ax.set(xlim=(0, 10), ylim=(0, 5.6))
    ax.axis("off")
    colours = {"in": "#eeeeee", "vit": "#dbe9f6", "adapter": "#d9f0d3", "head": "#fde3c8", "out": "#ead7ef"}

    d = book.Diagram(ax, colours, width=1.25)
    box, arrow = d.box, d.arrow

    top = 4.5
    box(0.7, top, "video\n$T$ frames", "in", w=1.0)
    box(2.0, top, "person-box\ncrop", "in", w=1.1)
    box(3.55, top, "ViT block\n(frozen)", "vit")
    box(4.95, top, "adapter\n(trained)", "adapter", w=1.1)
    box(6.45, top, "spatial\nmean pool", "in", w=1.1)
    ax.text(4.25, top + 0.7, "x depth", ha="center", fontsize=9, color="0.3")
    ax.add_patch(FancyBboxPatch((2.85, top - 0.55), 2.8, 1.1, boxstyle="round,pad=0.02", fc="none", ec="0.5",
                                ls="--", lw=0.8))
    for a, b in ((1.2, 1.45), (2.55, 2.93), (4.18, 4.4), (5.5, 5.9)):
        arrow((a, top), (b, top))
    box(8.3, top, "features\n$(C, T')$", "in", w=1.1)
    arrow((7.0, top), (7.75, top))
    # ActionFormer: a pyramid of levels with strides 1, 2, 4, ... and heads shared across levels
    levels = [(8.3, 3.1, 1.5), (8.3, 2.35, 1.1), (8.3, 1.6, 0.75)]
    for i, (x, y, w) in enumerate(levels):
        box(x, y, f"level {i + 1}, stride {2 ** i}", "head", w=w + 0.6, h=0.5)
    ax.text(8.3, 1.05, "...", ha="center", fontsize=12)
    arrow((8.3, top - 0.4), (8.3, 3.37))
    box(5.6, 2.35, "shared heads\nclass: focal loss\nboundaries: DIoU loss", "head", w=2.0, h=1.05)
    for _, y, _ in levels:
        arrow((7.2, y), (6.62, 2.35))
    box(3.0, 2.35, "decode +\nSoft-NMS", "out", w=1.2)
    arrow((4.58, 2.35), (3.62, 2.35))
    box(1.1, 2.35, "segments\n(start, end,\nclass, score)", "out", w=1.5, h=1.0)
    arrow((2.38, 2.35), (1.87, 2.35))
    # inset: DSTA opened up
    ax.text(0.1, 0.8, r"DSTA (eq. 3):  $X \rightarrow W_{down} \rightarrow$ S-DWConv $(\beta)$  |  $W_{down} \rightarrow$ T-DWConv "
            r"$(\gamma)$ $\rightarrow [\cdot;\cdot] \rightarrow \alpha W_{up} \rightarrow + X$", fontsize=9)
    fig.tight_layout()
    return book.figure(fig, "The detector of this chapter. The frozen ViT reads the person crop; an adapter after each "
                       "block is the only part of the backbone that trains. Tokens are averaged over space, and the "
                       "ActionFormer pyramid classifies every time step of every level and regresses its distances to "
                       "the segment's start and end. Bottom: DSTA's spatial and temporal paths (eq. 3).",
                       "det-architecture")


def pretraining_figure(runs: Runs):
    """Pretraining curve (loss per epoch) and the probe's validation accuracy after each epoch, with majority."""
    import matplotlib.pyplot as plt

    h = runs.backbone["history"]
    ep = [r["epoch"] for r in h]
    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3))
    a.plot(ep, [r["train_loss"] for r in h], "o-", label="training clips")
    a.plot(ep, [r["held_out_loss"] for r in h], "s--", label="held-out clips")
    a.set(xlabel="epoch", ylabel="loss", title="pretraining loss")
    a.legend()
    b.plot(ep, [100 * r["probe_val_acc"] for r in h], "o-", label="mean-pooled, training instances")
    p = runs.backbone["probe"]
    released = max(h, key=lambda r: r["score"])["epoch"]  # the engine keeps the first best epoch
    b.plot([released], [100 * p["val_acc"]], "*", ms=12, color="C2", label="released: per position, + corpus")
    maj = 100 * p["majority"]
    b.axhline(maj, color="0.5", ls=":", label="majority class")
    b.axhline(3 * maj, color="C3", ls="--", label="3 × majority")
    b.set(xlabel="epoch", ylabel="accuracy (%)", title="probe on MMA-52 instance clips")
    b.legend()
    fig.tight_layout()
    return book.figure(fig, "Pretraining of the ViT on the synthetic clip corpus (left) and the linear probe on its "
                            "frozen, mean-pooled features after each epoch (right); the released encoder is the epoch "
                            "with the best held-out accuracy, and the star is its probe on the tokens per patch "
                            "position, fitted on the corpus and the training instances (the last row of the table "
                            "below).", "pretraining")


_POOLING = {"mean": "mean over space and time", "grid": "mean over time, per patch position"}


def probe_table(runs: Runs):
    import pandas as pd

    p = runs.backbone["probe"]
    rows = [{"features": _POOLING[r["pooling"]], "fitted on": f"{r['trained_on']} ({r['train_clips']:,})",
             "train": r["train_acc"], "val": r["val_acc"]} for r in p["rows"]]
    rows.append({"features": "majority class (trivial)", "fitted on": "—", "train": None, "val": p["majority"]})
    return book.table(pd.DataFrame(rows),
                      f"Action-level accuracy (%) of linear probes on the released encoder's frozen tokens, scored on "
                      f"the {p['val_clips']} trimmed MMA-52 validation instance clips; the first row is the probe "
                      f"followed during pretraining (the curve above).", "probe",
                      pct=("train", "val"), best=("val",),
                      headers={"train": "train acc (%)", "val": "val acc (%)"})


def probe_findings(runs: Runs) -> list[str]:
    p = runs.backbone["probe"]
    first, mean_same = p["rows"][0], p["rows"][-2]
    ratio = p["val_acc"] / p["majority"]
    where = ("so the tokens carry where in the frame the motion happens, and the detectors read features averaged "
             "over space" if p["val_acc"] > mean_same["val_acc"] else
             "so keeping the patch positions does not help here")
    return [f"Fitted on the corpus and the training instances and reading the tokens per patch position, the linear "
            f"probe reaches {100 * p['val_acc']:.1f} % on the validation instance clips, {ratio:.1f} × the majority "
            f"class's {100 * p['majority']:.1f} % (target: 3 ×, " + ("met)." if ratio >= 3 else "missed)."),
            f"Averaged over space, the same tokens give {100 * mean_same['val_acc']:.1f} % with the same training "
            f"clips, and {100 * first['val_acc']:.1f} % fitted on the {first['train_clips']} training instances "
            f"alone; {where}."]


def adapter_counts():
    """Adapter parameters on VideoMAE-S (12 blocks, C = 384, r = 4) next to Table 4; the paper's M is 2^20."""
    import pandas as pd

    rows = []
    for name, cfg, rep in [("standard adapter", A.AdapterConfig("standard"), "0.85M"),
                           ("TIA", A.AdapterConfig("tia"), "0.96M"),
                           ("DSTA (1×1, W_down per path)", A.AdapterConfig("dsta"), "1.80M"),
                           ("DSTA, our reading (3×3, one W_down)",
                            A.AdapterConfig("dsta", kernel_s=3, separate_down=False), "—")]:
        n = A.adapter_params(384, 12, cfg)
        rows.append({"adapter": name, "params": n, "M (2^20)": f"{n / 2 ** 20:.3f}", "M (10^6)": f"{n / 1e6:.3f}",
                     "reported": rep})
    return book.table(pd.DataFrame(rows), "Trainable adapter parameters on VideoMAE-S dimensions (12 blocks, 384 "
                                          "channels, ratio 4), next to Table 4's Param. column (reported).",
                      "adapter-counts", headers={"M (2^20)": "M (2²⁰)", "M (10^6)": "M (10⁶)"})


# --- Tables 3 and 4 -------------------------------------------------------------------------------------------------

def _pm(vals: list[float]) -> str:
    return book.pm(*book.mean_std(vals))


def table4(runs: Runs):
    import pandas as pd

    shown = [s for s in TABLE4 if s in settings(runs)]
    rows = []
    for s in shown:
        rep = REPORTED_TABLE4.get(s, ("", ""))
        rows.append({"setting": NAMES[s], "params": _rows(runs, s)[0]["params"],
                     "mAP": _pm(_values(runs, s, "action/average_mAP")), "rep_params": rep[0] or "—",
                     "rep_map": rep[1] or "—"})
    rows.append({"setting": NAMES["prior"], "params": 0,
                 "mAP": book.pm(_prior(runs)["action/average_mAP"]), "rep_params": "—", "rep_map": "—"})
    seeds = _over_seeds(runs, shown)
    return book.table(pd.DataFrame(rows), f"Table 4 analogue: action-level average mAP (%, tIoU 0.1:0.9, mean ± std "
                                          f"over {seeds}) and the trainable backbone parameters "
                                          f"of each setting at this profile's ViT size; the last two columns are the "
                                          f"paper's Table 4 (reported, VideoMAE-S).", "table4", best=("mAP",),
                      headers={"params": "params", "mAP": "action avg (%)",
                               "rep_params": "reported Param.", "rep_map": "reported mAP"})


def table3(runs: Runs, level: str):
    """Table 3's columns of one ``level`` ("action", "body" or "AVG"): measured rows, each followed by its paper row."""
    import pandas as pd

    cols = [c for c in TABLE3_COLUMNS if c.startswith(level)]
    shown = [s for s in TABLE3 if s in settings(runs)]
    rows = []
    for s in shown + ["prior"]:
        r = {"setting": NAMES[s]}
        for c in cols:
            r[c] = _pm(_values(runs, s, c)) if s != "prior" else book.pm(_prior(runs)[c])
        rows.append(r)
        if s in REPORTED_TABLE3:
            name, vals = REPORTED_TABLE3[s]
            rows.append({"setting": f"reported: {name}", **{c: v for c, v in zip(TABLE3_COLUMNS, vals) if c in cols}})
    what = {"action": "action level", "body": "body level", "AVG": "AVG (the mean of both levels' averages)"}[level]
    seeds = _over_seeds(runs, shown)
    return book.table(pd.DataFrame(rows), f"Table 3 analogue, {what}: detection mAP (%), mean ± std over "
                                          f"{seeds}, each measured row followed by the paper's "
                                          f"Table 3 row it is compared with (reported; v2-g: features of a frozen "
                                          f"VideoMAEv2-g). All measured rows, PointTAD included, are scored by the "
                                          f"OpenTAD rules.", f"table3-{level}",
                      headers=SHORT)


def threshold_figure(runs: Runs):
    """mAP at every tIoU threshold, every setting (seed mean) against the class prior, at both levels."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=False)
    for ax, level in zip(axes, ("action", "body")):
        for i, s in enumerate(settings(runs)):
            ys = [100 * np.mean(_values(runs, s, f"{level}/mAP@{t}")) for t in THRESHOLDS]
            ax.plot(THRESHOLDS, ys, marker="o", ms=3, color=f"C{i}", label=NAMES[s])
        ax.plot(THRESHOLDS, [100 * _prior(runs)[f"{level}/mAP@{t}"] for t in THRESHOLDS], "k--", lw=2,
                label=NAMES["prior"])
        ax.set(xlabel="tIoU threshold", ylabel="mAP (%)", title=f"{level} level")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2)
    fig.tight_layout()
    return book.figure(fig, "mAP (%) at each tIoU threshold, seed mean of every setting, against the class-prior "
                            "detector (dashed), at action level (left) and body level (right).", "per-threshold")


def paired_table(runs: Runs):
    """Every setting minus TIA on the same seeds: AVG and action-level average mAP, with 95 % CIs."""
    import pandas as pd

    rows = [{"setting": NAMES[s], "AVG": _ci(d_avg), "action": _ci(d_act)} for s, d_avg, d_act in _paired(runs)]
    return book.table(pd.DataFrame(rows), f"Paired differences against TIA, the paper's baseline (points of mAP; "
                                          f"mean over {_over_seeds(runs, settings(runs))}, paired by seed, with its "
                                          f"95 % t interval).",
                      "paired", headers={"AVG": "Δ AVG", "action": "Δ action avg"})


def _ci(d: dict) -> str:
    if d["ci95_low"] is None:
        return f"{100 * d['diff_mean']:+.1f}"
    return f"{100 * d['diff_mean']:+.1f} [{100 * d['ci95_low']:+.1f}, {100 * d['ci95_high']:+.1f}]"


def _paired(runs: Runs, amplitude: float | None = None, others=None):
    base = {r["seed"]: r for r in _rows(runs, BASELINE, amplitude)}
    for s in others or [s for s in settings(runs) if s != BASELINE]:
        pairs = [(r, base[r["seed"]]) for r in _rows(runs, s, amplitude) if r["seed"] in base]
        if not pairs:
            continue
        yield s, *(book.paired_difference([a[k] for a, _ in pairs], [b[k] for _, b in pairs])
                   for k in ("AVG", "action/average_mAP"))


def findings(runs: Runs) -> list[str]:
    """Sentences generated from the runs: the targets against the trivial detector, then each setting against TIA."""
    out = []
    prior = _prior(runs)
    best = best_setting(runs)
    b = np.mean(_values(runs, best, "AVG"))
    out.append(f"The best setting, {NAMES[best]}, reaches an AVG of {100 * b:.1f} %, {b / prior['AVG']:.1f} × the "
               f"class prior's {100 * prior['AVG']:.1f} % (target: 2.5 ×, " + ("met)." if b >= 2.5 * prior["AVG"]
                                                                             else "missed)."))
    below = [f"{level} @{t}" for level in ("action", "body") for t in THRESHOLDS
             if np.mean(_values(runs, best, f"{level}/mAP@{t}")) <= prior[f"{level}/mAP@{t}"]]
    out.append(f"{NAMES[best]} is above the class prior at every tIoU threshold at both levels."
               if not below else f"{NAMES[best]} is not above the class prior at {', '.join(below)}.")
    out += ["AVG: " + book.verdict(NAMES[s], NAMES[BASELINE], d) for s, d, _ in _paired(runs)]
    return out


def pointtad_note(runs: Runs) -> list[str]:
    """PointTAD's scores under its own evaluator's rules, next to the OpenTAD rules of the table."""
    if not _rows(runs, "pointtad"):
        return []
    own, ot = _values(runs, "pointtad", "pointtad_eval/AVG"), _values(runs, "pointtad", "AVG")
    return [f"PointTAD scored by its own evaluator's rules (no cleaning of duplicate ground truth, tIoU union + 1e-4) "
            f"has an AVG of {_pm(own)} %, against {_pm(ot)} % by the OpenTAD rules of the table above."]


# --- the amplitude sweep --------------------------------------------------------------------------------------------

def sweep_figure(sweep: Runs):
    import matplotlib.pyplot as plt

    amps = sorted(sweep.prior)
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for i, s in enumerate(sweep.study.sweep_settings):
        stats = [book.mean_std(_values(sweep, s, "AVG", a)) for a in amps]
        ax.errorbar(amps, [100 * m for m, _ in stats], yerr=[100 * (sd or 0.0) for _, sd in stats], marker="o",
                    capsize=3, color=f"C{i}", label=NAMES[s])
    ax.plot(amps, [100 * sweep.prior[a]["AVG"] for a in amps], "k--", label=NAMES["prior"])
    ax.set(xlabel="gesture amplitude (generator knob)", ylabel="AVG mAP (%)")
    ax.legend()
    fig.tight_layout()
    return book.figure(fig, "AVG mAP (%) against the amplitude of the rendered micro-actions: mean ± std over seeds of "
                            "TIA and DSTA on data rendered at each amplitude, all on the one pretrained backbone; the "
                            "dashed line is the class prior.", "amplitude-sweep")


def sweep_metrics(sweep: Runs) -> dict:
    """``sweep/<setting>/amp<a>/AVG`` (seed means) and ``sweep/prior/amp<a>/AVG``."""
    out = {}
    for amp in sorted(sweep.prior):
        out[f"sweep/prior/amp{amp:g}/AVG"] = float(sweep.prior[amp]["AVG"])
        for s in sweep.study.sweep_settings:
            vals = _values(sweep, s, "AVG", amp)
            if vals:
                out[f"sweep/{s}/amp{amp:g}/AVG"] = float(np.mean(vals))
                out[f"sweep/{s}/amp{amp:g}/seeds"] = len(vals)
    return out


def sweep_findings(sweep: Runs) -> list[str]:
    a, b = sweep.study.sweep_settings[-1], sweep.study.sweep_settings[0]
    out = []
    for amp in sorted(sweep.prior):
        for s, d, _ in _paired(sweep, amp, [a]) if b == BASELINE else ():
            out.append(f"AVG at amplitude {amp:g}: " + book.verdict(NAMES[s], NAMES[b], d))
    return out


# --- chapter 31: one run's errors -----------------------------------------------------------------------------------

def load_run(folder) -> tuple[dict, dict, list]:
    """(resolved config dict, validation predictions, validation videos) of a finished detection run."""
    from mglib.studies.detection.data import load_split

    folder = Path(folder) if Path(folder).is_absolute() else paths.ROOT / folder
    for name in ("config.json", "predictions.json"):
        if not (folder / name).exists():
            raise InputError(f"{paths.relative(folder / name)}: missing; run notebooks/30_mmad first")
    cfg = json.loads((folder / "config.json").read_text())["config"]
    preds = json.loads((folder / "predictions.json").read_text())
    videos = load_split(DataConfig(**cfg["data"]), "val", cfg["vit"]["img_size"], cfg["vit"]["num_frames"])
    return cfg, preds, videos


def chosen_run(rows: list[dict], setting: str, seed: int) -> dict:
    row = next((r for r in rows if r["setting"] == setting and r["seed"] == seed), None)
    if row is None:
        raise InputError(f"parameters 'setting'/'seed': no run of {setting!r} with seed {seed} in chapter 30's "
                         f"record (run notebooks/30_mmad with that setting and seed first)")
    return row


def fp_figure(res: dict):
    import matplotlib.pyplot as plt

    from mglib.metrics.plots import plot_fp_profile

    fig, axes = plt.subplots(2, 2, figsize=(9, 6), gridspec_kw={"width_ratios": [3, 2]})
    for row, level in zip(axes, ("action", "body")):
        plot_fp_profile(res[level], ax=row, title=f"{level} level")
    fig.tight_layout()
    return book.figure(fig, "False-positive profiles (as the paper's Fig. 6) at tIoU 0.5: the share of each error "
                            "type among the top-G predictions (left) and the average-mAP gain of removing each type "
                            "(right), at action level (top) and body level (bottom).", "fp-profile")


def fn_figure(res: dict):
    import matplotlib.pyplot as plt

    from mglib.metrics.plots import plot_fn_profile

    fig, axes = plt.subplots(2, 1, figsize=(8, 5))
    for ax, level in zip(axes, ("action", "body")):
        plot_fn_profile(res[level], ax=ax, title=f"{level} level")
    fig.tight_layout()
    return book.figure(fig, "False-negative rate (%) by instance coverage, length and number of instances per video "
                            "(as the paper's Fig. 7), at tIoU 0.5; empty buckets are left out.", "fn-profile")


def gain_table(res: dict):
    import pandas as pd

    types = list(res["action"]["fp_removal_gain"])
    df = pd.DataFrame([{"level": level, **{t: res[level]["fp_removal_gain"][t] for t in types}}
                       for level in ("action", "body")])
    return book.table(df, "Average-mAP gain (points) from removing each false-positive type, at both levels.",
                      "fp-gain", pct=types, best=types)


def timeline_figure(video, rows: list[dict], top: int = 10):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 0.28 * (len(video.instances) + min(top, len(rows))) + 1.6))
    for ax, level in zip(axes, ("action", "body")):
        _timeline(video, rows, top, ax, level)
    fig.tight_layout()
    return book.figure(fig, f"Video {video.video_id}: ground truth (grey) and the top-{top} predictions, each coloured "
                            f"by its best tIoU with a ground-truth instance of the same label (as the paper's Fig. 8).",
                       f"timeline-{video.video_id}")


def _timeline(video, rows: list[dict], top: int, ax, level: str):
    import matplotlib.pyplot as plt

    from mglib.metrics import tiou_pairwise
    from mglib.taxonomy import ACTION_TO_BODY, MA52_BODY_LETTERS, MA52_CODES

    gt = video.instances
    rows = sorted(rows, key=lambda r: -r["score"])[:top]
    plab, glab = np.array([r["label"] for r in rows], dtype=int), gt[:, 2].astype(int)
    if level == "body":
        plab, glab = ACTION_TO_BODY[plab], ACTION_TO_BODY[glab]
    names = MA52_CODES if level == "action" else MA52_BODY_LETTERS
    pseg = np.array([r["segment"] for r in rows], dtype=float).reshape(-1, 2)
    iou = tiou_pairwise(pseg, gt[:, :2]) if len(rows) and len(gt) else np.zeros((len(rows), len(gt)))
    best = np.where(plab[:, None] == glab[None], iou, 0.0).max(1) if len(gt) else np.zeros(len(rows))
    cmap = plt.get_cmap("viridis")
    labels = []
    for i, (s, e, _) in enumerate(gt):
        ax.barh(i, e - s, left=s, color="0.6")
        labels.append(f"gt {names[glab[i]]}")
    for j, r in enumerate(rows):
        ax.barh(len(gt) + j, pseg[j, 1] - pseg[j, 0], left=pseg[j, 0], color=cmap(best[j]))
        labels.append(f"{names[plab[j]]} {r['score']:.2f}")
    ax.set_yticks(range(len(labels)), labels, fontsize=9)
    ax.invert_yaxis()
    ax.set(xlim=(0, video.duration), xlabel="time (s)", title=f"{level} level")
    ax.figure.colorbar(plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, 1)), ax=ax, label="tIoU")
