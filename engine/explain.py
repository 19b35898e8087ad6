"""Why a model predicted what it did: SHAP values per input feature.

What is explained is the estimator's raw score of one class, before the link function and
before calibration: for a binary model the log-odds of the explained class, for K classes the
class's softmax logit (a logit is defined up to a constant shared by the classes, so its base
value is too). For every row, `base_value + sum(contributions) == output` (SHAP's local
accuracy; Lundberg & Lee 2017, property 1), which the tests check for every family.

Each family's adapter builds its explainer (`FamilyAdapter.explainer`) on the expanded matrix:

- gradient boosting: TreeSHAP, path-dependent (Lundberg et al. 2020, "From local explanations
  to global understanding with explainable AI for trees", Algorithm 2), `shap.TreeExplainer`:
  exact Shapley values of the trees' conditional expectations, no background needed (the
  trees' own cover counts are the background);
- logistic regression: `shap.LinearExplainer`, interventional: phi_j = w_j (x_j - E[x_j]), the
  expectation over the reference sample;
- MLP: DeepLIFT's Rescale rule averaged over a background drawn from the reference sample
  (DeepSHAP: Shrikumar et al. 2017, "Learning important features through propagating
  activation differences"; Lundberg & Lee 2017, section 4.2), in numpy on the serving weights.
  Chosen over the Kernel explainer (thousands of model calls per row, and exact only in the
  limit) and over expected gradients (additive only in expectation): the Rescale rule's
  multipliers satisfy summation-to-delta exactly for Linear and ReLU layers, so every row adds
  up, and a row costs a few matrix products per background row. tests/engine/test_explain.py
  checks it against `shap.DeepExplainer` on the PyTorch network.

A categorical feature is one-hot encoded into several columns; their contributions are summed
back into the feature, so a person sees `workclass`, not nine dummy columns. The sum keeps
local accuracy (it is a sum of terms of the same total); it is the attribution of the group
as the explainer splits it, not the Shapley value of a game whose players are the groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

BACKGROUND_ROWS = 32  # the MLP's references, drawn from the reference sample


class FamilyExplainer(Protocol):
    """A family's explainer on the expanded matrix. `C` is 1 for a binary model (the log-odds
    of class 1) and K for K classes (each class's logit)."""

    method: str

    def raw(self, X: np.ndarray) -> np.ndarray:
        """(n, C) raw scores, the quantity explained."""

    def shap(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(base (C,), values (n, d, C)): base + values.sum(axis=1) == raw(X)."""


@dataclass
class Explanation:
    """Per row: the class explained, its raw score, the base value, and one contribution per
    input feature (in `feature_names` order)."""

    feature_names: list[str]
    classes: np.ndarray  # (n,) index of the explained class
    outputs: np.ndarray  # (n,)
    base_values: np.ndarray  # (n,)
    contributions: np.ndarray  # (n, n_features)


def normalise(base, values) -> tuple[np.ndarray, np.ndarray]:
    """SHAP's outputs as (base (C,), values (n, d, C)), whatever shape the library gave."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 2:
        values = values[:, :, None]
    return np.atleast_1d(np.asarray(base, dtype=np.float64)), values


def group_matrix(groups: list[tuple[str, int, int]], n_columns: int) -> np.ndarray:
    """(n_columns, n_features) 0/1: which expanded columns make up each input feature
    (`groups`: name, first column, column count, in order)."""
    matrix = np.zeros((n_columns, len(groups)))
    for j, (_name, start, width) in enumerate(groups):
        matrix[start : start + width, j] = 1.0
    return matrix


def explain(
    explainer: FamilyExplainer,
    X: np.ndarray,
    groups: list[tuple[str, int, int]],
    classes: np.ndarray,
) -> Explanation:
    """Explain each row of the expanded matrix `X` for its class in `classes` (indices into
    the model's class labels), with the columns summed into their input features."""
    classes = np.asarray(classes, dtype=np.int64)
    base, values = explainer.shap(X)
    raw = explainer.raw(X)
    rows = np.arange(len(X))
    if values.shape[2] == 1:  # binary: the log-odds of class 1, negated for class 0
        sign = np.where(classes == 1, 1.0, -1.0)
        per_column = values[:, :, 0] * sign[:, None]
        base_values = base[0] * sign
        outputs = raw[:, 0] * sign
    else:
        per_column = values[rows, :, classes]
        base_values = base[classes]
        outputs = raw[rows, classes]
    contributions = per_column @ group_matrix(groups, X.shape[1])
    return Explanation(
        feature_names=[name for name, _, _ in groups],
        classes=classes,
        outputs=outputs,
        base_values=base_values,
        contributions=contributions,
    )


def mean_abs_contributions(explanation: Explanation) -> dict[str, float]:
    """Global importance: the mean |contribution| of each input feature over the rows."""
    means = np.abs(explanation.contributions).mean(axis=0)
    return {
        name: round(float(value), 6)
        for name, value in zip(explanation.feature_names, means, strict=True)
    }


# -- the MLP: DeepLIFT's Rescale rule ----------------------------------------------------------


class DeepLiftExplainer:
    """DeepSHAP for a ReLU network given as (weight (in, out), bias) layers, ReLU between
    them: contributions of x against each background row r, averaged over the rows.

    Per pair (x, r) the multipliers run backwards from the output: through a Linear layer
    m_in = W m_out; through a ReLU m_z = m_h * (relu(z_x) - relu(z_r)) / (z_x - z_r) (the
    gradient where z_x == z_r). Then phi = m_in * (x - r) sums exactly to f(x) - f(r).
    """

    method = "deeplift-rescale"

    def __init__(self, layers: list[tuple[np.ndarray, np.ndarray]], background: np.ndarray):
        self.layers = [(np.asarray(w, np.float64), np.asarray(b, np.float64)) for w, b in layers]
        n_out = self.layers[-1][0].shape[1]
        # The explained outputs: the log-odds z1 - z0 of a two-logit binary network, else
        # every logit.
        self.targets = np.array([[-1.0], [1.0]]) if n_out == 2 else np.eye(n_out)
        self.background = np.asarray(background, np.float64)
        self._ref_pre = self._forward(self.background)
        self.base = (self._ref_pre[-1] @ self.targets).mean(axis=0)

    def _forward(self, X: np.ndarray) -> list[np.ndarray]:
        """Each layer's pre-activation, the last being the logits."""
        pre, h = [], X
        last = len(self.layers) - 1
        for i, (w, b) in enumerate(self.layers):
            z = h @ w + b
            pre.append(z)
            h = np.maximum(z, 0.0) if i < last else z
        return pre

    def raw(self, X: np.ndarray) -> np.ndarray:
        return self._forward(np.asarray(X, np.float64))[-1] @ self.targets

    def shap(self, X: np.ndarray, *, chunk: int = 64) -> tuple[np.ndarray, np.ndarray]:
        X = np.asarray(X, np.float64)
        out = np.empty((len(X), X.shape[1], self.targets.shape[1]))
        for start in range(0, len(X), chunk):
            out[start : start + chunk] = self._chunk(X[start : start + chunk])
        return self.base.copy(), out

    def _chunk(self, X: np.ndarray) -> np.ndarray:
        pre_x = self._forward(X)
        # m: (n, m_refs, C, width) multipliers of the current layer's input
        # The output layer is linear: its input's multipliers are W t, one row per target.
        last = (self.layers[-1][0] @ self.targets).T  # (C, width)
        m = np.broadcast_to(last, (len(X), len(self.background), *last.shape))
        for layer in range(len(self.layers) - 2, -1, -1):
            zx = pre_x[layer][:, None, :]  # (n, 1, w)
            zr = self._ref_pre[layer][None, :, :]  # (1, m, w)
            dz = zx - zr
            dh = np.maximum(zx, 0.0) - np.maximum(zr, 0.0)
            flat = np.abs(dz) < 1e-12
            ratio = np.where(flat, (zx > 0).astype(np.float64), dh / np.where(flat, 1.0, dz))
            m_z = m * ratio[:, :, None, :]  # (n, m, C, w)
            m = m_z @ self.layers[layer][0].T  # (n, m, C, in)
        delta = X[:, None, :] - self.background[None, :, :]  # (n, m, d)
        phi = m * delta[:, :, None, :]  # (n, m, C, d)
        return phi.mean(axis=1).transpose(0, 2, 1)  # (n, d, C)


# -- a whole model -------------------------------------------------------------------------------

GLOBAL_ROWS = 500  # reference rows behind the global importance


def model_explainer(model, background: pd.DataFrame) -> FamilyExplainer:
    """The family's explainer for a FittedModel, its background the expanded `background`
    rows (raw feature columns, e.g. the version's reference sample)."""
    from engine.families import adapter

    expanded = model.preprocessor.transform(background) if len(background) else None
    if expanded is None:
        raise ValueError("An explainer needs at least one background row.")
    return adapter(model.family).explainer(model.estimator, expanded)


def predicted_classes(model, X: np.ndarray) -> np.ndarray:
    """The class each expanded row is predicted as (calibrated, with the model's threshold)."""
    from engine.metrics import predict_indices

    return predict_indices(
        model.calibrator.apply(model.estimator.predict_proba(X)), model.threshold
    )


def global_importance(model, reference: pd.DataFrame, *, seed: int = 0) -> dict:
    """Mean |contribution| of each input feature over up to GLOBAL_ROWS reference rows, each
    row explained for the class it is predicted as: {"method", "rows", "values"}."""
    rows = reference
    if len(rows) > GLOBAL_ROWS:
        rows = rows.sample(n=GLOBAL_ROWS, random_state=seed)
    explainer = model_explainer(model, reference)
    X = model.preprocessor.transform(rows)
    explanation = explain(explainer, X, model.preprocessor.groups, predicted_classes(model, X))
    return {
        "method": explainer.method,
        "rows": len(rows),
        "values": mean_abs_contributions(explanation),
    }
