"""Statistics of the real MMA-52 annotation CSVs: the Table 1 analogue, class shares, durations, co-occurrence and
the DETAD characteristics of the validation ground truth. Chapter: notebooks/05_mma52_real."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mglib.data import fetch, mma52, summary
from mglib.metrics import MMAD_BUCKETS
from mglib.metrics.detad import bucketize, characteristics
from mglib.metrics.detection import ground_truth_table
from mglib.taxonomy import MA52_BODY_LEVELS, MA52_CODES, MA52_NAMES

SET = "mma52-annotations"
LABELLED = ("train", "val")  # test.csv holds one placeholder row per video: its labels are hidden


def action_label(c: int) -> str:
    return f"{MA52_CODES[c]} {MA52_NAMES[c]}"


def real_root() -> Path:
    """data/real/mma52 with every registered file verified, fetched first when missing (from the mirror named by
    ``$MGLIB_DATA_MIRROR``, else from the pinned URLs)."""
    return fetch.verified_dir(SET) or fetch.fetch(SET, mirror=fetch.mirror_root(), progress=False)


def load(root) -> tuple[dict[str, list[mma52.MMAVideo]], pd.DataFrame]:
    """The videos of each split, and every labelled instance (train and val) as a table."""
    return mma52.read_root(root), summary.mma_instances(root, LABELLED)


def table1(data: dict, inst: pd.DataFrame, fps: float | None = None) -> pd.DataFrame:
    """Per split and for all: videos, instances, hours of video, mean video and instance length, and the share of
    instances overlapping another one of their video (instance figures: train and val only).

    Lengths use each video's frame rate, or ``fps`` for every video when given (frames / fps).
    """
    rows = []
    for split in (*mma52.SPLITS, "all"):
        vids = [v for s in mma52.SPLITS if split in (s, "all") for v in data[s]]
        seconds = np.array([v.total_frames / (fps or v.fps) for v in vids])
        g = inst if split == "all" else inst[inst.split == split]
        inst_s = g.seconds * g.fps / fps if fps else g.seconds
        labelled = split != "test"
        rows.append({"split": split, "videos": len(vids), "instances": len(g) if labelled else None,
                     "hours": seconds.sum() / 3600, "video_s": float(seconds.mean()),
                     "instance_s": float(inst_s.mean()) if labelled else None,
                     "overlap_share": float(g.overlaps.mean()) if labelled else None})
    return pd.DataFrame(rows, dtype=object)


def class_shares(inst: pd.DataFrame, level: str) -> pd.DataFrame:
    """Share of the instances of each split per action class (with code and name) or body level."""
    if level == "action":
        key, index = "class", list(range(len(MA52_NAMES)))
    else:
        key, index = "body", MA52_BODY_LEVELS
    out = pd.DataFrame({s: inst[inst.split == s][key].value_counts(normalize=True).reindex(index, fill_value=0.0)
                        for s in LABELLED})
    if level == "action":
        out.index = [action_label(c) for c in index]
    return out


def cooccurrence(inst: pd.DataFrame) -> pd.DataFrame:
    """Overlapping within-video instance pairs by body level (train and val)."""
    return summary.cooccurrence(inst, "body")


def top_pairs(inst: pd.DataFrame, n: int) -> pd.DataFrame:
    """The ``n`` action pairs that most often overlap in time within a video (a pair of one class included)."""
    pairs = summary.overlap_pairs(inst)
    a, b = inst["class"].to_numpy()[pairs.i], inst["class"].to_numpy()[pairs.j]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    df = pd.DataFrame({"lo": lo, "hi": hi, "video": pairs.video})
    g = df.groupby(["lo", "hi"]).agg(pairs=("video", "size"), videos=("video", "nunique")).reset_index()
    g = g.sort_values(["pairs", "lo", "hi"], ascending=[False, True, True]).head(n)
    return pd.DataFrame({"pair": [f"{action_label(a)} + {action_label(b)}" for a, b in zip(g.lo, g.hi)],
                         "overlapping pairs": g.pairs.to_numpy(), "videos": g.videos.to_numpy(),
                         "share of pairs": g.pairs.to_numpy() / len(pairs)})


def detad_characteristics(videos: list[mma52.MMAVideo]) -> pd.DataFrame:
    """Instances per bucket of coverage, length (s) and instances per video, with the MMAD paper's buckets (those of
    chapter 31), on the ground truth as DETAD reads it (zero-length instances dropped)."""
    gt = ground_truth_table({**mma52.to_activitynet(videos), "label_space": "ma52"}, clean="detad")
    chars = characteristics(gt)
    rows = []
    for name, (edges, labels) in MMAD_BUCKETS.items():
        b = bucketize(chars[name], edges)
        for k, lab in enumerate(labels):
            lo, hi = edges[k], edges[k + 1]
            rows.append({"characteristic": name, "bucket": lab, "range": f"({lo:g}, {hi:g}]",
                         "instances": int((b == k).sum()), "share": float((b == k).mean())})
    return pd.DataFrame(rows)


def statistics(table: pd.DataFrame) -> dict:
    """The recorded figures: ``real/<split>/videos`` and ``real/<split>/instances`` (labelled splits) and more."""
    out = {}
    for r in table.to_dict("records"):
        if r["split"] == "all":
            continue
        out[f"real/{r['split']}/videos"] = int(r["videos"])
        out[f"real/{r['split']}/hours"] = float(r["hours"])
        if r["instances"] is not None:
            out[f"real/{r['split']}/instances"] = int(r["instances"])
            out[f"real/{r['split']}/overlap_share"] = float(r["overlap_share"])
            out[f"real/{r['split']}/instance_s"] = float(r["instance_s"])
    return out
