"""Class-imbalance strategies, applied to the ENCODED training rows only (stage 1 of the
preprocessor), before `expand()`. Validation and test rows never come here."""

from __future__ import annotations

import numpy as np
from imblearn.over_sampling import SMOTE, SMOTEN, SMOTENC

from engine.vocabulary import IMBALANCE_NAMES

STRATEGIES = IMBALANCE_NAMES
MAX_NEIGHBOURS = 5


def balanced_class_weight(y: np.ndarray) -> dict[int, float]:
    """n / (K * n_c) per class index c: every class carries the same total weight."""
    classes, counts = np.unique(y, return_counts=True)
    n, k = len(y), len(classes)
    return {int(c): float(n / (k * m)) for c, m in zip(classes, counts, strict=True)}


def resample(
    encoded_X: np.ndarray,
    y: np.ndarray,
    *,
    strategy: str,
    categorical_indices: list[int],
    seed: int,
) -> tuple[np.ndarray, np.ndarray, dict[int, float] | None]:
    """Return (X, y, class_weight) for training under `strategy`.

    - "none": the rows as they are, no weights.
    - "class_weight": the rows as they are, balanced class weights (`balanced_class_weight`).
    - "smote": every class oversampled to the majority count. SMOTE when all columns are
      numeric; SMOTENC (categorical_features=categorical_indices) when some columns hold
      category codes; SMOTEN when all do (SMOTENC refuses data without a numeric column).
      k_neighbors = min(5, smallest class count - 1). When the smallest class has fewer than 2
      rows there is no neighbour to interpolate towards, so the rows are returned unchanged
      (no resampling, no weights) rather than failing the trial.
    """
    y = np.asarray(y)
    if strategy == "none":
        return encoded_X, y, None
    if strategy == "class_weight":
        return encoded_X, y, balanced_class_weight(y)
    if strategy != "smote":
        raise ValueError(f"Unknown imbalance strategy {strategy!r}; choose from {STRATEGIES}.")

    smallest = int(np.unique(y, return_counts=True)[1].min())
    if smallest < 2:
        return encoded_X, y, None
    k = min(MAX_NEIGHBOURS, smallest - 1)
    categorical = sorted(set(categorical_indices))
    if not categorical:
        sampler = SMOTE(k_neighbors=k, random_state=seed)
    elif len(categorical) == encoded_X.shape[1]:
        sampler = SMOTEN(k_neighbors=k, random_state=seed)
    else:
        sampler = SMOTENC(categorical_features=categorical, k_neighbors=k, random_state=seed)
    X_res, y_res = sampler.fit_resample(encoded_X, y)
    return np.asarray(X_res, dtype=np.float64), np.asarray(y_res), None
