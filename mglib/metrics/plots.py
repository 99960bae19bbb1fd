"""Plots for the error analysis (stacked false-positive profile and false-negative bars, as the MMAD paper's
Figs. 6-7) and precision-recall curves. matplotlib is imported inside each function. Book: notebooks/02_metrics."""
from __future__ import annotations

import numpy as np

from mglib.metrics.detad import ERROR_TYPES

COLORS = ("#33a02c", "#b2df8a", "#1f78b4", "#fb9a99", "#e31a1c", "#a6cee3")  # DETAD's palette


def plot_fp_profile(result: dict, ax=None, title: str = "False-positive profile"):
    """Stacked bars of the error types over the top-1G..10G groups (empty groups left blank) + removal gains."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(1, 2, figsize=(8, 3), gridspec_kw={"width_ratios": [3, 2]})
    ax_p, ax_g = ax
    groups = list(result["fp_profile"])
    bottom = np.zeros(len(groups))
    for name, color in zip(ERROR_TYPES, COLORS):
        vals = np.array([result["fp_profile"][g][name] or 0.0 for g in groups]) * 100
        ax_p.bar(groups, vals, bottom=bottom, color=color, label=name, width=0.8)
        bottom += vals
    ax_p.set_ylabel("error breakdown (%)")
    ax_p.set_xlabel("top predictions")
    ax_p.set_ylim(0, 100)
    ax_p.set_title(title, fontsize=10)
    ax_p.legend(fontsize=9, ncol=3, loc="upper left", bbox_to_anchor=(0, -0.22))
    gains = result["fp_removal_gain"]
    ax_g.barh(range(len(gains)), [v * 100 for v in gains.values()], color=COLORS[1:])
    ax_g.set_yticks(range(len(gains)), list(gains), fontsize=9)
    ax_g.invert_yaxis()  # same order as the legend
    ax_g.yaxis.tick_right()  # labels away from the profile panel
    ax_g.set_xlabel("average-mAP$_N$ gain (pts)")
    ax_g.set_title("removing each error type", fontsize=10)
    return ax


def plot_fn_profile(result: dict, ax=None, key: str = "fn_rate", title: str = "False-negative rate"):
    """One group of bars per characteristic (coverage, length, #instances); empty buckets are left out."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 2.8))
    x, ticks, colors = 0, [], ("#386cb0", "#f0027f", "#bf5b17", "#7fc97f")
    for i, (name, row) in enumerate(result[key].items()):
        for lab, v in row.items():
            if v is not None:
                ax.bar(x, v * 100, color=colors[i % len(colors)])
                ticks.append((x, f"{lab}\n{name.replace('_', ' ')}" if lab == next(iter(row)) else lab))
            x += 1
        x += 1
    ax.set_xticks([t[0] for t in ticks], [t[1] for t in ticks], fontsize=9)
    ax.set_ylabel("%")
    ax.set_ylim(0, 100)
    ax.set_title(title, fontsize=10)
    return ax


def pr_curve(hits, num_gt: int):
    """Precision and recall along a ranked list of 0/1 hits (one threshold), and the interpolated envelope."""
    hits = np.asarray(hits, dtype=bool)
    tp = np.cumsum(hits)
    precision = tp / np.arange(1, len(hits) + 1)
    recall = tp / num_gt
    envelope = np.maximum.accumulate(np.r_[precision, 0.0][::-1])[::-1][:-1]
    return precision, recall, envelope


def plot_pr_curve(hits, num_gt: int, ax=None, label: str | None = None):
    """Raw precision-recall points and the VOC all-point envelope whose area is the AP."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4, 3))
    p, r, env = pr_curve(hits, num_gt)
    ax.plot(r, p, "o", ms=3, label=f"{label or 'ranked list'} (raw)")
    ax.step(np.r_[0, r, r[-1] if len(r) else 0], np.r_[env[0] if len(env) else 0, env, 0], where="pre",
            label="interpolated envelope")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.legend(fontsize=9)
    return ax
