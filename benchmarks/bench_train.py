"""Per-step overhead of the training engine against a bare PyTorch loop, same tiny model, same data.

    python benchmarks/bench_train.py [--profile smoke|cpu|gpu]

The bare loop is what one would write by hand: zero_grad, forward, loss, backward, AdamW step. The engine, with
its default options, adds a learning-rate schedule, the non-finite loss guard (one host sync per step), hooks and
bookkeeping. A third row times the engine with ``optim.log_grad_norm=true`` (the gradient norm of every step, which
clipping or ``nonfinite=skip`` also turn on), to show what that option costs. Only the training epochs are timed
(the engine's ``timing.train_time_s``), so evaluation and checkpoint writing are excluded; they are printed
separately. Runs are interleaved and medians reported, which makes the comparison robust to a neighbour's load.
Goal: overhead of the default engine <= 5 %. Writes results/bench_train/<profile>/.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

import mglib as mg
from mglib.train.config import apply_overrides
from mglib.train.engine import fit
from mglib.train.toy import ToyConfig, ToyTask

# (n_train, dim, hidden, batch, epochs, repeats)
SIZES = {"smoke": (1024, 16, 32, 16, 2, 5), "cpu": (2048, 64, 256, 32, 3, 9), "gpu": (8192, 256, 1024, 64, 3, 5)}


def bare_loop(task: ToyTask, device: torch.device) -> tuple[float, int]:
    """Seconds of training and number of steps for the hand-written loop."""
    oc = task.cfg.optim
    mg.seed_everything(oc.seed)
    model = task.build_model().to(device)
    train_set, _ = task.datasets()
    loader = DataLoader(train_set, batch_size=oc.batch_size, shuffle=True)
    opt = torch.optim.AdamW(model.parameters(), lr=oc.lr, weight_decay=oc.weight_decay)
    steps = 0
    t0 = time.perf_counter()
    for _ in range(oc.epochs):
        model.train()
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0, steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="smoke", choices=("smoke", "cpu", "gpu"))
    args = ap.parse_args()
    n, dim, hidden, batch, epochs, repeats = SIZES[args.profile]
    torch.set_num_threads(1)  # the machine is shared; one thread keeps both sides comparable
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cfg = apply_overrides(ToyConfig(), [f"n_train={n}", "n_val=256", f"dim={dim}", f"hidden={hidden}",
                                        f"optim.batch_size={batch}", f"optim.epochs={epochs}",
                                        f"optim.eval_every={epochs}", "optim.amp=false"])
    norm_cfg = apply_overrides(cfg, ["optim.log_grad_norm=true"])
    runs = {"bare": [], "engine": [], "engine+grad_norm": []}
    other_s = []
    for _ in range(repeats):
        seconds, steps = bare_loop(ToyTask(cfg), device)
        runs["bare"].append(1000 * seconds / steps)
        for name, c in (("engine", cfg), ("engine+grad_norm", norm_cfg)):
            with tempfile.TemporaryDirectory() as out:
                m = fit(ToyTask(c), out, reuse=False)
            runs[name].append(1000 * m["timing"]["train_time_s"] / m["steps"])
            if name == "engine":
                other_s.append(m["timing"]["wall_time_s"] - m["timing"]["train_time_s"])
    bare = statistics.median(runs["bare"])
    # median: the headline; fastest runs: the least disturbed by other load (as timeit recommends)
    overhead = {name: statistics.median(v) / bare - 1.0 for name, v in runs.items() if name != "bare"}
    overhead_fastest = {name: min(v) / min(runs["bare"]) - 1.0 for name, v in runs.items() if name != "bare"}
    print(f"device {device}, model {dim}-{hidden}-{cfg.classes} MLP, batch {batch}, {steps} steps per run, "
          f"{repeats} runs")
    print(f"{'loop':<18}{'ms/step (median)':>18}{'min':>9}{'max':>9}{'overhead':>10}")
    for name, v in runs.items():
        extra = f"{100 * overhead[name]:>+9.1f}%" if name in overhead else ""
        print(f"{name:<18}{statistics.median(v):>18.4f}{min(v):>9.4f}{max(v):>9.4f}{extra}")
    print(f"default engine overhead per step: {100 * overhead['engine']:+.1f} % on medians, "
          f"{100 * overhead_fastest['engine']:+.1f} % on the fastest runs (goal <= 5 %)")
    print(f"engine time outside the training epochs (setup, evaluation, checkpoints): "
          f"{statistics.median(other_s):.3f} s per run")
    run = mg.Run("bench_train", args.profile, {"n_train": n, "dim": dim, "hidden": hidden, "batch": batch,
                                                "epochs": epochs, "repeats": repeats, "device": str(device)})
    run.log(bare_ms_per_step=bare, engine_ms_per_step=statistics.median(runs["engine"]),
            overhead=overhead["engine"], overhead_fastest=overhead_fastest["engine"],
            overhead_with_grad_norm=overhead["engine+grad_norm"], goal=0.05,
            met_goal_median=overhead["engine"] <= 0.05, met_goal_fastest=overhead_fastest["engine"] <= 0.05,
            runs_ms=runs, engine_outside_epochs_s=statistics.median(other_s))
    run.finish()


if __name__ == "__main__":
    main()
