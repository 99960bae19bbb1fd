"""Tables and figures of the datasets chapter (notebooks/01_datasets): real datasets as reported, the synthetic
stand-ins read back through the same readers the studies use, and real and synthetic statistics side by side."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from mglib import book
from mglib.data import imigue, mma52, smg
from mglib.taxonomy import ACTION_TO_BODY, MA52_BODY_LEVELS, MA52_CODES, MA52_NAMES, imigue_index_to_raw

# Figures as reported by the dataset papers / releases (see the chapter for sources); never computed here.
REPORTED = [
    {"dataset": "SMG", "task here": "online recognition", "classes": "17 (16 MG + non-MG)",
     "size": "40 sequences, 3,692 MG clips", "subjects": 40, "modality": "RGB, depth, Kinect-v2 skeleton",
     "fps": "30", "protocol": "subjects 1-35 train / 36-40 test", "metric": "F1 (starter-kit rule)"},
    {"dataset": "iMiGUE", "task here": "classification", "classes": "32 (31 MG + non-MG)",
     "size": "359 videos, 18,499 clips", "subjects": 72, "modality": "RGB 1280x720, OpenPose 2-D",
     "fps": "25", "protocol": "cross-subject 37/35; MiGA'24: 12,893/777/4,562 clips", "metric": "Top-1"},
    {"dataset": "MA-52", "task here": "taxonomy", "classes": "52 actions, 7 body levels",
     "size": "22,422 clips", "subjects": 205, "modality": "RGB", "fps": "30",
     "protocol": "11,250/5,586/5,586 clips", "metric": "Top-1/5, F1"},
    {"dataset": "MMA-52", "task here": "multi-label detection", "classes": "52 actions, 7 body levels",
     "size": "6,528 videos, 19,782 instances", "subjects": 203, "modality": "RGB", "fps": "29 or 30",
     "protocol": "4,534/1,475/519 videos, subject-independent", "metric": "mAP@tIoU 0.1:0.9, action+body"},
]


def reported_table():
    rows = [{"dataset": r["dataset"], "property": k, "reported": str(v)} for r in REPORTED for k, v in r.items()
            if k != "dataset"]
    return book.table(pd.DataFrame(rows), "The datasets as their papers and releases describe them (reported, not "
                      "measured here).", "reported")


def meta(root) -> dict:
    return json.loads((Path(root) / "meta.json").read_text())


def synthetic_overview(roots: dict, profile: str):
    """One row per synthetic dataset: items, instances, classes present, subjects per split, mean duration."""
    rows = []
    seqs = smg.read_root(roots["smg"])
    m = meta(roots["smg"])
    rows.append({"dataset": "SMG (synthetic)", "videos": len(seqs), "instances": sum(len(s.labels) for s in seqs),
                 "classes present": len({int(c) for s in seqs for c in s.labels[:, 0]}),
                 "subjects train/val/test": "/".join(str(len(m["subjects"][k])) for k in ("train", "val", "test")),
                 "mean video (s)": round(float(np.mean([s.num_frames / s.fps for s in seqs])), 1),
                 "mean instance (s)": round(float(np.mean([(e - s + 1) / q.fps for q in seqs
                                                          for _, s, e in q.labels])), 2)})
    anns, split = imigue.load_pyskl(Path(roots["imigue"]) / "imigue.pkl")
    m = meta(roots["imigue"])
    rows.append({"dataset": "iMiGUE (synthetic)", "videos": len(m["video_subject"]), "instances": len(anns),
                 "classes present": len({a["label"] for a in anns}),
                 "subjects train/val/test": "/".join(str(len(m["subjects"][k])) for k in ("train", "val", "test")),
                 "mean video (s)": round(float(np.mean([a["total_frames"] / 25 for a in anns])), 2),
                 "mean instance (s)": round(float(np.mean([a["total_frames"] / 25 for a in anns])), 2)})
    data = mma52.read_root(roots["mma52"])
    vids = [v for vs in data.values() for v in vs]
    m = meta(roots["mma52"])
    rows.append({"dataset": "MMA-52 (synthetic)", "videos": len(vids), "instances": sum(len(v.instances) for v in vids),
                 "classes present": len({int(c) for v in vids for c in v.instances[:, 2]}),
                 "subjects train/val/test": "/".join(str(len(m["subjects"][k])) for k in ("train", "val", "test")),
                 "mean video (s)": round(float(np.mean([v.duration for v in vids])), 1),
                 "mean instance (s)": round(float(np.mean([(e - s) / v.fps for v in vids
                                                          for s, e, _ in v.instances])), 2)})
    return book.table(pd.DataFrame(rows), f"The synthetic stand-ins at the `{profile}` profile, read back through the "
                      "readers: items, labelled instances, classes present, subjects per split and mean lengths.",
                      "synthetic", decimals=2)


def mma_instances(root, splits=("train", "val", "test")) -> pd.DataFrame:
    """Every MMA-52 instance of ``splits``: split, video, class, code, name, body level, start, end and duration in
    seconds, the video's duration and fps, and whether the instance overlaps another instance of its video."""
    rows = []
    for split, vids in mma52.read_root(root).items():
        if split not in splits:
            continue
        for v in vids:
            for s, e, c in v.instances:
                c = int(c)
                rows.append({"split": split, "video": v.video_id, "class": c, "code": MA52_CODES[c],
                             "name": MA52_NAMES[c], "body": MA52_BODY_LEVELS[ACTION_TO_BODY[c]],
                             "seconds": (e - s) / v.fps, "start": s / v.fps, "end": e / v.fps, "video_s": v.duration,
                             "fps": v.fps})
    inst = pd.DataFrame(rows)
    pairs = overlap_pairs(inst)
    inst["overlaps"] = False
    inst.loc[np.unique(pairs[["i", "j"]].to_numpy()), "overlaps"] = True
    return inst


def overlap_pairs(inst: pd.DataFrame) -> pd.DataFrame:
    """Within-video instance pairs (row positions i < j of ``inst``) that overlap in time."""
    a = inst[["video", "start", "end"]].reset_index(drop=True).rename_axis("i").reset_index()
    m = a.merge(a.rename(columns={"i": "j"}), on="video", suffixes=("_i", "_j"))
    m = m[(m.i < m.j) & (m.start_i < m.end_j) & (m.start_j < m.end_i)]
    return m[["video", "i", "j"]].reset_index(drop=True)


def cooccurrence(inst: pd.DataFrame, level: str = "body") -> pd.DataFrame:
    """Counts of within-video instance pairs that overlap in time, by body level (or class); symmetric, a pair of
    one label counted once on the diagonal."""
    key = "body" if level == "body" else "class"
    labels = MA52_BODY_LEVELS if level == "body" else list(range(52))
    pairs = overlap_pairs(inst)
    a, b = inst[key].to_numpy()[pairs.i], inst[key].to_numpy()[pairs.j]
    index = {lab: k for k, lab in enumerate(labels)}
    mat = np.zeros((len(labels), len(labels)), np.int64)
    ia, ib = np.array([index[x] for x in a], np.int64), np.array([index[x] for x in b], np.int64)
    np.add.at(mat, (ia, ib), 1)
    np.add.at(mat, (ib, ia), (ia != ib).astype(np.int64))
    return pd.DataFrame(mat, index=labels, columns=labels)


# ---------------------------------------------------------------------------------------------- real vs synthetic
# Durations count frames inclusively (end - start + 1); a gap is the next start minus the previous end (1: back to
# back, <= 0: overlapping), over segments sorted by start within a sequence or video.

def _segment_rows(per_video: list[np.ndarray], fps: float, unit: str, real: dict, keys: tuple[str, str, str],
                  names: tuple[str, str, str]) -> tuple[list, np.ndarray, np.ndarray]:
    """The rows shared by SMG and iMiGUE from [class, start, end] segment lists (one array per sequence or video),
    lengths in ``unit`` (frames or s): count per container, duration and gap quantiles, real beside synthetic.
    ``keys``: the calibration table's count, duration and gap entries; ``names``: container, segment, their plural."""
    scale = 1.0 if unit == "frames" else 1.0 / fps
    dur, gap, n = [], [], []
    for lab in per_video:
        lab = lab[np.argsort(lab[:, 1], kind="stable")]
        n.append(len(lab))
        dur.append((lab[:, 2] - lab[:, 1] + 1) * scale)
        gap.append((lab[1:, 1] - lab[:-1, 2]) * scale)
    n, dur, gap = np.asarray(n), np.concatenate(dur), np.concatenate(gap)
    container, segment, segments = names
    count, d_key, g_key = (real[k] for k in keys)
    rows = [(f"{segments} per {container}, median", count["median"], float(np.median(n))),
            (f"{segments} per {container}, mean", count["mean"], float(n.mean()))]
    for label, key, value in (("10th percentile", "p10", np.percentile(dur, 10)), ("median", "median", np.median(dur)),
                              ("mean", "mean", dur.mean()), ("90th percentile", "p90", np.percentile(dur, 90))):
        rows.append((f"duration ({unit}), {label}", d_key[key], float(value)))
    for label, key, q in (("10th percentile", "p10", 10), ("median", "median", 50), ("90th percentile", "p90", 90)):
        rows.append((f"gap to the next {segment} ({unit}), {label}", g_key[key], float(np.percentile(gap, q))))
    classes = np.concatenate([lab[:, 0] for lab in per_video])
    return rows, gap, classes


def _table(stats: list[tuple[str, object, object]], decimals: int = 2) -> pd.DataFrame:
    def fmt(v):
        if isinstance(v, str):
            return v
        return f"{v:,}" if isinstance(v, (int, np.integer)) else f"{v:.{decimals}f}"
    return pd.DataFrame([{"statistic": k, "real": fmt(r), "synthetic": fmt(y)} for k, r, y in stats])


def _pct(x) -> str:
    return f"{100 * x:.1f} %"


def smg_vs_real(root):
    """SMG training sequences (subjects 1-35): the real fine labels' aggregates beside the synthetic ones."""
    from mglib.data.calibration import SMG, class_shares

    per = [smg.read_labels(f / f"{f.name}_finelabels.csv") for f in smg.sequence_folders(root)
           if smg.split_of(smg.subject_of(f)) == "train"]
    rows, gap, classes = _segment_rows(per, 30.0, "frames", SMG, ("gestures_per_sequence", "duration_frames",
                                                                  "gap_frames"), ("sequence", "gesture", "gestures"))
    shares = np.bincount(classes, minlength=17) / len(classes)
    top2 = np.argsort(-shares, kind="stable")[:2]
    (c1, s1), (c2, s2) = sorted(class_shares(SMG).items(), key=lambda kv: -kv[1])[:2]
    stats = [("training sequences", SMG["sequences"], len(per)), ("gestures", SMG["gestures"], len(classes)), *rows,
             ("consecutive pairs that overlap", "{} of {}".format(*SMG["overlapping_pairs"]),
              f"{int((gap <= 0).sum())} of {len(gap)}"),
             ("two largest classes (label), share", f"{c1} + {c2}: {_pct(s1 + s2)}",
              f"{top2[0] + 1} + {top2[1] + 1}: {_pct(shares[top2].sum())}")]
    return book.table(_table(stats, decimals=1), "SMG training sequences (subjects 1-35): aggregates of the real fine "
                      "labels (reconstructed from a public MiGA challenge entry; `mglib.data.calibration`) beside the "
                      "synthetic ones at this profile. Durations count frames inclusively; a gap is the next start "
                      "minus the previous end (1: back to back, 0 or less: overlapping); labels are the raw 1-17.",
                      "smg-vs-real")


def imigue_vs_real(root):
    """iMiGUE long videos: the real label table's aggregates beside the synthetic raw videos' labels."""
    from mglib.data.calibration import IMIGUE, class_shares

    per = [imigue.read_raw_labels(f / f"{f.name}_label.csv")
           for f in sorted(p for p in (Path(root) / "raw").iterdir() if p.is_dir())]
    rows, gap, classes = _segment_rows(per, 25.0, "s", IMIGUE, ("segments_per_video", "duration_s", "gap_s"),
                                       ("video", "segment", "segments"))
    shares = np.bincount(classes, minlength=32) / len(classes)
    real = class_shares(IMIGUE)
    mg = int(np.argmax(shares[:31]))
    stats = [("videos", IMIGUE["videos"], len(per)), ("segments", IMIGUE["segments"], len(classes)), *rows,
             ("consecutive pairs that overlap", _pct(IMIGUE["overlap_share"]), _pct(float((gap <= 0).mean()))),
             ("non-micro-gesture class (raw 99), share", _pct(real[99]), _pct(shares[31])),
             ("largest micro-gesture class (raw label), share", f"31: {_pct(real[31])}",
              f"{imigue_index_to_raw(mg)}: {_pct(shares[mg])}")]
    return book.table(_table(stats), "iMiGUE long videos: aggregates of all 18,498 real labelled segments (the "
                      "authors' label table; `mglib.data.calibration`) beside the labels of the synthetic raw videos "
                      "at this profile, at 25 fps. Durations count frames inclusively; a gap is the next start minus "
                      "the previous end.", "imigue-vs-real")


def mma_vs_real(real_root, root):
    """MMA-52 training split: the real annotation CSVs beside the synthetic ones (a note when the real files are
    not here)."""
    if real_root is None:
        return book.result_box("The real MMA-52 annotations are not in data/real/mma52, so this comparison is left "
                               "out; `python -m mglib data fetch mma52-annotations` fetches them.",
                               "MMA-52: real vs synthetic")
    rows = []
    for name, path in (("real", real_root), ("synthetic", root)):
        inst = mma_instances(path, ("train",))
        videos = inst.groupby("video").agg(n=("class", "size"), dur=("video_s", "first"))
        top5 = inst["class"].value_counts().to_numpy()[:5].sum() / len(inst)
        rows.append([len(videos), len(inst), float(videos.n.mean()), float(videos.dur.mean()),
                     float(np.percentile(inst.seconds, 10)), float(inst.seconds.median()), float(inst.seconds.mean()),
                     float(np.percentile(inst.seconds, 90)), _pct(inst.overlaps.mean()),
                     float((inst.seconds / inst.video_s).median()), _pct(top5)])
    names = ["videos", "instances", "instances per video", "video length (s), mean",
             "instance length (s), 10th percentile", "instance length (s), median", "instance length (s), mean",
             "instance length (s), 90th percentile", "instances overlapping another of their video",
             "coverage (instance / video length), median", "five largest classes, share"]
    return book.table(_table([(k, r, y) for k, r, y in zip(names, *rows)]), "MMA-52 training split: the real "
                      "annotation CSVs (fetched and sha256-verified) beside the synthetic ones at this profile. "
                      "Lengths in seconds with each video's fps; overlap: another instance of the same video overlaps "
                      "in time.",
                      "mma-vs-real")


def subject_table(roots: dict):
    rows = []
    for ds, root in roots.items():
        m = meta(root)
        for split in ("train", "val", "test"):
            subj = m["subjects"].get(split, [])
            rows.append({"dataset": ds, "split": split, "subjects": len(subj),
                         "ids": ", ".join(map(str, subj[:8])) + (" ..." if len(subj) > 8 else "")})
    return book.table(pd.DataFrame(rows), "Synthetic subjects per split: no subject appears in two splits of a "
                      "dataset (for SMG, the held-out validation subjects count as `train` under the official rule).",
                      "subjects")


# ---------------------------------------------------------------------------------------------- figures
BODY_COLORS = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3"]


def plot_class_frequency(inst: pd.DataFrame, ax=None):
    """Instances per action class, sorted, coloured by body level (the style of MMAD's Fig. 3)."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(8, 3))[1]
    counts = inst["class"].value_counts().reindex(range(52), fill_value=0).sort_values(ascending=False)
    colors = [BODY_COLORS[ACTION_TO_BODY[c]] for c in counts.index]
    ax.bar(range(52), counts.values, color=colors)
    ax.set_xticks(range(52), [MA52_CODES[c] for c in counts.index], rotation=90, fontsize=8)
    ax.set_ylabel("instances")
    for i, name in enumerate(MA52_BODY_LEVELS):
        ax.bar(0, 0, color=BODY_COLORS[i], label=name)
    ax.legend(fontsize=8, ncol=4)
    return ax


def plot_durations(inst: pd.DataFrame, ax=None):
    """Instance duration per action class (seconds; the style of MMAD's Fig. 4)."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(8, 3))[1]
    order = [c for c in range(52) if (inst["class"] == c).any()]
    data = [inst.loc[inst["class"] == c, "seconds"].values for c in order]
    parts = ax.boxplot(data, patch_artist=True, widths=0.6, showfliers=False)
    for patch, c in zip(parts["boxes"], order):
        patch.set_facecolor(BODY_COLORS[ACTION_TO_BODY[c]])
    ax.set_xticks(range(1, len(order) + 1), [MA52_CODES[c] for c in order], rotation=90, fontsize=8)
    ax.set_ylabel("duration (s)")
    return ax


def plot_matrix(mat: pd.DataFrame, ax=None, title=""):
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(4, 3.5))[1]
    im = ax.imshow(mat.values, cmap="viridis")
    ax.set_xticks(range(len(mat)), mat.columns, rotation=90, fontsize=9)
    ax.set_yticks(range(len(mat)), mat.index, fontsize=9)
    for i in range(len(mat)):
        for j in range(len(mat)):
            ax.text(j, i, int(mat.values[i, j]), ha="center", va="center", fontsize=8, color="w")
    ax.set_title(title, fontsize=8)
    plt.colorbar(im, ax=ax, fraction=0.046)
    return ax


def pick_clips(anns: list[dict], classes: list[int]) -> list[dict]:
    """The first annotation of each requested class (in file order)."""
    out = []
    for c in classes:
        out.append(next(a for a in anns if a["label"] == c))
    return out


def plot_skeleton_strip(anns: list[dict], titles: list[str], frames=(0.25, 0.5, 0.75), fig=None):
    """2-D 22-joint skeletons (iMiGUE layout) at a few relative times, one row per clip."""
    import matplotlib.pyplot as plt

    fig = fig or plt.figure(figsize=(8, 1.6 * len(anns)))
    axes = fig.subplots(len(anns), len(frames), squeeze=False)
    for r, (a, title) in enumerate(zip(anns, titles)):
        kp, sc = a["keypoint"][0], a["keypoint_score"][0]
        ok = sc > 0
        lo, hi = kp[ok].min(0) - 20, kp[ok].max(0) + 20
        for col, f in enumerate(frames):
            ax = axes[r, col]
            t = int(f * (len(kp) - 1))
            for i, j in imigue.EDGES_22:
                if ok[t, i] and ok[t, j]:
                    ax.plot(kp[t, [i, j], 0], kp[t, [i, j], 1], "-", color="#4c72b0", lw=1)
            ax.scatter(kp[t, ok[t], 0], kp[t, ok[t], 1], s=4, color="#c44e52")
            ax.set_xlim(lo[0], hi[0])
            ax.set_ylim(hi[1], lo[1])
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(title, fontsize=9)
    return fig


def plot_rgb_strip(videos: list[Path], titles: list[str], frames=(0.25, 0.5, 0.75), fig=None):
    """RGB frames at a few relative times, one row per video."""
    import matplotlib.pyplot as plt

    from mglib.data.video import read_video

    fig = fig or plt.figure(figsize=(5, 1.6 * len(videos)))
    axes = fig.subplots(len(videos), len(frames), squeeze=False)
    for r, (v, title) in enumerate(zip(videos, titles)):
        clip, _ = read_video(v)
        for col, f in enumerate(frames):
            ax = axes[r, col]
            ax.imshow(clip[int(f * (len(clip) - 1))])
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(title, fontsize=9)
    return fig


def plot_smg_timeline(seq: smg.SMGSequence, ax=None):
    """Labelled gestures of one long sequence over time, above the height of both hands (Kinect y)."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(8, 2.5))[1]
    t = np.arange(len(seq.skeleton)) / seq.fps
    ax.plot(t, seq.skeleton[:, 11, 1], lw=0.7, label="right hand y (m)")
    ax.plot(t, seq.skeleton[:, 7, 1], lw=0.7, label="left hand y (m)")
    top = float(seq.skeleton[:, [7, 11], 1].max()) + 0.05
    for c, s, e in seq.labels:
        color = "#999999" if c == 16 else plt.cm.tab20(int(c) % 20)
        ax.axvspan((s - 1) / seq.fps, e / seq.fps, color=color, alpha=0.3)
        ax.text((s - 1) / seq.fps, top, str(int(c)), fontsize=8)
    ax.set_xlabel("time (s)")
    ax.legend(fontsize=8, loc="lower right")
    return ax


# ---------------------------------------------------------------------------------------------- the chapter's objects
def figure_mma(inst: pd.DataFrame, timelines: str):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1, figsize=(8, 5.5))
    plot_class_frequency(inst, axes[0])
    plot_durations(inst, axes[1])
    fig.tight_layout()
    return book.figure(fig, f"Synthetic MMA-52 at this profile ({timelines} timelines): instances per action class, "
                       "sorted and coloured by body level (top), and instance length per class (bottom), in the style "
                       "of Fig. 3 and 4 of the MMAD paper.", "mma-classes")


def mma_findings(inst: pd.DataFrame, timelines: str):
    counts = inst["class"].value_counts()
    items = [f"{len(inst):,} instances in {inst.video.nunique():,} videos; {counts.size} of the 52 classes are "
             f"present, the largest with {counts.max()} instances and the smallest with {counts.min()}.",
             f"{_pct(inst.overlaps.mean())} of the instances overlap another instance of their video."]
    items.append("Every video replays the timeline of the real video with the same id, and its annotation rows are "
                 "that video's real rows, byte for byte." if timelines == "real" else
                 "The real annotations were not available when the data was generated: the timelines are parametric.")
    return book.result_box(items, "Synthetic MMA-52")


def figure_cooccurrence(inst: pd.DataFrame):
    pairs = len(overlap_pairs(inst))
    total = int(sum(n * (n - 1) // 2 for n in inst.groupby("video").size()))
    ax = plot_matrix(cooccurrence(inst, "body"))
    return book.figure(ax.figure, f"Within-video instance pairs of the synthetic MMA-52 that overlap in time, by body "
                       f"level: {pairs:,} of the {total:,} within-video pairs.", "mma-cooccurrence")


def figure_strips(anns: list[dict], classes: list[int], root):
    """Skeletons and RGB frames of one clip per class, side by side, at 25/50/75 % of the clip."""
    import matplotlib.pyplot as plt

    from mglib.taxonomy import IMIGUE_CLASSES, IMIGUE_CODES

    clips = pick_clips(anns, classes)
    titles = [IMIGUE_CODES[c] for c in classes]
    fig = plt.figure(figsize=(8, 1.5 * len(clips)))
    left, right = fig.subfigures(1, 2, width_ratios=[1.2, 1])
    plot_skeleton_strip(clips, titles, fig=left)
    plot_rgb_strip([imigue.clip_video_path(root, a["frame_dir"]) for a in clips], titles, fig=right)
    names = "; ".join(f"{IMIGUE_CODES[c]} {IMIGUE_CLASSES[c].lower()}" for c in classes)
    return book.figure(fig, f"One synthetic iMiGUE clip per class ({names}) at 25, 50 and 75 % of its length: the 2-D "
                       "skeleton (left) and the RGB frames (right).", "strips")


def figure_smg_timeline(seq: smg.SMGSequence):
    ax = plot_smg_timeline(seq)
    ax.figure.tight_layout()
    return book.figure(ax.figure, f"Synthetic SMG sequence {seq.name} (subject {seq.subject}, "
                       f"{smg.split_of(seq.subject)}): {len(seq.labels)} labelled gestures over "
                       f"{seq.num_frames / seq.fps:.0f} s, shaded by class (grey: the non-micro-gesture class 16), "
                       "above the Kinect heights of both hands.", "smg-timeline")


def benchmark_table(table: pd.DataFrame, profile: str):
    return book.table(table, f"Generation time per dataset at the `{profile}` profile and reader throughput beside "
                      "plain references (`pandas.read_csv`, unrestricted `pickle.load`); `per_s`: items per second.",
                      "benchmark", decimals=3)
