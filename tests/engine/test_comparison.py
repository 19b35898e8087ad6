"""Champion against challenger on the same rows: scores, paired bootstrap intervals."""

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from engine.comparison import compare_models


def _proba(p1):
    return np.column_stack([1 - p1, p1])


def _rows(n=1500, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    signal = y + rng.normal(0, 1.0, size=n)
    weak = _proba(1 / (1 + np.exp(-0.5 * signal + 0.25)))
    strong = _proba(1 / (1 + np.exp(-2.0 * (y + rng.normal(0, 0.6, size=n)) + 1.0)))
    return y, weak, strong


def test_scores_and_a_clearly_better_challenger():
    y, weak, strong = _rows()
    result = compare_models(y, weak, strong, n_bootstrap=300)
    assert result["roc_auc"]["champion"] == pytest.approx(roc_auc_score(y, weak[:, 1]))
    assert result["roc_auc"]["challenger"] == pytest.approx(roc_auc_score(y, strong[:, 1]))
    # the better model's interval for the difference lies above zero (below for log loss)
    assert result["roc_auc"]["low"] > 0 and result["accuracy"]["low"] > 0
    assert result["log_loss"]["high"] < 0
    assert not result["log_loss"]["higher_is_better"]


def test_the_interval_matches_scipys_paired_percentile_bootstrap():
    y, weak, strong = _rows(800, 1)
    ours = compare_models(y, weak, strong, n_bootstrap=2000, seed=3)["accuracy"]
    right_a = ((weak[:, 1] >= 0.5) == y).astype(float)
    right_b = ((strong[:, 1] >= 0.5) == y).astype(float)
    reference = stats.bootstrap(
        (right_a, right_b),
        lambda a, b, axis=-1: np.mean(b, axis=axis) - np.mean(a, axis=axis),
        paired=True,
        vectorized=True,
        n_resamples=2000,
        method="percentile",
        random_state=7,
    ).confidence_interval
    # different random resamples: the same interval up to Monte Carlo error
    assert ours["low"] == pytest.approx(reference.low, abs=0.01)
    assert ours["high"] == pytest.approx(reference.high, abs=0.01)


def test_the_same_model_is_no_better():
    y, weak, _ = _rows(600, 2)
    result = compare_models(y, weak, weak, n_bootstrap=200)
    for metric in ("roc_auc", "accuracy", "log_loss"):
        assert result[metric]["difference"] == 0.0
        assert result[metric]["low"] == result[metric]["high"] == 0.0
