"""Handlers of ``python -m mglib data {generate,inspect,ensure,fetch}`` (contract: cli.md)."""
from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from mglib import paths
from mglib.errors import InputError


def generate(args) -> int:
    from mglib.data import synthetic

    if not 0 <= args.seed < 2**63:
        raise InputError(f"--seed {args.seed}: expected an integer 0 <= seed < 2**63")
    out = Path(args.out)
    if not args.out.strip() or (out.exists() and not out.is_dir()):
        raise InputError(f"--out {args.out!r}: expected a folder to write the dataset into")
    try:
        info = synthetic.generate(args.dataset, args.profile, out, seed=args.seed)
    except OSError as e:
        raise InputError(f"{e.filename or out}: cannot write ({e.strerror or type(e).__name__}); expected a "
                         "writable --out folder") from None
    timelines = {"real": ", real MMA-52 timelines replayed",
                 "parametric": ", parametric timelines (no verified real annotations in data/real/mma52)"}
    print(f"[mglib] {args.dataset} ({args.profile}, seed {args.seed}): {info['frames']} frames "
          f"in {info['seconds']:.1f} s{timelines.get(info.get('timelines'), '')} -> {args.out}", file=sys.stderr)
    return 0


def summarize(dataset: str, path) -> dict:
    """The ``data inspect`` summary. ``num_classes`` counts the distinct classes present (not the taxonomy size);
    class indices are 0-based and written as strings, sorted numerically."""
    splits: dict[str, dict[str, int]] = {}
    counts: Counter = Counter()
    videos = 0
    if dataset == "smg":
        from mglib.data import smg

        for seq in smg.read_root(path):
            sp = splits.setdefault(smg.split_of(seq.subject), {"videos": 0, "instances": 0})
            sp["videos"] += 1
            sp["instances"] += len(seq.labels)
            counts.update(int(c) for c in seq.labels[:, 0])
            videos += 1
    elif dataset == "imigue":
        from mglib.data import imigue

        path = Path(path)
        if path.is_dir() and (path / "imigue.pkl").exists():  # convenience: the synthetic layout's folder
            path = path / "imigue.pkl"
        anns, split = imigue.load_pyskl(path)
        label = {a["frame_dir"]: a["label"] for a in anns}
        for name, ids in split.items():
            splits[name] = {"videos": len(ids), "instances": len(ids)}
        counts.update(a["label"] for a in anns)
        videos = len(label)
    elif dataset == "mma52":
        from mglib.data import mma52

        for name, vids in mma52.read_root(path).items():
            splits[name] = {"videos": len(vids), "instances": sum(len(v.instances) for v in vids)}
            for v in vids:
                counts.update(int(c) for c in v.instances[:, 2])
            videos += len(vids)
    else:
        raise ValueError(dataset)
    return {"dataset": dataset, "num_videos": videos, "num_instances": sum(counts.values()),
            "num_classes": len(counts), "splits": splits,
            "class_counts": {str(c): counts[c] for c in sorted(counts)}}


def inspect(args) -> int:
    out = summarize(args.dataset, args.path)
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{out['dataset']}: {out['num_videos']} videos, {out['num_instances']} instances, "
          f"{out['num_classes']} classes present")
    for name, sp in out["splits"].items():
        print(f"  {name:6s} videos {sp['videos']:6d}  instances {sp['instances']:6d}")
    print("  class counts: " + ", ".join(f"{c}:{n}" for c, n in out["class_counts"].items()))
    return 0


def ensure(args) -> int:
    from mglib.data import ensure as _ensure

    _ensure(args.profile)
    for d in paths.DATASETS:
        print(f"[mglib] {d}: {paths.relative(paths.synthetic_dir(d, args.profile))}", file=sys.stderr)
    return 0


def fetch(args) -> int:
    from mglib.data import fetch as registry

    if args.list:
        print(registry.listing())
        return 0
    if not args.name:
        raise InputError(f"data fetch: expected a file set name ({', '.join(registry.REGISTRY)}) or --list")
    registry.fetch(args.name, out=args.out, mirror=registry.mirror_root(args.mirror))
    return 0
