"""Command line of the micro-gesture study: data, eval, train, run, book, doctor.

The parsers live here so ``--help`` is fast and complete; the work is done by functions in each area's
``commands`` module, imported only when that command runs.
"""
from __future__ import annotations

import argparse
import sys

from mglib.errors import InputError

PROFILE_CHOICES = ("smoke", "cpu", "gpu")
DATASET_CHOICES = ("smg", "imigue", "mma52")
# Keys each --json output has beyond those of the contract (cli.md); tests/test_fuzz_cli.py checks the outputs.
EXTRA_JSON_KEYS = {
    "detection": ("ignored_predictions", "ignored_labels", "num_classes", "num_ground_truth", "num_predictions",
                  "protocol", "level"),
    "errors": ("tiou", "fn_share", "sensitivity", "fp_group_sizes", "average_mAP_N", "mAP_N", "N",
               "ignored_predictions", "ignored_labels", "dropped_ground_truth", "buckets", "level"),
    "online": ("protocol", "ignored_predictions", "per_sequence", "per_class"),
}


def _json_help(cmd: str) -> str:
    return f"print one JSON object on stdout (the keys of cli.md, plus {', '.join(EXTRA_JSON_KEYS[cmd])})"


def _data(args):
    from mglib.data import commands

    return getattr(commands, args.data_cmd)(args)


def _eval(args):
    from mglib.metrics import commands

    return getattr(commands, args.eval_cmd)(args)


def _train(args):
    from mglib.train import commands

    return commands.train(args)


def _run(args):
    from mglib import profiles, runner

    runner.run(args.profile, only=args.only, overrides=profiles.parse_overrides(args.p), force=args.force,
               jobs=args.jobs)


def _book(args):
    from mglib import runner

    runner.build(args.profile, force=args.force, jobs=args.jobs)


def _doctor(args):
    from mglib import doctor

    return doctor.main(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mglib", description="Command line of the micro-gesture study (data, eval, train, run, book).", epilog="Contract: the book's command-line reference; every command has --help.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    # --- data -------------------------------------------------------------------------------------------
    data = sub.add_parser("data", help="generate synthetic datasets, inspect real or synthetic ones")
    dsub = data.add_subparsers(dest="data_cmd", required=True, metavar="SUBCOMMAND")
    gen = dsub.add_parser("generate", help="write a synthetic dataset in the real on-disk format")
    gen.add_argument("--dataset", required=True, choices=DATASET_CHOICES)
    gen.add_argument("--profile", required=True, choices=PROFILE_CHOICES)
    gen.add_argument("--out", required=True, help="output folder")
    gen.add_argument("--seed", type=int, default=0)
    ins = dsub.add_parser("inspect", help="read a dataset through the study readers and summarise it")
    ins.add_argument("--dataset", required=True, choices=DATASET_CHOICES)
    ins.add_argument("path", help="dataset folder (smg, mma52) or PYSKL pickle (imigue)")
    ins.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    ens = dsub.add_parser("ensure", help="generate the synthetic data of a profile under data/ unless present")
    ens.add_argument("--profile", required=True, choices=PROFILE_CHOICES)
    fet = dsub.add_parser("fetch", help="download (or copy from a mirror) a registered real file set, sha256-verified")
    fet.add_argument("name", nargs="?", help="registered file set, e.g. mma52-annotations (see --list)")
    fet.add_argument("--list", action="store_true", help="list the registered file sets and exit")
    fet.add_argument("--out", default=None, help="output folder (default: data/real/<set>, e.g. data/real/mma52)")
    fet.add_argument("--mirror", default=None,
                     help="copy from MIRROR/<set>/... instead of downloading (default: $MGLIB_DATA_MIRROR)")
    data.set_defaults(func=_data)

    # --- eval -------------------------------------------------------------------------------------------
    ev = sub.add_parser("eval", help="score prediction files (detection mAP, online F1, error analysis)")
    esub = ev.add_subparsers(dest="eval_cmd", required=True, metavar="SUBCOMMAND")
    det = esub.add_parser("detection", help="ActivityNet/OpenTAD detection mAP")
    err = esub.add_parser("errors", help="DETAD-style false-positive / false-negative analysis")
    for name, p in (("detection", det), ("errors", err)):
        p.add_argument("--ground-truth", required=True, help="ActivityNet-style JSON or MMA-52 CSV")
        p.add_argument("--predictions", required=True, help="ActivityNet results JSON or MMA-52 submission CSV")
        p.add_argument("--subset", default=None, help="keep only ground-truth videos of this subset")
        p.add_argument("--tiou", default=None, help="comma-separated thresholds (default 0.1,...,0.9; errors: 0.5)")
        p.add_argument("--json", action="store_true", help=_json_help(name))
    det.add_argument("--level", choices=("action", "body"), default="action",
                     help="body: map MA-52 action classes to their 7 body levels first")
    det.add_argument("--protocol", choices=("opentad", "activitynet", "pointtad"), default="opentad",
                     help="which official evaluator's behaviour to reproduce (default opentad)")
    err.add_argument("--level", choices=("action", "body"), default="action")
    onl = esub.add_parser("online", help="SMG online-recognition F1")
    onl.add_argument("--ground-truth", required=True, help="folder of SampleXXXX/SampleXXXX_finelabels.csv")
    onl.add_argument("--predictions", required=True, help="folder of SampleXXXX_prediction.csv")
    onl.add_argument("--protocol", choices=("smg", "strict"), default="smg")
    onl.add_argument("--json", action="store_true", help=_json_help("online"))
    ev.set_defaults(func=_eval)

    # --- train ------------------------------------------------------------------------------------------
    tr = sub.add_parser("train", help="train a model through the shared training engine")
    tr.add_argument("task", choices=("classification", "online", "detection", "toy"),
                    help="which study's task (toy: a tiny built-in task for testing the engine)")
    tr.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override a field of the task's config dataclass (repeatable)")
    tr.add_argument("--out", required=True, help="run folder (config.json, env.json, metrics.json, checkpoint.pt)")
    tr.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    tr.add_argument("--overwrite", action="store_true",
                    help="replace a run of another config in OUT (its files go once the new run has a checkpoint); "
                         "without it such a folder is refused")
    tr.set_defaults(func=_train)

    # --- run / book -------------------------------------------------------------------------------------
    run = sub.add_parser("run", help="execute notebooks with papermill and record their results")
    run.add_argument("--profile", default="cpu", choices=PROFILE_CHOICES)
    run.add_argument("--only", action="append", default=None, metavar="NOTEBOOK",
                     help="run only this notebook (repeatable), e.g. 02_metrics")
    run.add_argument("-p", action="append", default=[], metavar="KEY=VALUE", help="parameter override (needs --only)")
    run.add_argument("--force", action="store_true",
                     help="re-execute the named notebooks (all without --only) even when their output is current")
    run.set_defaults(func=_run)
    book = sub.add_parser("book", help="run stale notebooks, then build the HTML book with Jupyter Book")
    book.add_argument("--profile", default="cpu", choices=PROFILE_CHOICES)
    book.add_argument("--force", action="store_true", help="re-execute every notebook")
    for p in (run, book):
        p.add_argument("--jobs", type=int, default=None, metavar="N",
                       help="notebooks executed at once, one torch thread each (default: the number of cores; "
                            "1: one after another)")
    book.set_defaults(func=_book)

    # --- doctor -----------------------------------------------------------------------------------------
    doc = sub.add_parser("doctor", help="check a CUDA machine for the gpu profile (kernels, AMP, memory, DDP, speed)")
    doc.add_argument("--dry-run", action="store_true", help="CPU only, in seconds: CUDA checks are skipped with a reason")
    doc.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    doc.set_defaults(func=_doctor)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        rc = args.func(args)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)
