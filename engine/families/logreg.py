"""Logistic regression (scikit-learn): one C to search, a matrix product to serve."""

from __future__ import annotations

import warnings

import numpy as np

from engine.families.base import (
    SklearnEstimator,
    binary_or_softmax,
    log_loss_of,
    placed,
    sample_weight,
    single_threaded_blas,
)
from engine.families.skops_files import SkopsAdapter


class LinearServing:
    """Coefficients and intercepts: one matrix product, then the logistic or softmax link."""

    def __init__(self, estimator: SklearnEstimator):
        single_threaded_blas()
        sk = estimator.estimator
        self.coef_t = np.ascontiguousarray(sk.coef_.T, dtype=np.float64)
        self.intercept = np.asarray(sk.intercept_, dtype=np.float64)
        self.classes = np.asarray(sk.classes_, dtype=np.int64)
        self.n_classes = estimator.n_classes

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        raw = X.astype(np.float64) @ self.coef_t + self.intercept
        return placed(binary_or_softmax(raw), self.classes, self.n_classes)


class LogisticRegressionAdapter(SkopsAdapter):
    name = "logreg"
    label = "Logistic regression"

    def estimator_class(self) -> type:
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression

    def suggest_params(self, trial, n_features: int) -> dict:
        return {"C": trial.suggest_float("logreg_C", 1e-3, 100.0, log=True)}

    def fit(
        self,
        params,
        X_train,
        y_train,
        X_val,
        y_val,
        *,
        n_classes,
        class_weight,
        seed,
        report,
        should_stop,
        max_epochs,
    ) -> SklearnEstimator:
        from sklearn.exceptions import ConvergenceWarning

        model = self.estimator_class()(C=params["C"], max_iter=2000, random_state=seed)
        with warnings.catch_warnings():
            # Reaching max_iter still gives a usable model; the validation score judges it.
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X_train, y_train, sample_weight=sample_weight(y_train, class_weight))
        estimator = SklearnEstimator(
            family=self.name, estimator=model, params=dict(params), curve=[], n_classes=n_classes
        )
        estimator.curve = [log_loss_of(y_val, estimator.predict_proba(X_val))]
        return estimator

    def serving(self, estimator: SklearnEstimator) -> LinearServing:
        return LinearServing(estimator)

    def explainer(self, estimator: SklearnEstimator, background: np.ndarray) -> LinearExplainer:
        return LinearExplainer(estimator, background)


class LinearExplainer:
    """shap.LinearExplainer, interventional: phi_j = w_j (x_j - mean of x_j over the
    background), for each class's logit (engine.explain)."""

    method = "linear-interventional"

    def __init__(self, estimator: SklearnEstimator, background: np.ndarray):
        import shap

        sk = estimator.estimator
        self.coef = np.asarray(sk.coef_, dtype=np.float64)
        self.intercept = np.asarray(sk.intercept_, dtype=np.float64)
        self._shap = shap.LinearExplainer(
            (self.coef, self.intercept), np.asarray(background, dtype=np.float64)
        )

    def raw(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float64) @ self.coef.T + self.intercept

    def shap(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from engine.explain import normalise

        values = self._shap.shap_values(np.asarray(X, dtype=np.float64))
        return normalise(self._shap.expected_value, values)


ADAPTER = LogisticRegressionAdapter()
