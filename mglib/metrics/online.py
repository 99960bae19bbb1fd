"""SMG online-recognition F1 (evaluation-protocols.md (c); book: notebooks/02_metrics).

``smg`` is the starter kit's ``tester_SMG`` rule, kept for comparability with published numbers: for each ground
truth in file order, the *first* prediction in output order with the same label and ``alpha > 0.3`` is a hit, and
that prediction is **not consumed** (the kit discards the result of ``numpy.delete``), so one prediction can be a hit
for several ground truths. ``strict`` is the same scan with each prediction usable once.

    alpha(p, g) = (min(e_p, e_g) - max(s_p, s_g)) / (max(e_p, e_g) - min(s_p, s_g))

Counts are micro-averaged over sequences; ``F1 = 2PR / (P + R + 1e-7)`` as in the kit.
"""
from __future__ import annotations

from mglib.errors import InputError

ONLINE_PROTOCOLS = ("smg", "strict")
ALPHA = 0.3


def alpha(p, g) -> float:
    """The kit's overlap ratio of ``(label, start, end)`` tuples; tIoU when they overlap, negative otherwise."""
    num = min(p[2], g[2]) - max(p[1], g[1])
    den = max(p[2], g[2]) - min(p[1], g[1])
    return num / den if den > 0 else 0.0  # the kit's 0/0 is NaN, which never passes '> 0.3'


def _f1(hits: int, num_gt: int, num_pred: int) -> tuple[float, float, float]:
    recall = hits / num_gt if num_gt else 0.0
    precision = hits / num_pred if num_pred else 0.0
    f1 = 2 * precision * recall / (precision + recall + 1e-7) if precision + recall > 0 else 0.0
    return precision, recall, f1


def online_f1(gt: dict, preds: dict, protocol: str = "smg", threshold: float = ALPHA) -> dict:
    """F1 of per-sequence predictions ``{seq: [(label, start, end), ...]}`` against ground truth in the same layout.

    Sequences are those of ``gt``; a sequence without predictions has none. Predictions for a sequence absent from
    ``gt`` are ignored and counted (``ignored_predictions``). Returns precision, recall, f1, hits, num_gt, num_pred,
    ``per_sequence`` and ``per_class`` (per-class counts and F1 of the same hits).
    """
    if protocol not in ONLINE_PROTOCOLS:
        raise InputError(f"protocol: expected one of {ONLINE_PROTOCOLS}, got {protocol!r}")
    if not gt:
        raise InputError("ground truth: no sequences to evaluate")
    hits = num_gt = num_pred = 0
    per_seq, per_class = {}, {}
    for seq, g_list in gt.items():
        p_list = list(preds.get(seq, []))
        used = [False] * len(p_list)
        seq_hits = 0
        for g in g_list:
            c = per_class.setdefault(g[0], {"hits": 0, "num_gt": 0, "num_pred": 0})
            c["num_gt"] += 1
            for k, p in enumerate(p_list):
                if p[0] == g[0] and not used[k] and alpha(p, g) > threshold:
                    seq_hits += 1
                    c["hits"] += 1
                    if protocol == "strict":
                        used[k] = True
                    break
        for p in p_list:
            per_class.setdefault(p[0], {"hits": 0, "num_gt": 0, "num_pred": 0})["num_pred"] += 1
        per_seq[str(seq)] = {"hits": seq_hits, "num_gt": len(g_list), "num_pred": len(p_list)}
        hits, num_gt, num_pred = hits + seq_hits, num_gt + len(g_list), num_pred + len(p_list)
    precision, recall, f1 = _f1(hits, num_gt, num_pred)
    for c in per_class.values():
        c["precision"], c["recall"], c["f1"] = _f1(c["hits"], c["num_gt"], c["num_pred"])
    ignored = sum(len(v) for k, v in preds.items() if k not in gt)
    return {"precision": precision, "recall": recall, "f1": f1, "hits": hits, "num_gt": num_gt,
            "num_pred": num_pred, "protocol": protocol, "ignored_predictions": ignored,
            "per_sequence": per_seq, "per_class": {str(k): per_class[k] for k in sorted(per_class, key=str)}}
