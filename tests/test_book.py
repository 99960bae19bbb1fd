"""The shared book helpers: statistics, verdicts and the table / figure / result-box formats."""
import math

import numpy as np
import pandas as pd
import pytest

from mglib import book


def test_paired_difference_matches_a_hand_computed_t_interval():
    a, b = [0.30, 0.32, 0.29, 0.35, 0.31], [0.25, 0.28, 0.27, 0.30, 0.26]
    d = np.subtract(a, b)
    half = 2.7764451051977987 * d.std(ddof=1) / math.sqrt(5)  # t_{0.975, 4}
    out = book.paired_difference(a, b)
    assert out["n"] == 5
    assert out["diff_mean"] == pytest.approx(d.mean())
    assert out["ci95_low"] == pytest.approx(d.mean() - half)
    assert out["ci95_high"] == pytest.approx(d.mean() + half)
    assert book.paired_difference(a, b, level=0.99)["ci95_low"] < out["ci95_low"]


def test_paired_difference_is_paired_not_pooled():
    # a constant per-seed gain on top of large seed noise is detectable only when the seeds are paired
    base = np.array([0.1, 0.5, 0.2, 0.8, 0.4])
    out = book.paired_difference(base + 0.01 + np.array([0, 1e-4, -1e-4, 2e-4, 0]), base)
    assert out["ci95_low"] > 0


def test_single_seed_has_no_interval_and_no_conclusion():
    out = book.paired_difference([0.5], [0.4])
    assert out["ci95_low"] is None and out["ci95_high"] is None
    assert "no conclusion" in book.verdict("A", "B", out)
    with pytest.raises(ValueError):
        book.paired_difference([0.5, 0.6], [0.4])


@pytest.mark.parametrize("lo,hi,expected", [(0.01, 0.03, "A is ahead of B"), (-0.03, -0.01, "A is behind B"),
                                            (-0.01, 0.02, "No detectable difference")])
def test_verdict_follows_the_interval(lo, hi, expected):
    s = book.verdict("A", "B", {"diff_mean": (lo + hi) / 2, "ci95_low": lo, "ci95_high": hi, "n": 5})
    assert s.startswith(expected)
    assert f"[{lo * 100:+.1f}, {hi * 100:+.1f}]" in s


def test_pm_formats_percent_and_missing_values():
    assert book.pm(0.1234, 0.0056) == "12.3 ± 0.6"
    assert book.pm(0.1234) == "12.3"
    assert book.pm(None) == "—" and book.pm(float("nan")) == "—"
    assert book.mean_std([0.5]) == (0.5, None)


def test_table_formats_marks_best_and_numbers_per_chapter():
    book.set_chapter("30_mmad")
    df = pd.DataFrame({"method": ["prior", "TIA"], "mAP": [0.07, 0.135], "loss": [0.9, 0.4],
                       "note": [None, "x"]})
    t = book.table(df, "Scores on val.", "scores", pct=("mAP",), best=("mAP", "loss"), lower_is_better=("loss",),
                   headers={"mAP": "mAP (%)"})
    assert t.number == "30.1" and book.table(df, "again", "other").number == "30.2"
    assert book.table(df, "same label", "scores").number == "30.1"  # re-running a cell keeps its number
    html = t._repr_html_()
    assert "<strong>13.5</strong>" in html and "<strong>0.4</strong>" in html
    assert "NaN" not in html and "—" in html and "mAP (%)" in html and "Table 30.1." in html
    assert "<th></th>" not in html  # no index column
    assert repr(t).splitlines()[0] == "Table 30.1. Scores on val."


def test_figure_and_result_box_render_captions_and_inline_markdown():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    book.set_chapter("05_x")
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    f = book.figure(fig, "A line with $x^2$.", "line")
    assert f.png[:4] == b"\x89PNG" and repr(f) == "Figure 5.1. A line with $x^2$."
    assert "<figcaption>" in f._repr_html_() and "\\(x^2\\)" in f._repr_html_()
    box = book.result_box(["**DSTA** is ahead", "a <tag> & `code`"])
    h = box._repr_html_()
    assert "<strong>DSTA</strong>" in h and "&lt;tag&gt; &amp;" in h and "<code>code</code>" in h


def test_source_excerpt_is_the_code_itself():
    s = book.source(book.pm)
    assert s.name == "mglib.book.pm" and s.code.startswith("def pm(")
    assert "```python\ndef pm(" in s._repr_markdown_()


def test_diagram_draws_boxes_in_their_kind_colour_and_arrows():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    d = book.Diagram(ax, {"a": "#ff0000"}, width=2.0)
    d.box(1, 1, "text", "a")
    d.arrow((0, 0), (1, 1), style="<|-|>")
    box, arrow = ax.patches
    assert box.get_width() == 2.0 and box.get_facecolor()[:3] == (1.0, 0.0, 0.0)
    assert [t.get_text() for t in ax.texts] == ["text"] and arrow.get_arrowstyle() is not None
    plt.close(fig)


def test_end_rise_is_the_fitted_rise_of_the_last_epochs_with_an_interval():
    curves = [[0.0, 0.5, 0.6, 0.7, 0.8], [0.0, 0.4, 0.6, 0.8, 1.0]]  # last 3 epochs rise by 0.2 and 0.4
    out = book.end_rise(curves, last=3)
    assert out["diff_mean"] == pytest.approx(0.3) and out["n"] == 2
    ref = book.paired_difference([0.2, 0.4], [0.0, 0.0])
    assert out == {k: pytest.approx(v) for k, v in ref.items()}
    with pytest.raises(ValueError, match="at least 3 epochs"):
        book.end_rise([[0.1, 0.2]], last=3)


def test_plateau_verdict_agrees_with_the_rise_it_shows():
    """A mean rise that prints as +2.0 points is not called "less than 2 points"; +1.9 is."""
    base = [0.5, 0.5, 0.5, 0.5]
    near = [[0.0] + [v + d * i / 3 for i, v in enumerate(base)] for d in (0.0, 0.0398)]  # rises 0 and 3.98 → 1.99
    p = book.plateau(near, last=4)
    assert p["ci95_low"] < 0 < p["ci95_high"] and round(p["diff_mean"] * 100, 1) == 2.0 and p["trend"] == "unclear"
    sentence = book.plateau_sentence("M", p, 4, "F1")
    assert "+2.0 points" in sentence and "2 points or more" in sentence
    below = book.plateau([[0.0] + [v + d * i / 3 for i, v in enumerate(base)] for d in (0.0, 0.038)], last=4)
    assert below["trend"] == "level"  # 1.9 points
    assert book.plateau([[0.1, 0.2, 0.3]], last=4) == {"trend": "short", "epochs": 3}
    assert book.plateau([], last=4) == {"trend": "short", "epochs": 0}
