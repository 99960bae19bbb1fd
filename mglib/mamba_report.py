"""The experiments of chapter 03 (notebooks/03_mamba) as book tables, figures and result boxes.

The numerics are those of mglib.models.mamba and mglib.selective_copy; this module runs the small checks the chapter
shows and formats them (accuracies in %), so the chapter's cells stay short.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mglib import book, records
from mglib.models import mamba as mb

# ------------------------------------------------------------------------------------------------ discretisation


def step_responses(steps=(0.1, 0.5, 1.0), t_end: float = 6.0, a: float = -1.0) -> list[dict]:
    """The unit-step response of one mode ``h' = a h + u`` sampled with step ``delta``, by ZOH and by Mamba's
    simplified ``B_bar = delta B``, with the largest error against the exact ``(1 - e^{a t}) / -a``."""
    A, B = torch.tensor([[a]]), torch.tensor([[1.0]])
    out = []
    for step in steps:
        n = int(round(t_end / step))
        t = step * np.arange(1, n + 1)
        exact = (1 - np.exp(a * t)) / -a
        for method in ("zoh", "mamba"):
            Ab, Bb = (v.item() for v in mb.discretize(A, B, torch.tensor([step]), method))
            h, hs = 0.0, []
            for _ in range(n):
                h = Ab * h + Bb
                hs.append(h)
            out.append({"delta": step, "method": method, "t": t, "h": np.array(hs),
                        "max_abs_error": float(np.abs(np.array(hs) - exact).max())})
    return out


def step_response_figure(resp: list[dict], t_end: float = 6.0, a: float = -1.0) -> book.Figure:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3))
    tt = np.linspace(0, t_end, 200)
    ax.plot(tt, (1 - np.exp(a * tt)) / -a, "k", lw=2, label="exact")
    longest = max(r["delta"] for r in resp)
    for r in resp:
        if r["method"] == "mamba" or r["delta"] == longest:
            ax.plot(r["t"], r["h"], "o" if r["method"] == "zoh" else ".--", ms=4, label=f"{r['method']}, Δ={r['delta']}")
    ax.set_xlabel("t")
    ax.set_ylabel("h(t)")
    ax.legend(ncol=2, fontsize=9)
    return book.figure(fig, f"Step response of one mode ($a = {a:g}$): the exact solution, Mamba's simplified "
                       "discretisation at three step sizes Δ, and the zero-order hold at the largest Δ.",
                       "step-response")


def discretisation_table(resp: list[dict]) -> book.Table:
    df = pd.DataFrame([{"delta": f"{r['delta']:g}", "method": r["method"], "err": r["max_abs_error"]} for r in resp])
    wide = df.pivot(index="delta", columns="method", values="err").reset_index()[["delta", "zoh", "mamba"]]
    return book.table(wide, "Largest error of the sampled step response against the exact solution.",
                      "discretisation", decimals=4,
                      headers={"delta": "Δ", "zoh": "zero-order hold", "mamba": "Mamba (B̄ = ΔB)"})


def discretisation_record(resp: list[dict]) -> list[dict]:
    """The errors in the layout the run records: one row per step size."""
    rows = {}
    for r in resp:
        rows.setdefault(r["delta"], {"delta": r["delta"]})[r["method"]] = round(r["max_abs_error"], 4)
    return list(rows.values())


# ------------------------------------------------------------------------------------------------ two views


def convolution_check(seed: int, E: int = 4, N: int = 8, L: int = 128, steps=(0.01, 0.05, 0.1, 0.3)) -> dict:
    """A time-invariant SSM run as a recurrence and as a causal convolution with its kernel; both outputs."""
    g = torch.Generator().manual_seed(seed)
    A = -torch.arange(1, N + 1.0).repeat(E, 1)
    Bc, Cc = torch.randn(E, N, generator=g), torch.randn(E, N, generator=g)
    step = torch.tensor(steps[:E])
    u = torch.randn(1, E, L, generator=g)
    y_rec = mb.selective_scan_ref(u, step[None, :, None].expand(1, E, L), A, Bc, Cc)
    kernel = mb.ssm_kernel(A, Bc, Cc, step, L)
    y_conv = mb.causal_conv(u, kernel)
    return {"kernel": kernel, "steps": step.tolist(), "max_abs": float((y_rec - y_conv).abs().max())}


def kernel_figure(check: dict) -> book.Figure:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 2.6))
    for k, step in zip(check["kernel"], check["steps"]):
        ax.plot(k.numpy(), label=f"Δ={step:g}")
    ax.set_xlabel("lag k")
    ax.set_ylabel("$K_k$")
    ax.legend(fontsize=9)
    return book.figure(fig, "Kernels $K_k = C\\bar A^k \\bar B$ of one time-invariant SSM channel per step size Δ: "
                       "a small Δ remembers long, a large Δ forgets fast.", "kernels")


def agreement_box(name_a: str, name_b: str, max_abs: float, tol: float = 1e-5) -> book.ResultBox:
    verdict = "agree" if max_abs < tol else "DISAGREE"
    return book.result_box(f"{name_a} and {name_b} {verdict}: the largest difference of their outputs is "
                           f"{'below' if max_abs < tol else 'above'} {tol:g}.", "Check")


# ------------------------------------------------------------------------------------------------ selective copying


def copy_example_table(task, seed: int) -> book.Table:
    x, y = task.batch(1, torch.Generator().manual_seed(seed))
    row = {"input (0 = blank, last = marker)": " ".join(map(str, x[0].tolist())),
           "target": " ".join(map(str, y[0].tolist()))}
    return book.table(pd.DataFrame([row]), f"One selective-copying sequence: {task.n_tokens} data tokens among "
                      f"{task.length} positions, then {task.n_tokens} markers that ask for them in order.",
                      "copy-example")


def copy_rows(res: dict, steps: int, decimals: int | None = 4) -> list[dict]:
    """One row per model; accuracies rounded to ``decimals`` for the run record (None: unrounded, for display)."""
    r4 = (lambda v: v) if decimals is None else (lambda v: round(v, decimals))
    return [{"model": name, "params": r["n_params"], "steps": steps, "eval_acc": r4(r["eval_acc"]),
             "chance": r4(r["chance"])} for name, r in res.items()]


def copy_table(res: dict, steps: int) -> book.Table:
    return book.table(pd.DataFrame(copy_rows(res, steps, None)), "Held-out token accuracy on selective copying after the "
                      "same number of training steps, with chance (1 / vocabulary size).", "copy",
                      pct=("eval_acc", "chance"), best=("eval_acc",),
                      headers={"params": "parameters", "steps": "training steps", "eval_acc": "accuracy (%)",
                               "chance": "chance (%)"})


def copy_curve_figure(res: dict, chance: float) -> book.Figure:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3))
    for name, r in res.items():
        ax.plot([c["step"] for c in r["curve"]], [100 * c["eval_acc"] for c in r["curve"]], "o-", ms=3, label=name)
    ax.axhline(100 * chance, color="gray", ls=":", label="chance")
    ax.set_xlabel("training step")
    ax.set_ylabel("held-out accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=9)
    return book.figure(fig, "Held-out token accuracy during training, for the selective and the time-invariant block.",
                       "copy-curve")


# ------------------------------------------------------------------------------------------------ the scan


def chunked_check(seed: int, E: int = 16, N: int = 8, L: int = 300) -> float:
    """Largest difference between the chunked and the sequential scan on random input-dependent parameters."""
    g = torch.Generator().manual_seed(seed)
    args = [torch.randn(2, E, L, generator=g), torch.randn(2, E, L, generator=g), -torch.rand(E, N, generator=g) - 0.1,
            torch.randn(2, N, L, generator=g), torch.randn(2, N, L, generator=g), torch.randn(E, generator=g)]
    fast = mb.selective_scan(*args, delta_softplus=True)
    return float((fast - mb.selective_scan_ref(*args, delta_softplus=True)).abs().max())


def scan_benchmark(profile: str) -> dict:
    """Run benchmarks/bench_scan.py in a fresh process (it sets its own thread counts) and read its record.

    The script is found beside the package, not under ``paths.ROOT``: a run with MGLIB_ROOT pointing elsewhere still
    has it, and the record lands under that root."""
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_scan.py"
    subprocess.run([sys.executable, str(script), "--profile", profile], check=True, capture_output=True)
    return records.load("bench_scan", profile)


def scan_table(rec: dict) -> book.Table:
    rows = [{"L": r["L"], "threads": r["threads"],
             "forward (ms)": f"{r['sequential_fwd_ms']:.1f} → {r['chunked_fwd_ms']:.1f}",
             "fwd": r["speedup_fwd"],
             "forward + backward (ms)": f"{r['sequential_fwd_bwd_ms']:.1f} → {r['chunked_fwd_bwd_ms']:.1f}",
             "fwd_bwd": r["speedup_fwd_bwd"]} for r in rec["rows"]]
    return book.table(pd.DataFrame(rows), "Best wall time of the sequential → the chunked scan on this machine "
                      "($d_\\text{inner}$ 256, $N$ 16, batch 1), and the speed-up over the sequential scan's best time "
                      "at any thread count.", "scan-speed", best=("fwd", "fwd_bwd"),
                      headers={"fwd": "speed-up", "fwd_bwd": "speed-up"})


def scan_goal_box(rec: dict) -> book.ResultBox:
    goal = rec["goal_speedup_at_1024"]
    rows = [r for r in rec["rows"] if r["L"] == max(x["L"] for x in rec["rows"])]
    items = []
    for r in rows:
        line = (f"L = {r['L']}, {r['threads']} thread(s): forward {r['speedup_fwd']:.1f}×, forward + backward "
                f"{r['speedup_fwd_bwd']:.1f}×")
        if r["L"] == 1024:
            met = min(r["speedup_fwd"], r["speedup_fwd_bwd"]) >= goal
            line += f": {'meets' if met else 'misses'} the {goal:g}× target."
        else:
            line += f"; the {goal:g}× target is judged at L = 1024, which this profile does not run."
        items.append(line)
    return book.result_box(items, "Speed-up of the chunked scan at the longest L")


# ------------------------------------------------------------------------------------------------ the blocks


def parameter_table(module: torch.nn.Module, caption: str, label: str) -> book.Table:
    rows = [{"parameter": f"`{k}`", "shape": " × ".join(map(str, v.shape)), "count": v.numel()}
            for k, v in module.state_dict().items()]
    return book.table(pd.DataFrame(rows), caption, label)


def forward_pass_box(m: mb.Mamba, shape=(2, 10, 64)) -> book.ResultBox:
    out = m(torch.randn(*shape))
    usable = "yes" if mb.mamba_ssm_available() else "no"
    return book.result_box(f"Input {tuple(shape)} → output {tuple(out.shape)}; scan path: `{m.last_path}`; "
                           f"`mamba_ssm` usable here: {usable}.", "One forward pass")


def block_sizes(blk: mb.MambaMHSA) -> dict:
    mamba = sum(p.numel() for p in blk.mamba.parameters())
    attn = sum(p.numel() for p in blk.self_attn.parameters())
    return {"mamba": mamba, "attention": attn, "total": sum(p.numel() for p in blk.parameters())}


def block_sizes_box(sizes: dict, num_mamba: int) -> book.ResultBox:
    return book.result_box(f"The {num_mamba} Mamba blocks hold {sizes['mamba']:,} parameters, "
                           f"{sizes['mamba'] / sizes['attention']:.1f} times the {sizes['attention']:,} of the "
                           f"self-attention layer after them ({sizes['total']:,} in the whole block).",
                           "Parameter count")
