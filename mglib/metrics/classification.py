"""Classification metrics: top-k accuracy, macro/micro F1, confusion matrix; MA-52 body level from action level.

Rules (evaluation-protocols.md (e); book: notebooks/02_metrics): F1 on top-1 predictions, one class against the rest,
macro over the *full* label list with a class of zero support and zero predictions scored 0 (scikit-learn's
``zero_division=0``); micro F1 equals top-1 accuracy for single-label predictions.
"""
from __future__ import annotations

import numpy as np

from mglib.errors import InputError
from mglib.metrics.levels import ACTION_TO_BODY, NUM_ACTIONS, NUM_BODY


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """(C, C) counts; row = true class, column = predicted class."""
    y_true, y_pred = np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def f1_scores(conf: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Per-class F1 (C,), macro F1 and micro F1 from a confusion matrix."""
    tp = np.diag(conf).astype(float)
    fp = conf.sum(0) - tp
    fn = conf.sum(1) - tp
    denom = 2 * tp + fp + fn
    per_class = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    total = conf.sum()
    micro = float(tp.sum() / total) if total else 0.0  # pooled: 2TP / (2TP + FP + FN) = accuracy for one label each
    return per_class, float(per_class.mean()), micro


def topk_accuracy(y_true, scores, k: int) -> float:
    scores = np.asarray(scores, dtype=np.float64)
    k = min(k, scores.shape[1])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]  # (N, k); ties -> lower class index first
    return float((top == np.asarray(y_true)[:, None]).any(1).mean())


def _check(y_true, scores, num_classes: int):
    y_true = np.asarray(y_true)
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape != (len(y_true), num_classes):
        raise InputError(f"scores: expected shape ({len(y_true)}, {num_classes}), got {scores.shape}")
    if len(y_true) == 0:
        raise InputError("y_true: no samples to evaluate")
    if not np.issubdtype(y_true.dtype, np.integer) or y_true.min() < 0 or y_true.max() >= num_classes:
        raise InputError(f"y_true: expected integer labels 0-{num_classes - 1}")
    if not np.isfinite(scores).all():
        raise InputError("scores: expected finite numbers")
    return y_true.astype(np.int64), scores


def classification_report(y_true, scores, num_classes: int, topk=(1, 5), y_pred=None) -> dict:
    """Top-k accuracy, macro/micro F1 and the confusion matrix. ``y_pred`` overrides the argmax of ``scores``."""
    y_true, scores = _check(y_true, scores, num_classes)
    given = y_pred is not None
    y_pred = np.asarray(y_pred, np.int64) if given else scores.argmax(1)
    conf = confusion_matrix(y_true, y_pred, num_classes)
    per_class, macro, micro = f1_scores(conf)
    out = {f"top{k}": topk_accuracy(y_true, scores, k) for k in topk}
    if given:  # e.g. MA-52 body top-1 from the mapped top-1 action
        out["top1"] = float((y_pred == y_true).mean())
    out.update(macro_f1=macro, micro_f1=micro, per_class_f1=per_class.tolist(), confusion=conf.tolist())
    return out


def softmax(x, axis: int = -1) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def body_scores(action_probs) -> np.ndarray:
    """(N, 52) action probabilities -> (N, 7) body probabilities (sum over each body group)."""
    p = np.asarray(action_probs, dtype=np.float64)
    out = np.zeros((p.shape[0], NUM_BODY))
    np.add.at(out.T, ACTION_TO_BODY, p.T)
    return out


def ma52_report(y_true, action_scores, scores_are_logits: bool = True) -> dict:
    """MA-52 metrics: action top-1/top-5/F1, body top-1 from the mapped top-1 action (as the official packaging
    script), body top-5 from summed softmax probabilities, and ``F1_mean`` of the four F1 values."""
    y_true, action_scores = _check(y_true, action_scores, NUM_ACTIONS)
    probs = softmax(action_scores) if scores_are_logits else action_scores
    action = classification_report(y_true, probs, NUM_ACTIONS)
    body_true = ACTION_TO_BODY[y_true]
    body = classification_report(body_true, body_scores(probs), NUM_BODY,
                                 y_pred=ACTION_TO_BODY[probs.argmax(1)])
    f1_mean = (body["macro_f1"] + body["micro_f1"] + action["macro_f1"] + action["micro_f1"]) / 4
    return {"action": action, "body": body, "F1_mean": f1_mean}
