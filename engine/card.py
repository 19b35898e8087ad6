"""The numbers a model card adds to the registry's: bootstrap intervals of the test metrics
and metrics per slice of a categorical feature.

- Intervals: the percentile bootstrap (Efron & Tibshirani 1993, "An Introduction to the
  Bootstrap", ch. 13): resample the test rows with replacement `n_resamples` times, recompute
  the metric, take the alpha/2 and 1 - alpha/2 quantiles. Seeded, so a card is reproducible.
  tests/engine/test_card.py checks them against `scipy.stats.bootstrap(method="percentile")`.
- Slices: each category of the chosen feature (its missing values one more slice) gets its
  rows' count, accuracy, recall of each class and, for a binary model, the positive rate; the
  gap is the best slice's accuracy minus the worst's among slices of at least
  `min_rows` rows (smaller slices are listed and marked too small to compare).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.metrics import predict_indices

N_RESAMPLES = 1000
SLICE_MIN_ROWS = 30


def _auc(scores: np.ndarray, positive: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """ROC AUC of `scores` for the rows where `positive`, each row counted `counts[r, i]`
    times in resample r (Mann-Whitney: P(a positive scores above a negative), ties half)."""
    order = np.argsort(scores, kind="mergesort")
    s = scores[order]
    pos = counts[:, order] * positive[order]
    neg = counts[:, order] * ~positive[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])  # tie groups
    pos_g = np.add.reduceat(pos, starts, axis=1)
    neg_g = np.add.reduceat(neg, starts, axis=1)
    below = np.cumsum(neg_g, axis=1) - neg_g  # negatives strictly below each group
    wins = (pos_g * (below + 0.5 * neg_g)).sum(axis=1)
    pairs = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, wins / pairs, np.nan)


def resampled_metrics(
    y: np.ndarray, proba: np.ndarray, pred: np.ndarray, counts: np.ndarray
) -> dict[str, np.ndarray]:
    """Each metric for every resample at once; `counts[r, i]` is how often row i is in
    resample r (a row of ones: the metric on the rows as they are). Binary F1 is the positive
    class's, multiclass F1 and AUC the macro (one-vs-rest) average, as scikit-learn's."""
    n_classes = proba.shape[1]
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum(axis=1)
    correct = (pred == y).astype(np.float64)
    out = {"accuracy": counts @ correct / total}
    recalls, f1s, aucs = [], [], []
    for k in range(n_classes):
        is_k, pred_k = y == k, pred == k
        tp = counts @ (is_k & pred_k).astype(np.float64)
        support = counts @ is_k.astype(np.float64)
        predicted = counts @ pred_k.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            recalls.append(np.where(support > 0, tp / support, np.nan))
            denominator = support + predicted
            f1s.append(np.where(denominator > 0, 2 * tp / denominator, 0.0))
        aucs.append(_auc(proba[:, k], is_k, counts))
    recalls = np.array(recalls)
    out["balanced_accuracy"] = np.nanmean(recalls, axis=0)
    out["f1"] = f1s[1] if n_classes == 2 else np.mean(f1s, axis=0)
    out["roc_auc"] = aucs[1] if n_classes == 2 else np.mean(aucs, axis=0)
    picked = np.clip(proba[np.arange(len(y)), y], 1e-15, 1.0)
    out["log_loss"] = counts @ -np.log(picked) / total
    return out


def bootstrap_intervals(
    y: np.ndarray,
    proba: np.ndarray,
    threshold: float | None,
    *,
    n_resamples: int = N_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """{metric: {"value", "low", "high"}} on the test rows `y` (class indices) with their
    calibrated probabilities `proba`; the value is the metric on all rows. Resamples missing
    a class have no AUC and are left out of its interval."""
    y = np.asarray(y, dtype=np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    pred = predict_indices(proba, threshold)
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(y), size=(n_resamples, len(y)))
    counts = np.zeros((n_resamples, len(y)))
    np.add.at(counts, (np.arange(n_resamples)[:, None], rows), 1.0)
    resampled = resampled_metrics(y, proba, pred, counts)
    whole = resampled_metrics(y, proba, pred, np.ones((1, len(y))))
    alpha = 1.0 - confidence
    out = {}
    for name, values in resampled.items():
        values = values[np.isfinite(values)]
        value = float(whole[name][0])
        if not len(values) or not np.isfinite(value):
            continue
        low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
        out[name] = {"value": value, "low": float(low), "high": float(high)}
    return out


def slice_metrics(
    values: pd.Series,
    y: np.ndarray,
    proba: np.ndarray,
    threshold: float | None,
    class_labels: list[str],
    *,
    min_rows: int = SLICE_MIN_ROWS,
) -> dict:
    """Metrics per category of `values` (one feature's raw test values, row-aligned with `y`
    and `proba`): {"slices": [...], "gap": best - worst accuracy or None, "min_rows"}."""
    y = np.asarray(y, dtype=np.int64)
    pred = predict_indices(np.asarray(proba, dtype=np.float64), threshold)
    keys = values.astype("string").fillna("<missing>").to_numpy()
    slices = []
    for key in sorted(set(keys)):
        rows = keys == key
        n = int(rows.sum())
        recall = {
            label: float(np.mean(pred[rows][y[rows] == k] == k)) if np.any(y[rows] == k) else None
            for k, label in enumerate(class_labels)
        }
        entry = {
            "value": str(key),
            "rows": n,
            "accuracy": float(np.mean(pred[rows] == y[rows])),
            "recall": recall,
            "comparable": n >= min_rows,
        }
        if len(class_labels) == 2:
            entry["positive_rate"] = float(np.mean(pred[rows] == 1))
        slices.append(entry)
    comparable = [s["accuracy"] for s in slices if s["comparable"]]
    gap = max(comparable) - min(comparable) if len(comparable) >= 2 else None
    return {"slices": slices, "gap": gap, "min_rows": min_rows}


def card_evaluation(model, test_features: pd.DataFrame, y_test: np.ndarray, *, seed: int = 0):
    """What a model card shows beyond the stored test metrics, from the test rows: the
    bootstrap intervals and the slices of every categorical or boolean input feature."""
    proba = model.predict_proba(test_features)
    y = np.asarray(y_test, dtype=np.int64)
    sliced = {
        f["name"]: slice_metrics(
            test_features[f["name"]], y, proba, model.threshold, list(model.class_labels)
        )
        for f in model.preprocessor.features
        if f["kind"] in ("categorical", "boolean")
    }
    return {
        "rows": len(y),
        "resamples": N_RESAMPLES,
        "confidence": 0.95,
        "intervals": bootstrap_intervals(y, proba, model.threshold, seed=seed),
        "slices": sliced,
    }
