"""The model card's statistics: resampled metrics equal scikit-learn's on the same rows, the
percentile bootstrap agrees with scipy's and covers the truth at its nominal rate (seeded
simulation), and slices equal a direct group-by."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import balanced_accuracy_score, f1_score, log_loss, roc_auc_score

from engine.card import bootstrap_intervals, resampled_metrics, slice_metrics
from engine.metrics import predict_indices


def _model_output(rng, n: int, k: int):
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += 1.2
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    proba = np.round(proba, 2) + 1e-9  # ties, as calibrated models give
    return y, proba / proba.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("k", [2, 3])
def test_resampled_metrics_equal_scikit_learn_on_each_resample(k):
    rng = np.random.default_rng(k)
    y, proba = _model_output(rng, 800, k)
    pred = proba.argmax(axis=1)
    rows = rng.integers(0, 800, size=(5, 800))
    counts = np.stack([np.bincount(r, minlength=800) for r in rows]).astype(float)
    got = resampled_metrics(y, proba, pred, counts)
    for i, r in enumerate(rows):
        yy, pp, dd = y[r], proba[r], pred[r]
        assert got["accuracy"][i] == pytest.approx(np.mean(yy == dd), abs=1e-12)
        assert got["balanced_accuracy"][i] == pytest.approx(balanced_accuracy_score(yy, dd))
        average = "binary" if k == 2 else "macro"
        assert got["f1"][i] == pytest.approx(f1_score(yy, dd, average=average))
        auc = roc_auc_score(yy, pp[:, 1]) if k == 2 else roc_auc_score(yy, pp, multi_class="ovr")
        assert got["roc_auc"][i] == pytest.approx(auc, abs=1e-12)
        assert got["log_loss"][i] == pytest.approx(log_loss(yy, pp, labels=list(range(k))))


def test_the_percentile_bootstrap_agrees_with_scipys():
    # same data, same method (percentile, 95 %), different random resamples: the bounds agree
    # within the resampling noise (a few hundredths of the interval's width)
    rng = np.random.default_rng(7)
    y, proba = _model_output(rng, 600, 2)
    ours = bootstrap_intervals(y, proba, None, n_resamples=4000, seed=1)
    correct = (predict_indices(proba, None) == y).astype(float)
    ref = stats.bootstrap(
        (correct,), np.mean, method="percentile", n_resamples=4000, random_state=2
    ).confidence_interval
    width = ref.high - ref.low
    assert ours["accuracy"]["low"] == pytest.approx(ref.low, abs=0.1 * width)
    assert ours["accuracy"]["high"] == pytest.approx(ref.high, abs=0.1 * width)
    assert ours["accuracy"]["value"] == pytest.approx(correct.mean())

    def auc(y_, p_):
        return roc_auc_score(y_, p_)

    ref_auc = stats.bootstrap(
        (y, proba[:, 1]),
        auc,
        paired=True,
        vectorized=False,
        method="percentile",
        n_resamples=1000,
        random_state=3,
    ).confidence_interval
    width = ref_auc.high - ref_auc.low
    assert ours["roc_auc"]["low"] == pytest.approx(ref_auc.low, abs=0.15 * width)
    assert ours["roc_auc"]["high"] == pytest.approx(ref_auc.high, abs=0.15 * width)


def test_the_interval_covers_the_true_accuracy_about_95_percent_of_the_time():
    # seeded simulation: 300 test sets of 400 rows from a model right with probability 0.8
    rng = np.random.default_rng(11)
    covered = 0
    sims = 300
    for s in range(sims):
        y = rng.integers(0, 2, 400)
        right = rng.random(400) < 0.8
        pred = np.where(right, y, 1 - y)
        proba = np.column_stack([1.0 - pred * 0.9 - 0.05, pred * 0.9 + 0.05])
        ci = bootstrap_intervals(y, proba, None, n_resamples=400, seed=s)["accuracy"]
        covered += ci["low"] <= 0.8 <= ci["high"]
    coverage = covered / sims
    # nominal 0.95; the percentile bootstrap runs slightly under at this size; the Monte
    # Carlo standard error of the estimate is about 0.013
    assert 0.91 <= coverage <= 0.98, coverage


def test_slices_equal_a_direct_group_by():
    rng = np.random.default_rng(3)
    y, proba = _model_output(rng, 500, 2)
    values = pd.Series(rng.choice(["a", "b", "c", None], size=500, p=[0.5, 0.3, 0.15, 0.05]))
    result = slice_metrics(values, y, proba, None, ["no", "yes"], min_rows=30)
    pred = predict_indices(proba, None)
    frame = pd.DataFrame(
        {"v": values.fillna("<missing>"), "right": pred == y, "pos": pred == 1, "y": y}
    )
    grouped = frame.groupby("v")
    by_value = {s["value"]: s for s in result["slices"]}
    assert set(by_value) == {"a", "b", "c", "<missing>"}
    for key, group in grouped:
        assert by_value[key]["rows"] == len(group)
        assert by_value[key]["accuracy"] == pytest.approx(group["right"].mean())
        assert by_value[key]["positive_rate"] == pytest.approx(group["pos"].mean())
        yes = group[group["y"] == 1]
        assert by_value[key]["recall"]["yes"] == pytest.approx((yes["right"]).mean())
        assert by_value[key]["comparable"] == (len(group) >= 30)
    comparable = [s["accuracy"] for s in result["slices"] if s["comparable"]]
    assert result["gap"] == pytest.approx(max(comparable) - min(comparable))
