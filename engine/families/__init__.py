"""Model families behind one interface: an adapter per family (`FamilyAdapter`).

Each family's module holds everything about it: its Optuna search space, how it fits, the
files it writes and how they load (safetensors, or skops with the family's trust list), its
numpy serving kernel and, to come, its explainer. Nothing else in the platform branches on a
family's name: the search calls `suggest_params` and `fit_model`, the artifact writer and
loader call the adapter's `files` and `load`, serving calls `serving_kernel`, and
`engine.vocabulary.FAMILIES` lists `ADAPTERS`.

Adding a family: a new module here with its `ADAPTER`, and one entry in `ADAPTERS` below.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from engine.errors import Cancelled
from engine.families import hgb, logreg, mlp
from engine.families.base import (
    DEFAULT_MAX_EPOCHS,
    PATIENCE,
    PREDICT_CHUNK,
    THREADS_ENV,
    FamilyAdapter,
    FittedEstimator,
    ServingKernel,
    SklearnEstimator,
    limited_threads,
    log_loss_of,
    set_thread_budget,
    thread_budget,
)

if TYPE_CHECKING:
    import optuna

__all__ = [
    "ADAPTERS",
    "DEFAULT_MAX_EPOCHS",
    "FAMILIES",
    "PATIENCE",
    "PREDICT_CHUNK",
    "THREADS_ENV",
    "FamilyAdapter",
    "FittedEstimator",
    "ServingKernel",
    "SklearnEstimator",
    "adapter",
    "fit_model",
    "limited_threads",
    "log_loss_of",
    "serving_kernel",
    "set_thread_budget",
    "suggest_params",
    "thread_budget",
]

# In the order forms and pages list them.
ADAPTERS: dict[str, FamilyAdapter] = {a.name: a for a in (mlp.ADAPTER, hgb.ADAPTER, logreg.ADAPTER)}
FAMILIES: tuple[str, ...] = tuple(ADAPTERS)


def adapter(family: str) -> FamilyAdapter:
    """The adapter of a family name; ValueError naming the choices for an unknown one."""
    try:
        return ADAPTERS[family]
    except (KeyError, TypeError):
        raise ValueError(
            f"Unknown model family {family!r}; choose from {', '.join(FAMILIES)}."
        ) from None


def suggest_params(trial: optuna.Trial, family: str, n_features: int) -> dict:
    """Sample a family's hyper-parameters (bare names; see `FamilyAdapter.suggest_params`).
    `n_features` is passed so a space may depend on the input width; today's do not."""
    return adapter(family).suggest_params(trial, n_features)


def _n_classes(y_train: np.ndarray, y_val: np.ndarray) -> int:
    k = int(max(y_train.max(), y_val.max())) + 1
    missing = sorted(set(range(k)) - set(np.unique(y_train).tolist()))
    if missing:
        raise ValueError(f"Class index(es) {missing} have no training rows.")
    return k


def fit_model(
    family: str,
    params: dict,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    *,
    class_weight: dict | None,
    seed: int,
    report: Callable[[int, float], None] | None,
    should_stop: Callable[[], bool],
    max_epochs: int = DEFAULT_MAX_EPOCHS,
) -> FittedEstimator:
    """Train one model on the training rows; the validation rows serve only to score (and,
    for the MLP, to stop early). `report(epoch, val_loss)` is called after each MLP epoch and
    may raise (optuna.TrialPruned); `should_stop()` is checked before each epoch (MLP) or
    before fitting (the others) and raises `Cancelled`."""
    family_adapter = adapter(family)
    y_train = np.asarray(y_train, dtype=np.int64)
    y_val = np.asarray(y_val, dtype=np.int64)
    n_classes = _n_classes(y_train, y_val)
    if should_stop():
        raise Cancelled("Training was cancelled.")
    with limited_threads():
        return family_adapter.fit(
            params,
            X_train,
            y_train,
            X_val,
            y_val,
            n_classes=n_classes,
            class_weight=class_weight,
            seed=seed,
            report=report,
            should_stop=should_stop,
            max_epochs=max_epochs,
        )


def serving_kernel(estimator: FittedEstimator) -> ServingKernel:
    """The serving form of a loaded estimator (ValueError for an unknown family)."""
    return adapter(estimator.family).serving(estimator)
