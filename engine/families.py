"""Three model families behind one interface: an Optuna search space and a fit function each.

The MLP's PyTorch code lives in `engine.mlp`, imported only where an MLP is fitted or loaded.

Class indices: `y` arrays hold integers 0..K-1 and every class must appear in the training
rows (the stratified split guarantees it). Probabilities come back as (n, K) float64 arrays
whose rows sum to 1.
"""

from __future__ import annotations

import os
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from threadpoolctl import ThreadpoolController

from engine.errors import Cancelled
from engine.vocabulary import FAMILY_NAMES

if TYPE_CHECKING:
    import optuna

FAMILIES = FAMILY_NAMES
DEFAULT_MAX_EPOCHS = 60
PATIENCE = 5
PREDICT_CHUNK = 8192
EPS = 1e-15

THREADS_ENV = "MODELYARD_TRAINING_THREADS"

_thread_budget: int | None = None
_controller: ThreadpoolController | None = None


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def thread_budget() -> int:
    """Threads one fit may use: `set_thread_budget`, else $MODELYARD_TRAINING_THREADS, else
    the cores this process may run on (os.sched_getaffinity)."""
    if _thread_budget is not None:
        return _thread_budget
    env = os.environ.get(THREADS_ENV, "").strip()
    if env:
        return max(1, int(env))
    return max(1, _available_cores())


def set_thread_budget(threads: int | None) -> None:
    """Set (or with None, reset to the default) the threads a fit may use.

    Worth lowering when several training processes share the cores: OpenMP (scikit-learn's
    HGB, PyTorch) with more threads than free cores spin-waits and can run ten times slower
    than with one thread. A worker pool of N processes on C cores should give each C // N.
    """
    global _thread_budget
    _thread_budget = None if threads is None else max(1, int(threads))


@contextmanager
def limited_threads() -> Iterator[None]:
    """OpenMP and BLAS pools (scikit-learn, PyTorch) capped at `thread_budget()` inside."""
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()  # inspects the loaded libraries once
    with _controller.limit(limits=thread_budget()):
        yield


def log_loss_of(y: np.ndarray, proba: np.ndarray) -> float:
    """Mean negative log-likelihood of the true classes (probabilities clipped away from 0)."""
    picked = proba[np.arange(len(y)), y]
    return float(-np.mean(np.log(np.clip(picked, EPS, 1.0))))


# -- search spaces -------------------------------------------------------------------------


def suggest_params(trial: optuna.Trial, family: str, n_features: int) -> dict:
    """Sample a family's hyper-parameters. Trial parameter names carry the family as a prefix
    ("mlp_lr") because each name must keep one distribution across the whole study; the
    returned dict has the bare names. `n_features` is accepted so a space may depend on the
    input width; the current ranges do not."""
    del n_features
    if family == "mlp":
        return {
            "depth": trial.suggest_int("mlp_depth", 1, 4),
            "width": trial.suggest_int("mlp_width", 16, 512, log=True),
            "dropout": trial.suggest_float("mlp_dropout", 0.0, 0.5),
            "lr": trial.suggest_float("mlp_lr", 1e-4, 1e-2, log=True),
            "weight_decay": trial.suggest_float("mlp_weight_decay", 1e-6, 1e-2, log=True),
            "batch_size": trial.suggest_categorical("mlp_batch_size", [64, 128, 256, 512]),
        }
    if family == "hgb":
        return {
            "learning_rate": trial.suggest_float("hgb_learning_rate", 0.01, 0.3, log=True),
            "max_leaf_nodes": trial.suggest_int("hgb_max_leaf_nodes", 15, 255, log=True),
            "min_samples_leaf": trial.suggest_int("hgb_min_samples_leaf", 5, 200, log=True),
            "l2_regularization": trial.suggest_float("hgb_l2_regularization", 1e-8, 10.0, log=True),
            "max_iter": trial.suggest_int("hgb_max_iter", 100, 1000, log=True),
        }
    if family == "logreg":
        return {"C": trial.suggest_float("logreg_C", 1e-3, 100.0, log=True)}
    raise ValueError(f"Unknown model family {family!r}; choose from {', '.join(FAMILIES)}.")


# -- fitted estimators ---------------------------------------------------------------------


class FittedEstimator(ABC):
    """A trained model of one family. `curve` is the validation log loss per epoch (MLP), per
    boosting iteration (HGB) or a single point (logistic regression)."""

    family: str
    params: dict
    curve: list[float]

    @abstractmethod
    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(n, n_classes) probabilities for an already transformed matrix."""


class SklearnEstimator(FittedEstimator):
    def __init__(self, *, family: str, estimator, params: dict, curve: list[float], n_classes: int):
        self.family = family
        self.estimator = estimator
        self.params = params
        self.curve = curve
        self.n_classes = n_classes

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        with limited_threads():
            raw = self.estimator.predict_proba(np.asarray(X, dtype=np.float32))
        # Place the estimator's columns by its classes_, so the output is always (n, K).
        proba = np.zeros((raw.shape[0], self.n_classes))
        proba[:, np.asarray(self.estimator.classes_, dtype=int)] = raw
        return proba / proba.sum(axis=1, keepdims=True)


# -- fitting -------------------------------------------------------------------------------


def _n_classes(y_train: np.ndarray, y_val: np.ndarray) -> int:
    k = int(max(y_train.max(), y_val.max())) + 1
    missing = sorted(set(range(k)) - set(np.unique(y_train).tolist()))
    if missing:
        raise ValueError(f"Class index(es) {missing} have no training rows.")
    return k


def _sample_weight(y: np.ndarray, class_weight: dict | None) -> np.ndarray | None:
    if not class_weight:
        return None
    return np.array([class_weight[int(c)] for c in y], dtype=np.float64)


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
    y_train = np.asarray(y_train, dtype=np.int64)
    y_val = np.asarray(y_val, dtype=np.int64)
    n_classes = _n_classes(y_train, y_val)
    if should_stop():
        raise Cancelled("Training was cancelled.")
    with limited_threads():
        return _fit_family(
            family,
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


def _fit_family(
    family: str,
    params: dict,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    *,
    n_classes: int,
    class_weight: dict | None,
    seed: int,
    report: Callable[[int, float], None] | None,
    should_stop: Callable[[], bool],
    max_epochs: int,
) -> FittedEstimator:
    if family == "mlp":
        # PyTorch is imported by the MLP's own module only: a process that never fits or
        # loads an MLP (a web worker serving gradient boosting) never imports it.
        from engine.mlp import fit_mlp

        return fit_mlp(
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
    if family == "hgb":
        model = HistGradientBoostingClassifier(
            learning_rate=params["learning_rate"],
            max_leaf_nodes=params["max_leaf_nodes"],
            min_samples_leaf=params["min_samples_leaf"],
            l2_regularization=params["l2_regularization"],
            max_iter=params["max_iter"],
            # Early stopping on the validation rows, as the MLP does (never the test rows):
            # without it a high learning rate runs all max_iter rounds and overfits, which
            # ruins log loss and calibration even when the ranking (ROC AUC) looks fine.
            early_stopping=True,
            scoring="loss",
            n_iter_no_change=20,
            random_state=seed,
        )
        model.fit(
            X_train,
            y_train,
            sample_weight=_sample_weight(y_train, class_weight),
            X_val=X_val,
            y_val=y_val,
        )
        # One validation log loss per boosting iteration (staged predictions are incremental).
        curve = [
            log_loss_of(y_val, _full(p, model, n_classes))
            for p in model.staged_predict_proba(X_val)
        ]
        return SklearnEstimator(
            family=family, estimator=model, params=dict(params), curve=curve, n_classes=n_classes
        )
    if family == "logreg":
        model = LogisticRegression(C=params["C"], max_iter=2000, random_state=seed)
        with warnings.catch_warnings():
            # Reaching max_iter still gives a usable model; the validation score judges it.
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X_train, y_train, sample_weight=_sample_weight(y_train, class_weight))
        estimator = SklearnEstimator(
            family=family, estimator=model, params=dict(params), curve=[], n_classes=n_classes
        )
        estimator.curve = [log_loss_of(y_val, estimator.predict_proba(X_val))]
        return estimator
    raise ValueError(f"Unknown model family {family!r}; choose from {', '.join(FAMILIES)}.")


def _full(raw: np.ndarray, model, n_classes: int) -> np.ndarray:
    proba = np.zeros((raw.shape[0], n_classes))
    proba[:, np.asarray(model.classes_, dtype=int)] = raw
    return proba
