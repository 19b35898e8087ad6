"""What every model family shares: the adapter interface, the fitted-estimator types, the
thread budget, and the small numpy pieces the serving kernels have in common.

Class indices: `y` arrays hold integers 0..K-1 and every class must appear in the training
rows (the stratified split guarantees it). Probabilities come back as (n, K) float64 arrays
whose rows sum to 1.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol

import numpy as np
from threadpoolctl import ThreadpoolController

from engine.errors import ArtifactIntegrityError

if TYPE_CHECKING:
    import optuna

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


def sample_weight(y: np.ndarray, class_weight: dict | None) -> np.ndarray | None:
    """Per-row weights from {class index: weight}, or None when there are no class weights."""
    if not class_weight:
        return None
    return np.array([class_weight[int(c)] for c in y], dtype=np.float64)


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
    """A scikit-learn classifier whose output columns are placed by its `classes_`."""

    def __init__(self, *, family: str, estimator, params: dict, curve: list[float], n_classes: int):
        self.family = family
        self.estimator = estimator
        self.params = params
        self.curve = curve
        self.n_classes = n_classes

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        with limited_threads():
            raw = self.estimator.predict_proba(np.asarray(X, dtype=np.float32))
        return placed(raw, np.asarray(self.estimator.classes_, dtype=int), self.n_classes)


# -- serving -------------------------------------------------------------------------------


class ServingKernel(Protocol):
    """A family's serving form: an expanded float matrix in, (n, K) probabilities out."""

    def predict_proba(self, X: np.ndarray) -> np.ndarray: ...


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _expit(z: np.ndarray) -> np.ndarray:
    # Split by sign so neither branch overflows.
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def binary_or_softmax(raw: np.ndarray) -> np.ndarray:
    """Probabilities from raw scores: one column is a binary logit, more are softmax logits."""
    if raw.shape[1] == 1:
        p1 = _expit(raw[:, 0])
        return np.column_stack([1.0 - p1, p1])
    return softmax(raw)


def placed(proba: np.ndarray, classes: np.ndarray, n_classes: int) -> np.ndarray:
    """Columns placed by the estimator's classes_ (always (n, K)), rows normalised."""
    if proba.shape[1] == n_classes and np.array_equal(classes, np.arange(n_classes)):
        full = proba
    else:
        full = np.zeros((proba.shape[0], n_classes))
        full[:, classes] = proba
    return full / full.sum(axis=1, keepdims=True)


_blas_limited = False


def single_threaded_blas() -> None:
    """One BLAS thread in a serving process, set once.

    OpenBLAS splits even a 1x108 by 108x512 product across its threads, which then spin:
    measured here, a single-row MLP request cost 8 ms of CPU with the default pool and
    about 3 ms with one thread. Serving processes parallelise by process (gunicorn workers),
    and training sets its own limit around each fit (`limited_threads`).
    """
    global _blas_limited
    if not _blas_limited:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")
        _blas_limited = True


# -- the adapter ---------------------------------------------------------------------------


def required(files: Mapping[str, bytes], name: str, family: str) -> bytes:
    """One of a family's files from a verified artifact, or ArtifactIntegrityError naming it."""
    if name not in files:
        raise ArtifactIntegrityError(f"{name}: missing, and a {family!r} model needs it.")
    return files[name]


class FamilyAdapter(ABC):
    """Everything the platform knows about one model family, in one place.

    A family module defines one subclass and one instance, `ADAPTER`, and is listed in
    `engine.families.ADAPTERS`; the search, the artifact writer and loader, serving and the
    vocabulary (`engine.vocabulary.FAMILIES`) all go through it, so adding a family touches
    its own module and that list. Heavy libraries (PyTorch, numba, scikit-learn's estimators)
    are imported inside the methods that use them: listing a family costs nothing.
    """

    name: str  # stored in manifests and job configs; never change it
    label: str  # what pages and forms show
    file_names: tuple[str, ...]  # the files `files` writes into a version directory

    @abstractmethod
    def suggest_params(self, trial: optuna.Trial, n_features: int) -> dict:
        """Sample hyper-parameters. Trial parameter names carry the family as a prefix
        ("mlp_lr") because each name must keep one distribution across the whole study; the
        returned dict has the bare names."""

    @abstractmethod
    def fit(
        self,
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
        """Train on the training rows (inside `limited_threads`); the validation rows score
        and may stop early. `report(step, val_loss)` may raise (optuna.TrialPruned)."""

    @abstractmethod
    def files(self, estimator: FittedEstimator) -> dict[str, bytes]:
        """The estimator serialised without pickle: {file name: bytes}, names in file_names."""

    @abstractmethod
    def load(
        self, files: Mapping[str, bytes], *, params: dict, class_labels: list[str]
    ) -> FittedEstimator:
        """Rebuild the estimator from checksum-verified bytes; ArtifactIntegrityError naming
        the file when they hold anything unexpected."""

    @abstractmethod
    def serving(self, estimator: FittedEstimator) -> ServingKernel:
        """The estimator as plain arrays for serving, with the same probabilities."""

    @abstractmethod
    def explainer(self, estimator: FittedEstimator, background: np.ndarray):
        """Per-feature contributions on the expanded matrix (an `engine.explain.
        FamilyExplainer`): `background` is expanded rows of the reference sample, for the
        families whose method needs one."""
