"""Validation threshold and test-set evaluation, as JSON-safe plain Python values.

Binary problems: the positive class is class_labels[1]; precision, recall, F1, Brier, ECE and
the curves are about it. Multiclass problems: precision/recall/F1 are macro averages with a
per-class breakdown; ROC AUC is one-vs-rest macro; PR AUC is the macro mean of per-class
average precision; Brier is the mean over rows of sum_k (p_k - [y = k])^2; ECE and the
calibration curve use the top-class confidence against whether the top class was right; the
ROC and PR curves are micro-averaged (every one-vs-rest pair pooled), so the curves have the
same shape as in the binary case (`curves["averaging"]` says which).
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    precision_recall_curve,
    precision_recall_fscore_support,
    roc_auc_score,
    roc_curve,
)

from engine.families import log_loss_of
from engine.values import json_safe

MAX_CURVE_POINTS = 200
CALIBRATION_BINS = 10


def _positive(proba: np.ndarray) -> np.ndarray:
    proba = np.asarray(proba, dtype=np.float64)
    return proba if proba.ndim == 1 else proba[:, 1]


def choose_threshold(y_val: np.ndarray, p_val: np.ndarray) -> float | None:
    """Binary: the probability threshold on P(class 1) that maximises F1 on the validation
    rows (`p_val` may be the (n, 2) matrix or the positive column). Multiclass (an (n, K>2)
    matrix): None, meaning argmax."""
    p_val = np.asarray(p_val, dtype=np.float64)
    if p_val.ndim == 2 and p_val.shape[1] > 2:
        return None
    positive = _positive(p_val)
    y_val = np.asarray(y_val)
    if not (y_val == 1).any():
        return 0.5
    precision, recall, thresholds = precision_recall_curve(y_val, positive)
    # precision/recall have one more entry than thresholds (the final (1, 0) point).
    p, r = precision[:-1], recall[:-1]
    denom = p + r
    f1 = np.divide(2 * p * r, denom, out=np.zeros_like(denom), where=denom > 0)
    return float(thresholds[int(np.argmax(f1))])


def predict_indices(proba: np.ndarray, threshold: float | None) -> np.ndarray:
    """Class indices: binary uses `threshold` on P(class 1) (0.5 if None); else argmax."""
    proba = np.asarray(proba, dtype=np.float64)
    if proba.shape[1] == 2:
        return (proba[:, 1] >= (0.5 if threshold is None else threshold)).astype(np.int64)
    return np.argmax(proba, axis=1).astype(np.int64)


def _thin(*arrays: np.ndarray, limit: int = MAX_CURVE_POINTS) -> list[list[float]]:
    """At most `limit` evenly spaced points, keeping the first and the last."""
    n = len(arrays[0])
    keep = np.unique(np.linspace(0, n - 1, num=min(n, limit)).round().astype(int)) if n else []
    return [[float(a[i]) for i in keep] for a in arrays]


def _calibration(hit: np.ndarray, confidence: np.ndarray) -> tuple[dict, float]:
    """Equal-width bins on [0, 1]: per non-empty bin the mean predicted probability, the
    observed frequency and the count; plus the expected calibration error."""
    bins = np.minimum((confidence * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)
    mean_pred, frac, count = [], [], []
    ece = 0.0
    for b in range(CALIBRATION_BINS):
        mask = bins == b
        m = int(mask.sum())
        if not m:
            continue
        mp, fp = float(confidence[mask].mean()), float(hit[mask].mean())
        mean_pred.append(mp)
        frac.append(fp)
        count.append(m)
        ece += abs(mp - fp) * m / len(confidence)
    curve = {"mean_predicted": mean_pred, "fraction_positive": frac, "count": count}
    return curve, ece


def _safe(fn, *args, **kwargs) -> float | None:
    """A score that is undefined here (e.g. a class absent from y_true) becomes None."""
    try:
        value = float(fn(*args, **kwargs))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def evaluate(
    y_true_idx: np.ndarray,
    proba: np.ndarray,
    *,
    class_labels: list[str],
    threshold: float | None,
) -> dict:
    y = np.asarray(y_true_idx, dtype=np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    k = len(class_labels)
    labels = list(range(k))
    pred = predict_indices(proba, threshold)
    onehot = np.eye(k)[y]
    # Ranking scores need every class in y_true (binary: both); else they are undefined.
    all_present = bool(onehot.any(axis=0).all())
    p, r, f, support = precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    per_class = {
        class_labels[c]: {
            "precision": float(p[c]),
            "recall": float(r[c]),
            "f1": float(f[c]),
            "support": int(support[c]),
        }
        for c in labels
    }
    out: dict = {
        "n": int(len(y)),
        "accuracy": float(accuracy_score(y, pred)),
        # Mean recall over the classes present in y_true (as scikit-learn's, without its
        # warning when a class is absent).
        "balanced_accuracy": float(r[support > 0].mean()) if len(y) else None,
        "log_loss": log_loss_of(y, proba),
        "threshold": threshold,
        "confusion_matrix": confusion_matrix(y, pred, labels=labels).tolist(),
        "per_class": per_class,
    }
    if k == 2:
        positive = proba[:, 1]
        out.update(
            precision=float(p[1]),
            recall=float(r[1]),
            f1=float(f[1]),
            roc_auc=_safe(roc_auc_score, y, positive) if all_present else None,
            pr_auc=_safe(average_precision_score, y, positive) if all_present else None,
            brier=float(np.mean((positive - y) ** 2)),
        )
        hit, confidence = (y == 1).astype(float), positive
        flat_y, flat_p, averaging = y, positive, "binary"
    else:
        aps = [
            average_precision_score(onehot[:, c], proba[:, c]) for c in labels if onehot[:, c].any()
        ]
        out.update(
            precision=float(p.mean()),
            recall=float(r.mean()),
            f1=float(f.mean()),
            roc_auc=_safe(
                roc_auc_score, y, proba, multi_class="ovr", average="macro", labels=labels
            )
            if all_present
            else None,
            pr_auc=float(np.mean(aps)) if aps else None,
            brier=float(np.mean(np.sum((proba - onehot) ** 2, axis=1))),
        )
        hit = (pred == y).astype(float)
        confidence = proba.max(axis=1)
        flat_y, flat_p, averaging = onehot.ravel(), proba.ravel(), "micro"

    calibration, ece = _calibration(hit, confidence)
    out["ece"] = ece
    curves: dict = {"averaging": averaging, "calibration": calibration}
    if 0 < flat_y.sum() < len(flat_y):
        fpr, tpr, _ = roc_curve(flat_y, flat_p)
        precision, recall, _ = precision_recall_curve(flat_y, flat_p)
        fpr_l, tpr_l = _thin(fpr, tpr)
        precision_l, recall_l = _thin(precision, recall)
        curves["roc"] = {"fpr": fpr_l, "tpr": tpr_l}
        curves["pr"] = {"precision": precision_l, "recall": recall_l}
    else:
        curves["roc"] = {"fpr": [], "tpr": []}
        curves["pr"] = {"precision": [], "recall": []}
    out["curves"] = curves
    return json_safe(out)


def validation_score(metric: str, y: np.ndarray, proba: np.ndarray) -> float:
    """The search objective on validation rows: "roc_auc" (binary, or one-vs-rest macro),
    "f1_macro" (argmax predictions) or "log_loss"."""
    y = np.asarray(y, dtype=np.int64)
    if metric == "roc_auc":
        if proba.shape[1] == 2:
            return float(roc_auc_score(y, proba[:, 1]))
        return float(
            roc_auc_score(
                y, proba, multi_class="ovr", average="macro", labels=list(range(proba.shape[1]))
            )
        )
    if metric == "f1_macro":
        pred = np.argmax(proba, axis=1)
        _, _, f, _ = precision_recall_fscore_support(
            y, pred, labels=list(range(proba.shape[1])), zero_division=0
        )
        return float(f.mean())
    if metric == "log_loss":
        return log_loss_of(y, proba)
    raise ValueError(f"Unknown metric {metric!r}; choose roc_auc, f1_macro or log_loss.")
