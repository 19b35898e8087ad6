"""Post-hoc probability calibration, fitted on the validation rows, applied with numpy.

Class weights and SMOTE change what a model's probabilities mean: trained on rebalanced rows,
it over-predicts the minority class (expected calibration error about 0.10 where a calibrated
model has 0.01). Drift monitoring estimates accuracy from served probabilities, which only
works when they are calibrated, so every version gets a calibrator:

- binary, Platt scaling (Platt 1999): p' = sigmoid(a * logit(p) + b), (a, b) the maximum
  likelihood logistic regression on logit(p) of Platt's smoothed targets,
  t = (N+ + 1) / (N+ + 2) for positives and 1 / (N- + 2) for negatives (they keep a and b
  finite when the rows are separable, which a small validation fold can be);
- binary, isotonic regression (Zadrozny & Elkan 2002): the monotone step function of p that
  minimises squared error (pool-adjacent-violators, scikit-learn's IsotonicRegression),
  applied by linear interpolation between its thresholds, clipped to [1e-6, 1 - 1e-6] so
  log loss stays finite;
- multiclass, temperature scaling (Guo et al. 2017): p' = softmax(log p / T), one T > 0
  minimising the negative log-likelihood;
- "none": the probabilities as the model gives them.

Which one: each candidate is fitted on four fifths of the validation rows and scored (log
loss) on the fifth left out, over five stratified folds (cross-fitting: scoring a calibrator
on the rows it was fitted on would always favour isotonic, which can memorise them); the
lowest mean wins, "none" included, and is refitted on all validation rows. Test-set metrics
and the decision threshold are then computed on calibrated probabilities, and the ECE before
calibration is kept beside the one after.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit, logit, softmax

EPS = 1e-6
FOLDS = 5
BINARY_METHODS = ("none", "platt", "isotonic")
MULTICLASS_METHODS = ("none", "temperature")
METHODS = ("none", "platt", "isotonic", "temperature")


@dataclass(frozen=True)
class Calibrator:
    method: str = "none"
    params: dict = field(default_factory=dict)
    # Cross-fitted validation log loss of every candidate, for the version page.
    scores: dict = field(default_factory=dict)
    _steps: tuple | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"Unknown calibration method {self.method!r}.")
        # The isotonic steps as arrays once: converting the JSON lists on every call cost
        # more than the rest of a serving request's calibration.
        steps = (
            (
                np.asarray(self.params["x"], dtype=np.float64),
                np.asarray(self.params["y"], dtype=np.float64),
            )
            if self.method == "isotonic"
            else None
        )
        object.__setattr__(self, "_steps", steps)

    def apply(self, proba: np.ndarray) -> np.ndarray:
        """Calibrated (n, K) probabilities; rows sum to 1."""
        if self.method == "none":
            return proba
        if self.method == "temperature":
            log_p = np.log(np.clip(proba, 1e-15, 1.0))
            return softmax(log_p / self.params["temperature"], axis=1)
        p1 = np.asarray(proba[:, 1], dtype=np.float64)
        if self.method == "platt":
            p1 = np.clip(p1, 1e-15, 1 - 1e-15)
            z = self.params["a"] * np.log(p1 / (1.0 - p1)) + self.params["b"]
            q1 = 1.0 / (1.0 + np.exp(-np.clip(z, -700.0, 700.0)))  # expit, numpy only
        else:
            xs, ys = self._steps
            q1 = np.interp(p1, xs, ys)
        q1 = np.clip(q1, EPS, 1.0 - EPS)
        return np.column_stack([1.0 - q1, q1])

    def to_dict(self) -> dict:
        return {"method": self.method, "params": self.params, "scores": self.scores}

    @classmethod
    def from_dict(cls, data: dict) -> Calibrator:
        method = data.get("method", "none")
        return cls(
            method=method, params=dict(data.get("params") or {}), scores=data.get("scores") or {}
        )


def _log_loss(y: np.ndarray, proba: np.ndarray) -> float:
    picked = proba[np.arange(len(y)), y]
    return float(-np.mean(np.log(np.clip(picked, 1e-15, 1.0))))


def platt_targets(y: np.ndarray) -> np.ndarray:
    """Platt's (1999) targets: (N+ + 1) / (N+ + 2) for positives, 1 / (N- + 2) for negatives."""
    y = np.asarray(y)
    positives = int((y == 1).sum())
    negatives = y.size - positives
    return np.where(y == 1, (positives + 1.0) / (positives + 2.0), 1.0 / (negatives + 2.0))


def fit_platt(y: np.ndarray, p1: np.ndarray) -> dict:
    """Maximum likelihood (a, b) of t ~ Bernoulli(sigmoid(a logit(p1) + b)), t Platt's
    smoothed targets: Newton's method on the (concave) log-likelihood, each step halved until
    the likelihood improves."""
    z = logit(np.clip(p1, 1e-15, 1 - 1e-15))
    X = np.column_stack([z, np.ones_like(z)])
    y = platt_targets(y)

    def log_likelihood(beta: np.ndarray) -> float:
        # A step that overshoots may overflow; it scores nan and is halved.
        with np.errstate(over="ignore", invalid="ignore"):
            eta = X @ beta
            return float(np.sum(y * eta - np.logaddexp(0.0, eta)))

    beta = np.array([1.0, 0.0])
    current = log_likelihood(beta)
    for _ in range(100):
        mu = expit(X @ beta)
        gradient = X.T @ (y - mu)
        hessian = X.T @ (X * np.maximum(mu * (1 - mu), 1e-12)[:, None]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        scale, improved = 1.0, False
        while scale > 1e-8 and not improved:
            candidate = beta + scale * step
            value = log_likelihood(candidate)
            improved = bool(np.isfinite(value) and value >= current)
            scale /= 2
        if not improved:
            break
        scale *= 2  # the scale the accepted step used
        beta, improvement, current = candidate, value - current, value
        if np.abs(scale * step).max() < 1e-10 or improvement < 1e-12:
            break
    return {"a": float(beta[0]), "b": float(beta[1])}


def fit_isotonic(y: np.ndarray, p1: np.ndarray) -> dict:
    from sklearn.isotonic import IsotonicRegression

    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p1, y)
    return {"x": model.X_thresholds_.tolist(), "y": model.y_thresholds_.tolist()}


def fit_temperature(y: np.ndarray, proba: np.ndarray) -> dict:
    log_p = np.log(np.clip(proba, 1e-15, 1.0))

    def nll(log_t: float) -> float:
        return _log_loss(y, softmax(log_p / np.exp(log_t), axis=1))

    result = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return {"temperature": float(np.exp(result.x))}


def _fit(method: str, y: np.ndarray, proba: np.ndarray) -> Calibrator:
    if method == "none":
        return Calibrator()
    if method == "platt":
        return Calibrator("platt", fit_platt(y, proba[:, 1]))
    if method == "isotonic":
        return Calibrator("isotonic", fit_isotonic(y, proba[:, 1]))
    return Calibrator("temperature", fit_temperature(y, proba))


def _folds(y: np.ndarray, seed: int) -> np.ndarray:
    """A fold number per row, each class spread evenly over the folds."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=np.int64)
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        fold[rng.permutation(rows)] = np.arange(rows.size) % FOLDS
    return fold


def fit_calibrator(y_val: np.ndarray, p_val: np.ndarray, *, seed: int = 0) -> Calibrator:
    """The candidate with the lowest cross-fitted validation log loss, refitted on every
    validation row (see the module docstring)."""
    y_val = np.asarray(y_val, dtype=np.int64)
    methods = BINARY_METHODS if p_val.shape[1] == 2 else MULTICLASS_METHODS
    if len(y_val) < 2 * FOLDS or np.bincount(y_val).min() < FOLDS:
        return Calibrator(scores={"none": _log_loss(y_val, p_val)})
    fold = _folds(y_val, seed)
    scores: dict[str, float] = {}
    for method in methods:
        held_out = np.empty(len(y_val))
        for k in range(FOLDS):
            fit_rows, score_rows = fold != k, fold == k
            calibrator = _fit(method, y_val[fit_rows], p_val[fit_rows])
            calibrated = calibrator.apply(p_val[score_rows])
            held_out[score_rows] = np.log(
                np.clip(calibrated[np.arange(score_rows.sum()), y_val[score_rows]], 1e-15, 1.0)
            )
        scores[method] = float(-held_out.mean())
    best = min(methods, key=lambda m: (scores[m], m != "none"))
    chosen = _fit(best, y_val, p_val)
    return Calibrator(
        chosen.method, chosen.params, scores={k: round(v, 6) for k, v in scores.items()}
    )
