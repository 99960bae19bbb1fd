"""Benchmark: synthetic generation time per dataset and reader throughput, with reference readers side by side.

Run as ``python benchmarks/bench_data.py [--profile smoke|cpu]``; the chapter (notebooks/01_datasets) calls
:func:`main` and shows the table.

Generation time: the time ``mglib data ensure`` took to write the profile's data under data/ (row "generate
<dataset> (data ensure)"), so the book does not generate everything twice; with ``--regenerate``, or when that copy
is missing or stale, the generation is timed here into a temporary folder ("timed now"). Readers are timed on that
data against plain references: pandas.read_csv for the CSVs and pickle.load (unrestricted) for the PYSKL pickle.
Writes results/bench_data/<profile>/.
"""
from __future__ import annotations

import argparse
import pickle
import tempfile
import time
from pathlib import Path

import pandas as pd

import mglib as mg
from mglib import paths
from mglib.data import generation_record, imigue, mma52, smg, synthetic
from mglib.data.video import read_video


def _time(fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="smoke", choices=("smoke", "cpu"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--regenerate", action="store_true", help="time a fresh generation of every dataset")
    args = ap.parse_args(argv)
    run = mg.Run("bench_data", args.profile, {"seed": args.seed, "workers": synthetic.workers()})
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        roots = {}
        for ds in ("smg", "imigue", "mma52"):
            rec = None if args.regenerate else generation_record(ds, args.profile, args.seed)
            roots[ds] = paths.synthetic_dir(ds, args.profile) if rec else Path(tmp) / ds
            source = "data ensure" if rec else "timed now"
            rec = rec or synthetic.generate(ds, args.profile, roots[ds], seed=args.seed)
            rows.append({"what": f"generate {ds} ({source})", "seconds": rec["seconds"], "items": rec["frames"],
                         "unit": "frames"})
        run.log(generation_total_s=sum(r["seconds"] for r in rows))

        seqs_dirs = smg.sequence_folders(roots["smg"])
        n_rows = sum(len(smg.read_sequence(f).skeleton) for f in seqs_dirs)
        t, _ = _time(lambda: [smg.read_sequence(f) for f in seqs_dirs])
        rows.append({"what": "smg.read_sequence (skeleton+labels)", "seconds": t, "items": n_rows, "unit": "rows"})
        t, _ = _time(lambda: [pd.read_csv(f / f"{f.name}_skeleton.csv", header=None) for f in seqs_dirs])
        rows.append({"what": "reference: pandas.read_csv skeleton", "seconds": t, "items": n_rows, "unit": "rows"})

        pkl = roots["imigue"] / "imigue.pkl"
        t, (anns, _) = _time(lambda: imigue.load_pyskl(pkl))
        rows.append({"what": "imigue.load_pyskl (restricted)", "seconds": t, "items": len(anns), "unit": "clips"})
        t, _ = _time(lambda: pickle.loads(pkl.read_bytes()))
        rows.append({"what": "reference: pickle.load", "seconds": t, "items": len(anns), "unit": "clips"})

        csvs = sorted((roots["mma52"] / "anns").glob("*.csv"))
        n_inst = sum(len(v.instances) for s in ("train", "val", "test")
                     for v in mma52.read_csv(roots["mma52"] / "anns" / f"{s}.csv", s))
        t, _ = _time(lambda: mma52.read_root(roots["mma52"]))
        rows.append({"what": "mma52.read_root", "seconds": t, "items": n_inst, "unit": "rows"})
        t, _ = _time(lambda: [pd.read_csv(p) for p in csvs])
        rows.append({"what": "reference: pandas.read_csv anns", "seconds": t, "items": n_inst, "unit": "rows"})

        vids = sorted((roots["mma52"] / "train").glob("*.mp4"))[:20]
        t, frames = _time(lambda: sum(len(read_video(v)[0]) for v in vids), repeat=1)
        rows.append({"what": "read_video (64x64 MP4 decode)", "seconds": t, "items": frames, "unit": "frames"})
    for r in rows:
        r["per_s"] = r["items"] / max(r["seconds"], 1e-9)
    table = pd.DataFrame(rows)
    run.log(rows=rows)
    run.finish()
    return table
