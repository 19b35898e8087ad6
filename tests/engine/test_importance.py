"""Permutation importance: a known answer, and what a search stores."""

import numpy as np
from scipy.special import expit

from engine.importance import permutation_importances


def _data(n: int = 2000, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = (rng.uniform(size=n) < expit(2.0 * X[:, 0] + 0.5 * X[:, 1])).astype(np.int64)
    return X, y


def _truth(X: np.ndarray) -> np.ndarray:
    p = expit(2.0 * X[:, 0] + 0.5 * X[:, 1])
    return np.column_stack([1 - p, p])


def test_the_feature_the_model_leans_on_ranks_first_and_an_unused_one_scores_zero():
    X, y = _data()
    importance = permutation_importances(_truth, X, y, ["strong", "weak", "unused"], seed=0)
    assert importance["strong"]["mean"] > importance["weak"]["mean"] > 0.01
    # a feature the predictions never read cannot change them
    assert importance["unused"] == {"mean": 0.0, "std": 0.0}
    # and every shuffle of the strong feature hurt: its spread is well below its mean
    assert 0 < importance["strong"]["std"] < importance["strong"]["mean"] / 3


def test_big_validation_sets_are_subsampled_reproducibly():
    X, y = _data(12_000, 1)
    a = permutation_importances(_truth, X, y, ["a", "b", "c"], seed=3, max_rows=1000, repeats=2)
    b = permutation_importances(_truth, X, y, ["a", "b", "c"], seed=3, max_rows=1000, repeats=2)
    assert a == b


def test_a_search_stores_one_importance_per_input_feature():
    from engine.search import SearchConfig, run_search
    from registry.synthetic import SyntheticParams, generate

    # x0..x3 are informative, x4..x7 noise; segment and channel follow the label
    frame = generate(SyntheticParams(rows=1500, features=8, seed=2, class_sep=1.5))
    result = run_search(
        frame, SearchConfig(target="label", n_trials=1, families=["logreg"], seed=0), columns=[]
    )
    importance = result.feature_importance
    assert set(importance) == {f["name"] for f in result.signature["features"]}
    informative = np.mean([importance[f"x{j}"]["mean"] for j in range(4)])
    noise = np.mean([importance[f"x{j}"]["mean"] for j in range(4, 8)])
    assert informative > 5 * max(noise, 1e-4)
