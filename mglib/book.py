"""What every chapter shows, in one style: seed statistics, paired confidence intervals, verdicts generated from them,
result tables, captioned figures and result boxes.

Studies compute their runs; their ``report.py`` turns the runs into these objects. Tables and figures are numbered
per chapter ("Table 30.2") in the order their labels first appear, so re-running a cell keeps its number. Each object
renders as HTML in the book and in Jupyter, and as plain text for nbval, which compares the text of stored outputs.
"""
from __future__ import annotations

import base64
import html
import io
import math
import re
from dataclasses import dataclass, field

import numpy as np

# ------------------------------------------------------------------------------------------------ statistics


def mean_std(values) -> tuple[float, float | None]:
    """Mean and sample standard deviation (ddof 1) of per-seed values; the std is None for a single value."""
    x = np.asarray(list(values), dtype=float)
    if x.size == 0:
        raise ValueError("mean_std of no values")
    return float(x.mean()), (float(x.std(ddof=1)) if x.size > 1 else None)


def paired_difference(a, b, level: float = 0.95) -> dict:
    """Mean of ``a - b`` over paired seeds and its two-sided t confidence interval.

    ``a`` and ``b`` are per-seed scores of two methods trained with the same seeds, in the same order. With one pair
    the interval is undefined (None). Keys: ``diff_mean``, ``ci95_low``, ``ci95_high``, ``n`` (the key names say 95
    because that is the level every chapter uses; ``level`` is for tests and exercises).
    """
    from scipy import stats

    a, b = np.asarray(list(a), float), np.asarray(list(b), float)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"paired_difference needs two equally long, non-empty lists (got {a.size} and {b.size})")
    d = a - b
    out = {"diff_mean": float(d.mean()), "ci95_low": None, "ci95_high": None, "n": int(d.size)}
    if d.size > 1:
        half = float(stats.t.ppf(0.5 + level / 2, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size))
        out["ci95_low"], out["ci95_high"] = out["diff_mean"] - half, out["diff_mean"] + half
    return out


def end_rise(curves, last: int) -> dict:
    """How much per-seed training curves still rise at the end: for each curve, the rise of the least-squares line
    through its last ``last`` epochs (slope × (last − 1)); their mean with a t interval, as :func:`paired_difference`
    against 0. The mean equals the rise of the line through the seed-mean curve."""
    x = np.asarray(curves, dtype=float)
    if x.ndim != 2 or x.shape[1] < max(last, 2):
        raise ValueError(f"end_rise needs curves of at least {max(last, 2)} epochs (got shape {x.shape})")
    rises = [np.polyfit(np.arange(last), c[-last:], 1)[0] * (last - 1) for c in x]
    return paired_difference(rises, np.zeros(len(rises)))


PLATEAU_TOLERANCE = 0.02  # a mean end rise under 2 points (of a score in [0, 1]) counts as level

_TREND = {"rising": "it is still rising",
          "falling": "it is falling; the checkpoint of the best validation epoch is the one scored",
          "level": f"it has levelled off (no detectable change, and less than {PLATEAU_TOLERANCE * 100:g} points)",
          "unclear": f"no change is detectable, but the mean change is {PLATEAU_TOLERANCE * 100:g} points or more"}


def plateau(curves, last: int) -> dict:
    """:func:`end_rise` of per-seed validation curves and its reading: ``"rising"`` or ``"falling"`` when the
    interval excludes 0, ``"level"`` when it does not and the mean change is below :data:`PLATEAU_TOLERANCE`,
    ``"unclear"`` otherwise; ``"short"`` for curves of fewer than ``last`` epochs. Every study judges its curves so."""
    epochs = min((len(c) for c in curves), default=0)  # no curves: every run was stopped
    if epochs < max(last, 2):
        return {"trend": "short", "epochs": epochs}
    p = end_rise(curves, last)
    if p["ci95_low"] is not None and p["ci95_low"] > 0:
        return p | {"trend": "rising"}
    if p["ci95_high"] is not None and p["ci95_high"] < 0:
        return p | {"trend": "falling"}
    # judged on the value the sentence shows (0.1 point), so that "+2.0 points" is never called "less than 2 points"
    shown = abs(round(p["diff_mean"] * 100, 1))
    return p | {"trend": "level" if shown < PLATEAU_TOLERANCE * 100 else "unclear"}


def plateau_sentence(model: str, p: dict, last: int, metric: str) -> str:
    """One sentence from :func:`plateau`'s result ``p`` for ``model``'s validation ``metric``."""
    if p["trend"] == "short":
        return (f"{model}: {p['epochs']} epochs are too few to judge whether the validation {metric} has levelled "
                f"off (the judgement fits a line through the last {last}).")
    change = f"{p['diff_mean'] * 100:+.1f} points"
    if p["ci95_low"] is not None:
        change += f" (95 % CI [{p['ci95_low'] * 100:+.1f}, {p['ci95_high'] * 100:+.1f}], {p['n']} seeds)"
    return f"{model}: across the last {last} epochs the validation {metric} changes by {change}; {_TREND[p['trend']]}."


def verdict(a: str, b: str, diff: dict, scale: float = 100.0, unit: str = "points") -> str:
    """One sentence generated from a :func:`paired_difference` of ``a`` minus ``b``; an interval that contains 0 is
    "no detectable difference at this scale". ``scale`` turns fractions into the unit shown (100: points of %)."""
    m = diff["diff_mean"] * scale
    if diff["ci95_low"] is None:
        return (f"{a} − {b}: {m:+.1f} {unit} on a single seed; with one seed no interval can be computed, so no "
                "conclusion is drawn.")
    lo, hi = diff["ci95_low"] * scale, diff["ci95_high"] * scale
    interval = f"{m:+.1f} {unit} (95 % CI [{lo:+.1f}, {hi:+.1f}], {diff['n']} paired seeds)"
    if lo > 0:
        return f"{a} is ahead of {b}: {a} − {b} = {interval}."
    if hi < 0:
        return f"{a} is behind {b}: {a} − {b} = {interval}."
    return f"No detectable difference between {a} and {b} at this scale: {a} − {b} = {interval}; the interval contains 0."


def pm(mean: float | None, std: float | None = None, scale: float = 100.0, decimals: int = 1) -> str:
    """``"12.3 ± 1.2"`` (scaled to %), ``"12.3"`` without a std, ``"—"`` for a missing value."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "—"
    s = f"{mean * scale:.{decimals}f}"
    if std is not None and not math.isnan(std):
        s += f" ± {std * scale:.{decimals}f}"
    return s


# ------------------------------------------------------------------------------------------------ numbering

_chapter = {"prefix": "", "labels": {"table": [], "figure": []}}


def set_chapter(notebook: str) -> None:
    """Number this kernel's tables and figures after the notebook's chapter (``"30_mmad"`` → Table 30.1, …)."""
    m = re.match(r"(\d+)", notebook)
    _chapter["prefix"] = f"{int(m.group(1))}." if m else ""
    _chapter["labels"] = {"table": [], "figure": []}


def _number(kind: str, label: str) -> str:
    seen = _chapter["labels"][kind]
    if label not in seen:
        seen.append(label)
    return f"{_chapter['prefix']}{seen.index(label) + 1}"


def _anchor(kind: str, label: str) -> str:
    return f"{kind}-{re.sub(r'[^a-z0-9]+', '-', label.lower()).strip('-')}"


# ------------------------------------------------------------------------------------------------ inline markdown

_INLINE = [(re.compile(r"`([^`]+)`"), r"<code>\1</code>"),
           (re.compile(r"\*\*([^*]+)\*\*"), r"<strong>\1</strong>"),
           (re.compile(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])"), r"<em>\1</em>"),
           (re.compile(r"(?<![\\$])\$([^$\n]+)\$"), r'<span class="math notranslate nohighlight">\\(\1\\)</span>')]


def inline_html(text: str) -> str:
    """Escape ``text`` and render its inline markdown: `code`, **bold**, *italic* and $math$ (typeset by MathJax)."""
    s = html.escape(str(text), quote=False)
    for pattern, repl in _INLINE:
        s = pattern.sub(repl, s)
    return s


# ------------------------------------------------------------------------------------------------ tables


@dataclass
class Table:
    """A result table: formatted cells, a numbered caption, the best value of chosen columns in bold."""

    columns: list[str]
    rows: list[list[str]]
    caption: str
    number: str
    anchor: str
    bold: set = field(default_factory=set)  # (row, column) positions to mark

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{inline_html(c)}</th>" for c in self.columns)
        body = []
        for i, row in enumerate(self.rows):
            cells = []
            for j, v in enumerate(row):
                v = inline_html(v)
                cells.append(f"<td><strong>{v}</strong></td>" if (i, j) in self.bold else f"<td>{v}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        return (f'<div class="mg-table-wrap"><table class="mg-table" id="{self.anchor}">'
                f'<caption><span class="mg-caption-number">Table {self.number}.</span> {inline_html(self.caption)}'
                f"</caption><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")

    def __repr__(self) -> str:
        width = [max(len(str(c)), *(len(r[j]) for r in self.rows)) for j, c in enumerate(self.columns)]
        lines = [f"Table {self.number}. {self.caption}",
                 "  ".join(str(c).ljust(w) for c, w in zip(self.columns, width))]
        lines += ["  ".join((f"*{v}*" if (i, j) in self.bold else v).ljust(w) for j, (v, w) in enumerate(zip(r, width)))
                  for i, r in enumerate(self.rows)]
        return "\n".join(line.rstrip() for line in lines)


def _cell(v, pct: bool, decimals: int) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)) and not pct:
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        return f"{v * 100 if pct else v:.{decimals}f}"
    return str(v)


def table(df, caption: str, label: str, pct=(), best=(), lower_is_better=(), decimals: int = 1,
          headers: dict | None = None) -> Table:
    """Format a DataFrame as a result table (no index; the caller gives one row per item in display order).

    pct: columns holding fractions in [0, 1], shown in % with ``decimals``; cells that are already strings (e.g. from
    :func:`pm`) are kept as they are. best: columns whose best value is marked (highest, or lowest for columns in
    ``lower_is_better``); the mean before " ± " decides. headers: column renames, e.g. ``{"avg": "AVG (%)"}``.
    """
    headers = headers or {}
    cols = list(df.columns)
    rows = [[_cell(v, c in pct, decimals) for c, v in zip(cols, rec)] for rec in df.itertuples(index=False)]
    bold = set()
    for c in best:
        j = cols.index(c)
        vals = []
        for i, r in enumerate(rows):
            try:
                vals.append((float(r[j].split(" ± ")[0].replace(",", "")), i))
            except ValueError:
                continue
        if vals:
            target = (min if c in lower_is_better else max)(v for v, _ in vals)
            bold |= {(i, j) for v, i in vals if v == target}
    number = _number("table", label)
    return Table([headers.get(c, c) for c in cols], rows, caption, number, _anchor("table", label), bold)


# ------------------------------------------------------------------------------------------------ figures


@dataclass
class Figure:
    png: bytes
    caption: str
    number: str
    anchor: str

    def _repr_html_(self) -> str:
        data = base64.b64encode(self.png).decode()
        return (f'<figure class="mg-figure" id="{self.anchor}"><img src="data:image/png;base64,{data}" '
                f'alt="Figure {self.number}"/><figcaption><span class="mg-caption-number">Figure {self.number}.</span> '
                f"{inline_html(self.caption)}</figcaption></figure>")

    def __repr__(self) -> str:
        return f"Figure {self.number}. {self.caption}"


@dataclass
class Diagram:
    """Boxes and arrows on a matplotlib axis, in one style for every architecture diagram of the book."""

    ax: object
    colours: dict  # kind -> face colour
    width: float = 1.3  # a box's default width, in axis units

    def box(self, x, y, text, kind, w=None, h=0.8):
        """A rounded box centred at (x, y), filled with the colour of ``kind``."""
        from matplotlib.patches import FancyBboxPatch

        w = self.width if w is None else w
        self.ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.04",
                                         fc=self.colours[kind], ec="0.3", lw=0.8))
        self.ax.text(x, y, text, ha="center", va="center", fontsize=9)

    def arrow(self, a, b, style="-|>", **kw):
        from matplotlib.patches import FancyArrowPatch

        self.ax.add_patch(FancyArrowPatch(a, b, arrowstyle=style, mutation_scale=10, lw=0.9, color="0.25",
                                          shrinkA=2, shrinkB=2, **kw))


def figure(fig, caption: str, label: str, dpi: int = 160) -> Figure:
    """A captioned, numbered figure from a matplotlib figure (closed here, so it is not drawn a second time)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return Figure(buf.getvalue(), caption, _number("figure", label), _anchor("figure", label))


def style_plots() -> None:
    """Legible figures at page width: fonts of 9 pt and more, the same look in every chapter."""
    import matplotlib as mpl

    mpl.rcParams.update({"font.size": 10, "axes.titlesize": 10, "axes.labelsize": 10, "legend.fontsize": 9,
                         "xtick.labelsize": 9, "ytick.labelsize": 9, "figure.dpi": 100, "savefig.dpi": 160,
                         "axes.spines.top": False, "axes.spines.right": False})


# ------------------------------------------------------------------------------------------------ result boxes


@dataclass
class ResultBox:
    """Generated conclusions as prose in a styled box, instead of printed stdout."""

    title: str
    items: list[str]

    def _repr_html_(self) -> str:
        body = ("<ul>" + "".join(f"<li>{inline_html(s)}</li>" for s in self.items) + "</ul>" if len(self.items) > 1
                else f"<p>{inline_html(self.items[0]) if self.items else ''}</p>")
        return (f'<div class="admonition mg-result"><p class="admonition-title">{inline_html(self.title)}</p>'
                f"{body}</div>")

    def __repr__(self) -> str:
        return "\n".join([self.title] + [f"- {s}" for s in self.items])


def result_box(items, title: str = "What the runs show") -> ResultBox:
    items = [items] if isinstance(items, str) else list(items)
    return ResultBox(title, items)


# ------------------------------------------------------------------------------------------------ chapter card


@dataclass
class ChapterCard:
    """The box under a chapter's objectives: its recorded run time and the commands that re-run it."""

    notebook: str
    runtime: str

    def commands(self) -> list[str]:
        return ["make book                # every chapter at the cpu profile, then the HTML book",
                "make test                # unit tests, then each notebook against its saved outputs",
                f"python -m mglib run --profile cpu --only {self.notebook}   # this chapter alone"]

    def _repr_html_(self) -> str:
        cmds = html.escape("\n".join(self.commands()))
        return (f'<div class="admonition mg-card"><p class="admonition-title">Run it yourself</p>'
                f"<p>{inline_html(self.runtime)}</p><pre>{cmds}</pre>"
                f"<p>Add <code>-p name=value</code> to the last command to change a parameter of the chapter "
                f"(the names are those of its parameters cell). Download the notebook with the button at the top "
                f"of the page.</p></div>")

    def __repr__(self) -> str:
        return "\n".join(["Run it yourself", self.runtime, *self.commands()])


def chapter_card(notebook: str) -> ChapterCard:
    from mglib import build_report

    return ChapterCard(notebook, build_report.runtime(notebook))


# ------------------------------------------------------------------------------------------------ code excerpts


@dataclass
class Source:
    """The source of a function or class from mglib, shown as a code block: an excerpt that cannot drift."""

    name: str
    code: str

    def _repr_markdown_(self) -> str:
        return f"`{self.name}`\n\n```python\n{self.code}\n```"

    def __repr__(self) -> str:
        return f"{self.name}\n{self.code}"


def source(obj) -> Source:
    import inspect
    import textwrap

    return Source(f"{obj.__module__}.{obj.__qualname__}", textwrap.dedent(inspect.getsource(obj)).rstrip())
