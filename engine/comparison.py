"""Champion against challenger on the same recent labelled rows, with bootstrap intervals.

For each metric (ROC AUC, accuracy, log loss) both models are scored on the same held-out
rows, and the difference challenger - champion gets a 95 % percentile bootstrap interval:
the rows are resampled with replacement B times (paired: both models see the same resample),
the difference recomputed on each, and the 2.5th and 97.5th percentiles taken (Efron &
Tibshirani 1993, ch. 13; scipy.stats.bootstrap(paired=True, method="percentile") computes the
same kind of interval, tests/engine/test_comparison.py checks them against each other).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from engine.metrics import predict_indices

BOOTSTRAP = 1000
METRICS = ("roc_auc", "accuracy", "log_loss")


def _score(metric: str, y: np.ndarray, proba: np.ndarray, threshold: float | None) -> float:
    if metric == "accuracy":
        return float(np.mean(predict_indices(proba, threshold) == y))
    if metric == "log_loss":
        picked = proba[np.arange(len(y)), y]
        return float(-np.mean(np.log(np.clip(picked, 1e-15, 1.0))))
    if proba.shape[1] == 2:
        return float(roc_auc_score(y, proba[:, 1]))
    return float(roc_auc_score(y, proba, multi_class="ovr", labels=np.arange(proba.shape[1])))


def compare_models(
    y: np.ndarray,
    champion: np.ndarray,
    challenger: np.ndarray,
    *,
    champion_threshold: float | None = None,
    challenger_threshold: float | None = None,
    seed: int = 0,
    n_bootstrap: int = BOOTSTRAP,
) -> dict:
    """{metric: {champion, challenger, difference, low, high}} on the rows `y` (class
    indices), `champion` and `challenger` their (n, K) probabilities. A metric a resample
    cannot compute (ROC AUC with one class) skips that resample."""
    y = np.asarray(y, dtype=np.int64)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(y), size=(n_bootstrap, len(y)))
    out = {}
    for metric in METRICS:
        try:
            a = _score(metric, y, champion, champion_threshold)
            b = _score(metric, y, challenger, challenger_threshold)
        except ValueError:  # ROC AUC of a single class
            continue
        differences = []
        for rows in draws:
            try:
                differences.append(
                    _score(metric, y[rows], challenger[rows], challenger_threshold)
                    - _score(metric, y[rows], champion[rows], champion_threshold)
                )
            except ValueError:
                continue
        low, high = np.percentile(differences, [2.5, 97.5]) if differences else (np.nan, np.nan)
        out[metric] = {
            "champion": a,
            "challenger": b,
            "difference": b - a,
            "low": float(low),
            "high": float(high),
            "higher_is_better": metric != "log_loss",
        }
    return out
