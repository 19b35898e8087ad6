"""SHAP explanations per family: every row adds up to the model's own output, one-hot columns
are summed into their feature, and each method matches its reference implementation."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy.special import expit, softmax

from engine.explain import (
    DeepLiftExplainer,
    explain,
    global_importance,
    group_matrix,
    model_explainer,
    predicted_classes,
)
from engine.search import SearchConfig, run_search
from registry.synthetic import SyntheticParams, generate
from tests.inference.models import trained

FAMILIES = ["logreg", "hgb", "mlp"]


@functools.cache
def three_classes(family: str):
    frame = generate(SyntheticParams(rows=900, n_classes=3, features=6, seed=5))
    config = SearchConfig(
        target="label", families=[family], imbalance=["none"], n_trials=1, max_epochs=3, seed=0
    )
    return run_search(frame, config, columns=[])


def _explained(result, rows: int = 60):
    model = result.model
    X = model.preprocessor.transform(result.reference_sample.head(rows))
    explainer = model_explainer(model, result.reference_sample)
    classes = predicted_classes(model, X)
    return model, X, explainer, explain(explainer, X, model.preprocessor.groups, classes)


@pytest.mark.parametrize("family", FAMILIES)
def test_binary_contributions_add_up_to_the_models_log_odds(family):
    # given a model of each family on Adult, and 60 rows explained for their predicted class
    model, X, _explainer, e = _explained(trained(family))

    # then base value + contributions is the output, and the output is the estimator's own
    # log-odds of that class: its (uncalibrated) probability through the logistic function
    assert e.base_values + e.contributions.sum(axis=1) == pytest.approx(e.outputs, abs=1e-9)
    proba = model.estimator.predict_proba(X)
    rows = np.arange(len(X))
    assert expit(e.outputs) == pytest.approx(proba[rows, e.classes], abs=1e-5)
    # and a person sees the input features, not the one-hot columns
    assert e.feature_names == model.preprocessor.feature_names
    assert "workclass" in e.feature_names and e.contributions.shape == (60, 14)


@pytest.mark.parametrize("family", FAMILIES)
def test_multiclass_contributions_add_up_to_the_class_logit(family):
    model, X, explainer, e = _explained(three_classes(family))
    assert e.base_values + e.contributions.sum(axis=1) == pytest.approx(e.outputs, abs=1e-9)
    # the logits explained are the model's: their softmax is its probabilities
    assert set(e.classes.tolist()) <= {0, 1, 2}
    proba = model.estimator.predict_proba(X)
    rows = np.arange(len(X))
    logits = explainer.raw(X)
    assert logits.shape == (len(X), 3)
    assert softmax(logits, axis=1)[rows, e.classes] == pytest.approx(
        proba[rows, e.classes], abs=1e-5
    )


def test_one_hot_columns_are_summed_into_their_feature():
    # given a model with categorical features
    model, X, explainer, e = _explained(trained("hgb"))
    base, values = explainer.shap(X)
    sign = np.where(e.classes == 1, 1.0, -1.0)

    # then each feature's contribution is the sum over its expanded columns
    for j, (name, start, width) in enumerate(model.preprocessor.groups):
        direct = values[:, start : start + width, 0].sum(axis=1) * sign
        assert e.contributions[:, j] == pytest.approx(direct, abs=1e-12), name
    widths = {name: width for name, _, width in model.preprocessor.groups}
    assert widths["workclass"] > 1 and widths["age"] == 1
    matrix = group_matrix(model.preprocessor.groups, X.shape[1])
    assert matrix.sum(axis=0).tolist() == [widths[n] for n in e.feature_names]
    assert matrix.sum(axis=1).tolist() == [1.0] * X.shape[1]


def test_the_linear_method_is_the_closed_form():
    # phi_j = w_j (x_j - E[x_j]) with the explainer's own background mean (Lundberg & Lee
    # 2017, linear models under feature independence)
    model, X, explainer, _e = _explained(trained("logreg"))
    base, values = explainer.shap(X)
    mean = np.asarray(explainer._shap.mean)
    expected = explainer.coef[0] * (X - mean)
    assert values[:, :, 0] == pytest.approx(expected, abs=1e-9)
    assert base[0] == pytest.approx(explainer.coef[0] @ mean + explainer.intercept[0])


def test_the_tree_method_matches_shap_on_the_scikit_learn_model():
    import shap

    model, X, explainer, _e = _explained(trained("hgb"), rows=20)
    reference = shap.TreeExplainer(model.estimator.estimator)
    _base, values = explainer.shap(X)
    assert values[:, :, 0] == pytest.approx(reference.shap_values(X.astype(np.float32)), abs=1e-9)


def test_the_mlp_method_matches_shaps_deep_explainer():
    # given the MLP's own PyTorch network and the same background rows
    import shap
    import torch

    result = trained("mlp")
    model = result.model
    X = model.preprocessor.transform(result.reference_sample.head(10))
    explainer = model_explainer(model, result.reference_sample)
    network = model.estimator.network.eval()

    class LogOdds(torch.nn.Module):
        """The network's logit difference z1 - z0: the binary log-odds explained."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            z = self.inner(x)
            return (z[:, 1] - z[:, 0]).unsqueeze(1)

    background = torch.tensor(explainer.background, dtype=torch.float32)
    reference = shap.DeepExplainer(LogOdds(network), background)
    expected = np.asarray(
        reference.shap_values(torch.tensor(X, dtype=torch.float32), check_additivity=False)
    ).reshape(len(X), -1)

    # then DeepLIFT's Rescale rule in numpy gives SHAP's DeepExplainer values (float32 there)
    _base, values = explainer.shap(X)
    assert values[:, :, 0] == pytest.approx(expected, abs=2e-4)


def test_deeplift_is_exact_on_a_small_network_by_hand():
    # a 2-2-2 ReLU network, one background row at the origin: phi = multipliers * x
    w1 = np.array([[1.0, -1.0], [2.0, 1.0]])
    b1 = np.array([0.0, 0.5])
    w2 = np.array([[1.0, 0.0], [0.0, 3.0]])
    b2 = np.zeros(2)
    explainer = DeepLiftExplainer([(w1, b1), (w2, b2)], np.zeros((1, 2)))
    x = np.array([[1.0, 1.0]])
    base, values = explainer.shap(x)
    # z = x w1 + b1 = [3, 0.5]; at the origin z_r = [0, 0.5]: unit 1 moved by 3 (ratio 1),
    # unit 2 not at all (the gradient, 1, stands in). The log-odds z2[1] - z2[0] = 3 h2 - h1
    # falls by 3. Multipliers: of h, w2 [-1, 1] = [-1, 3]; of x, w1 [-1, 3] = [-4, 1]
    assert base[0] == pytest.approx(1.5)
    assert explainer.raw(x)[0, 0] == pytest.approx(-1.5)
    assert values[0, :, 0] == pytest.approx([-4.0, 1.0])
    assert values[0, :, 0].sum() == pytest.approx(explainer.raw(x)[0, 0] - base[0])


def test_global_importance_is_the_mean_absolute_contribution():
    result = trained("hgb")
    importance = global_importance(result.model, result.reference_sample)
    assert importance["method"] == "tree-path-dependent"
    assert importance["rows"] == min(500, len(result.reference_sample))
    assert set(importance["values"]) == set(result.model.preprocessor.feature_names)
    assert all(v >= 0 for v in importance["values"].values())
    # and finalize stored it with the test metrics
    assert result.test_metrics["shap_importance"]["values"] == pytest.approx(importance["values"])
