"""Chapter 03's experiments and their tables, figures and result boxes (mglib.mamba_report)."""
import math

import pytest

from mglib import book
from mglib import mamba_report as R
from mglib import selective_copy as sc
from mglib.models import mamba as mb


@pytest.fixture(autouse=True)
def chapter():
    book.set_chapter("03_mamba")


def test_zoh_is_exact_and_mamba_error_matches_the_closed_form():
    resp = R.step_responses(steps=(0.5,), t_end=6.0)
    zoh, mamba = (next(r for r in resp if r["method"] == m) for m in ("zoh", "mamba"))
    assert len(zoh["t"]) == 12 and zoh["max_abs_error"] < 1e-6
    # h_n = delta (1 - e^{-t}) / (1 - e^{-delta}): the error grows with t, so it is largest at t = 6
    assert mamba["max_abs_error"] == pytest.approx((1 - math.exp(-6)) * (0.5 / (1 - math.exp(-0.5)) - 1), abs=1e-6)
    assert R.discretisation_record(resp) == [{"delta": 0.5, "zoh": 0.0, "mamba": 0.2701}]
    table = R.discretisation_table(resp)
    assert table.columns[0] == "Δ" and table.rows == [["0.5", "0.0000", "0.2701"]]
    assert R.step_response_figure(resp).png[:4] == b"\x89PNG"


def test_recurrence_and_convolution_agree():
    views = R.convolution_check(seed=0)
    assert views["max_abs"] < 1e-5 and views["kernel"].shape == (4, 128)
    assert "agree" in R.agreement_box("a", "b", views["max_abs"]).items[0]
    assert "DISAGREE" in R.agreement_box("a", "b", 1.0).items[0]
    assert R.kernel_figure(views).caption.startswith("Kernels")


def test_chunked_scan_check_is_small():
    assert R.chunked_check(seed=0, L=40) < 1e-5


def fake_runs(acc_sel, acc_lti):
    curve = lambda a: [{"step": 10, "eval_acc": 0.125}, {"step": 20, "eval_acc": a}]  # noqa: E731
    return {"Mamba (selective)": {"n_params": 10, "eval_acc": acc_sel, "chance": 0.125, "curve": curve(acc_sel)},
            "time-invariant SSM": {"n_params": 8, "eval_acc": acc_lti, "chance": 0.125, "curve": curve(acc_lti)}}


def test_copy_table_in_percent_with_the_best_marked_and_rows_rounded_for_the_record():
    res = fake_runs(0.91234, 0.40001)
    t = R.copy_table(res, steps=20)
    assert t.rows[0] == ["Mamba (selective)", "10", "20", "91.2", "12.5"] and (0, 3) in t.bold
    assert R.copy_rows(res, 20)[0]["eval_acc"] == 0.9123
    assert R.copy_curve_figure(res, 0.125).png[:4] == b"\x89PNG"


def test_copy_example_shows_tokens_then_markers():
    task = sc.CopyTask(length=8, n_tokens=2, vocab=4)
    row = R.copy_example_table(task, seed=0).rows[0]
    tokens, target = row[0].split(), row[1].split()
    assert len(tokens) == 10 and tokens[-2:] == ["5", "5"] and len(target) == 2
    assert [t for t in tokens[:8] if t != "0"] == target


def bench_record(max_l):
    rows = [{"L": max_l, "threads": n, "sequential_fwd_ms": 10.0, "chunked_fwd_ms": 10.0 / s, "speedup_fwd": s,
             "sequential_fwd_bwd_ms": 20.0, "chunked_fwd_bwd_ms": 20.0 / s, "speedup_fwd_bwd": s}
            for n, s in ((1, 4.0), (2, 6.0))]
    return {"rows": rows, "goal_speedup_at_1024": 5.0}


def test_scan_goal_is_judged_only_at_1024():
    items = R.scan_goal_box(bench_record(1024)).items
    assert items[0].endswith("misses the 5× target.") and items[1].endswith("meets the 5× target.")
    assert "does not run" in R.scan_goal_box(bench_record(256)).items[0]
    t = R.scan_table(bench_record(256))
    assert t.columns == ["L", "threads", "forward (ms)", "speed-up", "forward + backward (ms)", "speed-up"]
    assert t.rows[1][2] == "10.0 → 1.7" and (1, 3) in t.bold


def test_block_tables_count_parameters():
    m = mb.Mamba(16)
    t = R.parameter_table(m, "caption", "params")
    counts = {r[0]: int(r[2].replace(",", "")) for r in t.rows}
    assert counts["`in_proj.weight`"] == 2 * 32 * 16 and sum(counts.values()) == sum(
        v.numel() for v in m.state_dict().values())
    assert "scan path: `torch`" in R.forward_pass_box(m, (1, 5, 16)).items[0]  # a CPU tensor
    blk = mb.MambaMHSA(d_model=32, n_heads=4, num_mamba=2)
    sizes = R.block_sizes(blk)
    assert sizes["mamba"] + sizes["attention"] < sizes["total"]  # the norms are counted in the total only
    assert f"{sizes['mamba'] / sizes['attention']:.1f} times" in R.block_sizes_box(sizes, 2).items[0]
