"""Permutation importance of every input feature, on the validation rows.

For feature j: shuffle its column among the validation rows (every one-hot column of a
categorical feature moves together, since the shuffle happens before expansion), predict
again, and record how much the validation log loss rises; the mean over `repeats` shuffles
is the importance and their standard deviation its spread (Breiman 2001; Fisher, Rudin &
Dominici 2019). Computed by scikit-learn's `permutation_importance` on the stage-1 encoded
matrix (one column per input feature), with the model's calibrated probabilities.

Drift checks weight each drifted feature by its normalised importance (engine.drift): a
shift in a feature the model leans on matters more than one in a feature it ignores.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

MAX_ROWS = 5000
REPEATS = 5


class _EncodedModel:
    """What scikit-learn's permutation_importance calls: stage-1 encoded rows in."""

    def __init__(self, predict_proba: Callable[[np.ndarray], np.ndarray]):
        self.predict_proba = predict_proba

    def fit(self, X, y):  # pragma: no cover - never called; scikit-learn's API wants it
        return self


def _negative_log_loss(model: _EncodedModel, X: np.ndarray, y: np.ndarray) -> float:
    proba = model.predict_proba(X)
    picked = proba[np.arange(len(y)), y]
    return float(np.mean(np.log(np.clip(picked, 1e-15, 1.0))))


def permutation_importances(
    predict_encoded: Callable[[np.ndarray], np.ndarray],
    X_encoded: np.ndarray,
    y: np.ndarray,
    names: list[str],
    *,
    seed: int,
    repeats: int = REPEATS,
    max_rows: int = MAX_ROWS,
) -> dict[str, dict[str, float]]:
    """{feature: {"mean", "std"}}: the rise in validation log loss when the feature is
    shuffled. `predict_encoded` maps stage-1 encoded rows to (n, K) probabilities. At most
    `max_rows` rows (a stratified-enough random subset) keep it cheap on big validation sets."""
    from sklearn.inspection import permutation_importance

    y = np.asarray(y, dtype=np.int64)
    if len(y) > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(len(y), size=max_rows, replace=False))
        X_encoded, y = X_encoded[rows], y[rows]
    result = permutation_importance(
        _EncodedModel(predict_encoded),
        X_encoded,
        y,
        scoring=_negative_log_loss,
        n_repeats=repeats,
        random_state=seed,
        n_jobs=1,
    )
    return {
        name: {"mean": round(float(mean), 6), "std": round(float(std), 6)}
        for name, mean, std in zip(
            names, result.importances_mean, result.importances_std, strict=True
        )
    }
