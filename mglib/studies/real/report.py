"""What chapter 05 shows: tables, figures and generated sentences on the real MMA-52 annotations and the blind
detectors. Paper figures appear only in rows labelled "reported", quoted as printed. Chapter: notebooks/05_mma52_real.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from mglib import book
from mglib.metrics.detection import TABLE3_TIOU
from mglib.data.summary import BODY_COLORS
from mglib.studies.real.blind import TemplateParams
from mglib.studies.real.data import action_label
from mglib.taxonomy import ACTION_TO_BODY, MA52_BODY_LEVELS, MA52_CODES

# MMAD paper (Li et al., ICCV 2025), Table 1, as printed: videos, instances, duration, avg. video, avg. insta., #subj.
REPORTED_TABLE1 = {
    "train": ("4,534", "13,698", "12.91h", "10.25s", "4.10s", "140"),
    "val": ("1,475", "4,735", "4.34h", "10.60s", "4.10s", "37"),
    "test": ("519", "1,349", "1.42h", "9.86s", "3.79s", "26"),
    "all": ("6,528", "19,782", "18.67h", "10.30s", "4.07s", "203"),
}
# Table 3, as printed (%): method, backbone, action @0.2 @0.5 @0.7 Avg, body @0.2 @0.5 @0.7 Avg, AVG.
REPORTED_TABLE3 = [
    ("MS-TCT", "I3D", "5.72", "3.91", "2.16", "3.51", "12.28", "8.72", "4.50", "7.76", "5.64"),
    ("PointTAD", "I3D", "9.46", "3.79", "1.02", "4.51", "24.35", "11.06", "3.35", "12.12", "8.32"),
    ("ActionFormer", "VideoMAEv2-g", "23.81", "16.87", "8.50", "15.30", "40.51", "24.44", "12.20", "23.99", "19.65"),
    ("TemporalMaxer", "VideoMAEv2-g", "25.61", "17.09", "7.04", "15.17", "43.94", "26.48", "11.98", "25.51", "20.34"),
    ("TriDet", "VideoMAEv2-g", "22.41", "12.06", "4.59", "12.45", "35.60", "19.99", "7.84", "19.62", "16.04"),
    ("DyFadet", "VideoMAEv2-g", "22.17", "15.19", "7.96", "14.17", "42.52", "23.34", "12.55", "24.93", "19.55"),
    ("VideoMamba", "VideoMAEv2-g", "25.34", "17.55", "6.90", "15.21", "43.43", "25.45", "11.17", "24.08", "20.01"),
    ("TadTR", "SlowFast-R50", "16.33", "9.95", "6.15", "8.29", "32.24", "18.09", "8.45", "18.53", "13.41"),
    ("Re²TAL", "Swin-Tiny", "15.36", "6.67", "3.69", "8.10", "33.54", "12.78", "4.96", "15.98", "12.04"),
    ("Re²TAL", "SlowFast-101", "16.15", "7.10", "2.93", "8.10", "32.39", "12.15", "4.57", "15.38", "11.74"),
    ("AdaTAD", "VideoMAE-S", "24.94", "16.78", "10.93", "16.25", "45.51", "27.90", "7.52", "27.35", "21.80"),
    ("AdaTAD", "VideoMAE-B", "28.73", "19.23", "8.78", "17.44", "49.05", "28.86", "7.84", "28.71", "23.08"),
    ("DSTA", "VideoMAE-S", "28.05", "20.40", "9.03", "18.16", "47.14", "30.02", "8.37", "28.70", "23.43"),
    ("DSTA", "VideoMAE-B", "31.25", "20.87", "11.51", "20.30", "48.16", "32.40", "9.42", "30.37", "25.34"),
]
NAMES = {"whole_video": "whole video", "typical_segments": "typical segments", "templates": "templates",
         "localisation_solved": "localisation solved", "classification_solved": "classification solved"}
RULES = {"opentad": "OpenTAD", "pointtad": "MAC-2024"}
_SPLIT_COLORS = {"train": "#4c72b0", "val": "#dd8452"}


# ---------------------------------------------------------------------------------------------- statistics
def table_files():
    from mglib.data import fetch

    fs = fetch.get("mma52-annotations")
    df = pd.DataFrame([{"file": rf.path, "bytes": rf.size, "sha256": rf.sha256[:16] + "…"} for rf in fs.files])
    return book.table(df, f"The registered file set `{fs.name}`: {fs.description}. Source: {fs.source}. Licence: "
                      f"{fs.licence}.", "files")


T1_KEYS = ("videos", "instances", "duration", "avg. video", "avg. instance")


def _t1_cells(r: dict) -> dict:
    """A measured row of Table 1 printed as the paper prints it."""
    hidden = r["instances"] is None
    return {"videos": f"{r['videos']:,}", "instances": "hidden" if hidden else f"{r['instances']:,}",
            "duration": f"{r['hours']:.2f}h", "avg. video": f"{r['video_s']:.2f}s",
            "avg. instance": "hidden" if hidden else f"{r['instance_s']:.2f}s"}


def table_1(t1: pd.DataFrame):
    rows = []
    for r in t1.to_dict("records"):
        hidden = r["instances"] is None
        measured = {"split": f"{r['split']}, measured", **_t1_cells(r),
                    "overlapping": "hidden" if hidden else f"{100 * r['overlap_share']:.1f} %"}
        rep = dict(zip(T1_KEYS, REPORTED_TABLE1[r["split"]]))
        rows += [measured, {"split": f"{r['split']}, reported", **rep, "overlapping": "—"}]
    subjects = "/".join(REPORTED_TABLE1[s][5] for s in ("train", "val", "test", "all"))
    return book.table(pd.DataFrame(rows), "Table 1 of the MMAD paper, recomputed from the annotation CSVs "
                      "(measured) beside the paper's figures (reported, as printed); overlapping: the instances that overlap another "
                      "instance of their video. The test labels are hidden, so "
                      "the test instance figures cannot be measured and the measured `all` row counts the instances "
                      f"of train and val only. Subjects are not in the CSVs (reported train/val/test/all: {subjects}).",
                      "table1")


def table1_agreement(own: pd.DataFrame, at30: pd.DataFrame, videos_29fps: int) -> list[str]:
    """Which printed Table 1 figures the measurements reproduce, with each video's fps and with 30 fps for all.
    The measured `all` row's instance figures (train and val only) are not comparable and left out."""
    def compare(t1, keys):
        same, differ, ratio = [], [], []
        for r in t1.to_dict("records"):
            cells, rep = _t1_cells(r), dict(zip(T1_KEYS, REPORTED_TABLE1[r["split"]]))
            for k in keys:
                if cells[k] == "hidden" or (r["split"] == "all" and k in ("instances", "avg. instance")):
                    continue
                (same if cells[k] == rep[k] else differ).append(f"{r['split']} {k} {cells[k]} (reported {rep[k]})")
                number = lambda x: float(x.rstrip("hs").replace(",", ""))  # noqa: E731  "12.91h" -> 12.91
                ratio.append(number(cells[k]) / number(rep[k]))
        return same, differ, np.array(ratio)

    counts, durations = ("videos", "instances"), ("duration", "avg. video", "avg. instance")
    same_n, differ_n, _ = compare(own, counts)
    same, differ, ratio = compare(own, durations)
    same30, differ30, _ = compare(at30, durations)
    n = len(same) + len(differ)
    first = (f"All {len(same_n)} counts of videos and instances match Table 1 exactly. " if not differ_n else
             f"Counts that differ from Table 1: {'; '.join(differ_n)}. ")
    first += (f"With each video's own frame rate, {len(same)} of the {n} duration figures are reproduced as printed; "
              f"the measured ones are {100 * (ratio.min() - 1):.1f} to {100 * (ratio.max() - 1):.1f} % longer.")
    second = (f"Counting every video at 30 fps instead (the {videos_29fps:,} videos at 29 fps included) reproduces "
              f"{len(same30)} of the {n}" + (f"; the others: {'; '.join(differ30)}." if differ30 else "."))
    return [first, second]


def tail_findings(shares: pd.DataFrame) -> list[str]:
    pct = lambda x: f"{100 * x:.2f} %"  # noqa: E731
    tr = shares["train"].sort_values(ascending=False, kind="stable")
    b3, a2 = "B3 turning head", "A2 turning around"
    gap = (shares["val"] - shares["train"]).abs()
    return [f"The largest class, {tr.index[0]}, holds {pct(tr.iloc[0])} of the training instances "
            f"({pct(shares.loc[tr.index[0], 'val'])} of val); the five largest hold {pct(tr.iloc[:5].sum())}, and "
            f"{int((tr < 0.01).sum())} of the 52 classes hold less than 1 % each (the smallest, {tr.index[-1]}, "
            f"{pct(tr.iloc[-1])}). Between train and val the share of a class differs by at most "
            f"{100 * gap.max():.2f} points ({gap.idxmax()}).",
            "The paper reports: “B3: Turning head” accounts for nearly 13% whereas “A2: Turning around” appears "
            f"not up to 1% (reported, over its three subsets). Measured: {pct(shares.loc[b3, 'train'])} and "
            f"{pct(shares.loc[a2, 'train'])} of train, {pct(shares.loc[b3, 'val'])} and {pct(shares.loc[a2, 'val'])} "
            "of val."]


def figure_class_shares(shares: pd.DataFrame):
    """Action-class shares per split, sorted by the training share, coloured by body level (Fig. 3 analogue)."""
    import matplotlib.pyplot as plt

    order = shares.sort_values("train", ascending=True)
    codes = [MA52_CODES.index(lab.split(" ", 1)[0]) for lab in order.index]
    fig, ax = plt.subplots(figsize=(7.5, 10))
    y = np.arange(len(order))
    ax.barh(y, 100 * order["train"], color=[BODY_COLORS[ACTION_TO_BODY[c]] for c in codes])
    ax.plot(100 * order["val"], y, "k.", ms=4, label="val (dots)")
    ax.set_yticks(y, order.index, fontsize=9)
    ax.set_ylim(-0.7, len(order) - 0.3)
    ax.set_xlabel("share of the split's instances (%)")
    for i, name in enumerate(MA52_BODY_LEVELS):
        ax.barh(0, 0, color=BODY_COLORS[i], label=f"train, {name}")
    ax.legend(loc="lower right", fontsize=9)
    return book.figure(fig, "Share of each action class among the instances of train (bars, coloured by body level) "
                       "and val (dots), sorted by the training share: the long tail of Fig. 3 of the MMAD paper, "
                       "measured on the released annotations.", "class-shares")


def duration_findings(inst: pd.DataFrame) -> list[str]:
    """The spread of median instance lengths between classes and between body levels."""
    out = []
    for key, what in (("class", "action class"), ("body", "body level")):
        med = inst.groupby(key)["seconds"].median().sort_values(kind="stable")
        name = (lambda c: action_label(int(c))) if key == "class" else str
        out.append(f"The median instance length per {what} ranges from {med.iloc[0]:.2f} s ({name(med.index[0])}) to "
                   f"{med.iloc[-1]:.2f} s ({name(med.index[-1])}).")
    q10, q90 = np.percentile(inst.seconds, [10, 90])
    out.append(f"Over all instances of train and val, the 10th and 90th percentiles of the length are {q10:.2f} s and "
               f"{q90:.2f} s, a ratio of {q90 / q10:.1f}.")
    return out


def figure_body_levels(body_shares: pd.DataFrame, inst: pd.DataFrame):
    """Body-level shares per split and body-level durations (Fig. 3 and 4 at body level)."""
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.4))
    x = np.arange(len(MA52_BODY_LEVELS))
    for k, split in enumerate(("train", "val")):
        a.bar(x + (k - 0.5) * 0.4, 100 * body_shares[split], width=0.4, color=_SPLIT_COLORS[split], label=split)
    a.set_xticks(x, MA52_BODY_LEVELS, rotation=35, ha="right")
    a.set_ylabel("share of instances (%)")
    a.legend()
    data = [inst.loc[inst.body == lv, "seconds"].to_numpy() for lv in MA52_BODY_LEVELS]
    parts = b.boxplot(data, patch_artist=True, widths=0.6, showfliers=False)
    for patch, color in zip(parts["boxes"], BODY_COLORS):
        patch.set_facecolor(color)
    b.set_xticks(x + 1, MA52_BODY_LEVELS, rotation=35, ha="right")
    b.set_ylabel("instance length (s)")
    fig.tight_layout()
    return book.figure(fig, "Body levels: share of the instances of train and val (left) and instance length over "
                       "train and val (right; boxes: quartiles, whiskers: 1.5 IQR, outliers not drawn).", "body-levels")


def figure_durations(inst: pd.DataFrame, shares: pd.DataFrame):
    """Instance length per action class, in the order of the class-share figure (Fig. 4 analogue)."""
    import matplotlib.pyplot as plt

    order = [MA52_CODES.index(lab.split(" ", 1)[0]) for lab in shares.sort_values("train", ascending=True).index]
    fig, ax = plt.subplots(figsize=(7.5, 10))
    data = [inst.loc[inst["class"] == c, "seconds"].to_numpy() for c in order]
    parts = ax.boxplot(data, vert=False, patch_artist=True, widths=0.6, showfliers=False)
    for patch, c in zip(parts["boxes"], order):
        patch.set_facecolor(BODY_COLORS[ACTION_TO_BODY[c]])
    ax.set_yticks(np.arange(1, len(order) + 1), [action_label(c) for c in order], fontsize=9)
    ax.set_xlabel("instance length (s)")
    return book.figure(fig, "Instance length per action class over train and val, classes ordered as in the "
                       "class-share figure (boxes: quartiles, whiskers: 1.5 IQR, outliers not drawn): the spread of "
                       "Fig. 4 of the MMAD paper.", "durations")


def figure_cooccurrence(mat: pd.DataFrame):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.6))
    im = ax.imshow(mat.values, cmap="viridis")
    ax.set_xticks(range(len(mat)), mat.columns, rotation=40, ha="right")
    ax.set_yticks(range(len(mat)), mat.index)
    top = mat.values.max()
    for i in range(len(mat)):
        for j in range(len(mat)):
            v = int(mat.values[i, j])
            ax.text(j, i, f"{v:,}", ha="center", va="center", fontsize=8, color="k" if v > top / 2 else "w")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    same, total = int(np.trace(mat.values)), int(np.triu(mat.values).sum())
    return book.figure(fig, f"Within-video instance pairs that overlap in time, by body level (train and val): "
                       f"{total:,} pairs, {same:,} of them ({100 * same / total:.1f} %) on the same body level (the "
                       "diagonal).", "cooccurrence")


def table_pairs(pairs: pd.DataFrame):
    return book.table(pairs, f"The {len(pairs)} action pairs that most often overlap in time within a video (train "
                      "and val), with the number of videos holding such a pair and their share of all overlapping "
                      "pairs (%).",
                      "pairs", pct=("share of pairs",), headers={"share of pairs": "share of pairs (%)"})


def table_detad(chars: pd.DataFrame):
    rows = []
    for name, g in chars.groupby("characteristic", sort=False):
        row = {"characteristic": name.replace("_", " ")}
        for r in g.to_dict("records"):
            row[r["bucket"]] = f"{100 * r['share']:.1f}"
        rows.append(row)
    edges = "; ".join(f"{n.replace('_', ' ')} {', '.join(g['range'])}" for n, g in chars.groupby("characteristic",
                                                                                                     sort=False))
    return book.table(pd.DataFrame(rows).fillna("—"), "DETAD characteristics of the validation ground truth: share "
                      f"(%) of its {chars.groupby('characteristic')['instances'].sum().iloc[0]:,} instances in each "
                      f"bucket, with the buckets of chapter 31 ({edges}; coverage = instance length / video length, "
                      "length in seconds, #instances = instances in the video).", "detad")


# ---------------------------------------------------------------------------------------------- blind detectors
def _cells(r: dict) -> list[str]:
    """mAP@0.2, @0.5, @0.7 and the average over 0.1:0.9, in %, from one evaluator result."""
    return [f"{100 * r['mAP'][r['tiou'].index(t)]:.2f}" for t in TABLE3_TIOU] + [f"{100 * r['average_mAP']:.2f}"]


def _avg_both(by_level: dict) -> str:
    return f"{50 * (by_level['action']['average_mAP'] + by_level['body']['average_mAP']):.2f}"


def table_blind(scores: dict, params: dict, level: str):
    """The blind detectors at one level (the paper's Table 3 column group of that level) beside the reported rows;
    the body-level table carries AVG, the mean of the two levels' averages."""
    first = {"action": 0, "body": 4}[level]  # the level's first value in a REPORTED_TABLE3 row
    body = level == "body"
    rows = []
    for name in ("whole_video", "typical_segments", "templates"):
        for rules in RULES:
            r = scores[name][rules]
            rows.append([f"{NAMES[name]} ({RULES[rules]})", *_cells(r[level])] + ([_avg_both(r)] if body else []))
    rows += [[f"{m}, {bb} (reported)", *vals[first:first + 4]] + ([vals[-1]] if body else [])
             for m, bb, *vals in REPORTED_TABLE3]
    columns = ["detector", "@0.2", "@0.5", "@0.7", "avg"] + (["AVG"] if body else [])
    p = params[level]
    caption = (f"{level.capitalize()} level: detectors that never look at a video, fitted on train and scored on val "
               "(detection mAP, %), under the OpenTAD rules and the official MAC-2024 rules (in brackets), beside "
               "Table 3 of the MMAD paper (reported, as printed; the paper does not state which split it evaluates "
               f"on). avg: over tIoU 0.1:0.9. Templates: {p.coords} grid, K = {p.templates}, {p.bins} duration "
               f"bin(s), fitted to the {level}-level labels and chosen by cross-validation within train.")
    if body:
        caption += (" The first two detectors predict action classes, mapped to body levels as the paper does; AVG: "
                    "the mean of the action and body averages.")
    return book.table(pd.DataFrame(rows, columns=columns), caption, f"blind-{level}")


def table_oracles(scores: dict):
    rows = []
    for name in ("templates", "localisation_solved", "classification_solved"):
        for rules in RULES:
            r = scores[name][rules]
            action, body = _cells(r["action"]), _cells(r["body"])
            rows.append([f"{NAMES[name]} ({RULES[rules]})", action[1], action[3], body[1], body[3], _avg_both(r)])
    columns = ["detector", "action @0.5", "action avg", "body @0.5", "body avg", "AVG"]
    return book.table(pd.DataFrame(rows, columns=columns), "The two halves of the task on val (detection mAP, %, "
                      "with the rules in brackets): the template detector, then the same task with localisation "
                      "solved (every distinct ground-truth segment, each class scored by its training share among "
                      "instances of similar length) and with classification solved (the template detector's segments, "
                      "kept only for the classes present in the video).", "oracles")


def table_cv(cv: list[dict], params: dict):
    df = pd.DataFrame(cv)
    g = df.groupby(["level", "coords", "bins", "templates"], sort=False)["average_mAP"]
    out = g.agg(["mean", "std"]).reset_index()
    out["OpenTAD average mAP (%)"] = [book.pm(m, s, decimals=3) for m, s in zip(out["mean"], out["std"])]
    out["chosen"] = [params[r.level] == TemplateParams(r.coords, r.templates, r.bins, r.level)
                     for r in out.itertuples()]
    out = out.drop(columns=["mean", "std"]).rename(columns={"templates": "K", "bins": "duration bins"})
    return book.table(out, f"Cross-validation of the template detector within train ({df.fold.nunique()} folds of "
                      "the training videos; mean ± std over folds). Each level keeps its best grid point.", "cv")


# ---------------------------------------------------------------------------------------------- sentences
def _avg(scores, name, level, rules="opentad") -> float:
    return 100 * scores[name][rules][level]["average_mAP"]


def findings(scores: dict) -> list[str]:
    """Where the best blind detector stands against the reported rows, at each level."""
    out = []
    for level, col in (("body", 9), ("action", 5)):  # the column of the level's average in REPORTED_TABLE3
        blind = max(("whole_video", "typical_segments", "templates"), key=lambda n: _avg(scores, n, level))
        value = _avg(scores, blind, level)
        below = [f"{r[0]} ({r[1]}, {r[col]})" for r in REPORTED_TABLE3 if float(r[col]) <= value]
        above = [r for r in REPORTED_TABLE3 if float(r[col]) > value]
        sentence = (f"At {level} level the best blind detector ({NAMES[blind]}) reaches an average mAP of "
                    f"{value:.2f} on val with the OpenTAD rules. ")
        sentence += (f"That matches or exceeds the reported {level}-level average of " + ", ".join(below) + "."
                     if below else f"Every reported {level}-level average is higher.")
        if above:
            r = min(above, key=lambda r: float(r[col]))
            sentence += f" The lowest reported average above it is {r[0]} ({r[1]}, {r[col]})."
        out.append(sentence)
    out.append("The paper does not say on which split its Table 3 is measured; these blind scores are on val, so the "
               "comparison places the reported rows, it does not rank methods.")
    return out


def oracle_findings(scores: dict) -> list[str]:
    """Which half of the task, localisation or classification, holds a blind detector back more."""
    out = []
    for level in ("action", "body"):
        base = _avg(scores, "templates", level)
        loc, cls = _avg(scores, "localisation_solved", level), _avg(scores, "classification_solved", level)
        harder, known = ("classification", "classes") if cls - base > loc - base else ("localisation", "segments")
        out.append(f"At {level} level, solving localisation lifts the template detector's average mAP from "
                   f"{base:.2f} to {loc:.2f} (+{loc - base:.2f}); solving classification lifts it to {cls:.2f} "
                   f"(+{cls - base:.2f}). Knowing the {known} is worth more, so {harder} is the harder half for a "
                   "detector that cannot see the video.")
    cls = 50 * sum(scores["classification_solved"]["opentad"][lv]["average_mAP"] for lv in ("action", "body"))
    top = max(REPORTED_TABLE3, key=lambda r: float(r[-1]))
    out.append(f"With the classes of each video given, segments chosen without looking at it reach an AVG of "
               f"{cls:.2f}, {'above' if cls > float(top[-1]) else 'below'} the highest reported AVG ({top[0]}, "
               f"{top[1]}, {top[-1]}; the split of Table 3 is not stated).")
    gap = max(abs(_avg(scores, n, lv, "opentad") - _avg(scores, n, lv, "pointtad")) for n in scores
              for lv in ("action", "body"))
    out.append(f"The OpenTAD and the MAC-2024 rules differ by at most {gap:.2f} points of average mAP on these "
               "detectors.")
    return out


def metrics(scores: dict) -> dict:
    """``blind/<name>/<protocol>/<level>/<metric>`` and ``oracle/<name>/...`` for the run record."""
    out = {}
    for name, by_rules in scores.items():
        kind = "oracle" if name.endswith("_solved") else "blind"
        for rules, by_level in by_rules.items():
            for level, res in by_level.items():
                key = f"{kind}/{name}/{rules}/{level}"
                out[f"{key}/average_mAP"] = res["average_mAP"]
                for t in TABLE3_TIOU:
                    out[f"{key}/mAP@{t}"] = res["mAP"][res["tiou"].index(t)]
    return out
