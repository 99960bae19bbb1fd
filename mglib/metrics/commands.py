"""Handlers of ``python -m mglib eval {detection,online,errors}`` (contract: cli.md)."""
from __future__ import annotations

import json
import sys

from mglib.errors import InputError
from mglib.metrics import io
from mglib.metrics.detad import error_analysis
from mglib.metrics.detection import DEFAULT_TIOU, detection_map
from mglib.metrics.online import online_f1

CLI_DETECTION_KEYS = ("tiou", "mAP", "average_mAP", "per_class_AP")


def parse_tiou(text: str | None, default) -> list[float]:
    """``"0.1,0.2"`` -> [0.1, 0.2] (literal decimals); one-line error otherwise."""
    if text is None:
        return list(default)
    try:
        out = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InputError(f"--tiou: expected comma-separated numbers in (0, 1], got {text!r}") from None
    if not out or any(not 0 < t <= 1 for t in out):
        raise InputError(f"--tiou: expected comma-separated numbers in (0, 1], got {text!r}")
    return out


def _warn_ignored(res: dict) -> None:
    if res.get("ignored_predictions"):
        labels = ", ".join(res.get("ignored_labels", [])[:10])
        print(f"warning: {res['ignored_predictions']} prediction(s) ignored: their label has no ground truth in the "
              f"evaluated set ({labels})", file=sys.stderr)


def _emit(args, obj: dict, text: str) -> int:
    if args.json:
        print(json.dumps(obj, allow_nan=False))
    else:
        print(text)
    return 0


def detection(args) -> int:
    gt = io.load_ground_truth(args.ground_truth)
    preds = io.load_predictions(args.predictions)
    res = detection_map(gt, preds, parse_tiou(args.tiou, DEFAULT_TIOU), protocol=getattr(args, "protocol", "opentad"),
                        subset=args.subset, level=args.level)
    _warn_ignored(res)
    lines = [f"detection mAP ({res['protocol']}, {res['level']} level, {res['num_classes']} classes, "
             f"{res['num_ground_truth']} ground truth, {res['num_predictions']} predictions)"]
    lines += [f"  mAP@{t:g}: {m:.4f}" for t, m in zip(res["tiou"], res["mAP"])]
    lines.append(f"  average mAP: {res['average_mAP']:.4f}")
    return _emit(args, res, "\n".join(lines))


def online(args) -> int:
    gt = io.read_smg_ground_truth(args.ground_truth)
    preds = io.read_smg_predictions(args.predictions)
    res = online_f1(gt, preds, protocol=args.protocol)
    if res["ignored_predictions"]:
        print(f"warning: {res['ignored_predictions']} prediction(s) ignored: their sequence has no ground truth",
              file=sys.stderr)
    text = (f"online F1 ({res['protocol']}): precision {res['precision']:.4f}  recall {res['recall']:.4f}  "
            f"F1 {res['f1']:.4f}  (hits {res['hits']}, #GT {res['num_gt']}, #pred {res['num_pred']})")
    return _emit(args, res, text)


def errors(args) -> int:
    gt = io.load_ground_truth(args.ground_truth)
    preds = io.load_predictions(args.predictions)
    res = error_analysis(gt, preds, tiou=parse_tiou(args.tiou, (0.5,)), subset=args.subset, level=args.level)
    _warn_ignored(res)
    fmt = lambda x: "  -  " if x is None else f"{x:.3f}"  # noqa: E731
    lines = [f"false-positive profile (tIoU {', '.join(map(str, res['tiou']))}; fractions)"]
    for g, row in res["fp_profile"].items():
        lines.append(f"  {g:>3}: " + "  ".join(f"{k} {fmt(v)}" for k, v in row.items()))
    lines.append("average-mAP_N gain when removing: " + ", ".join(f"{k} {v:+.4f}"
                                                                  for k, v in res["fp_removal_gain"].items()))
    for name, row in res["fn_rate"].items():
        lines.append(f"false-negative rate by {name}: " + "  ".join(f"{k} {fmt(v)}" for k, v in row.items()))
    return _emit(args, res, "\n".join(lines))
