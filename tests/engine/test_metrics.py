"""Threshold choice and the JSON-safe evaluation report."""

import json

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

from engine.metrics import choose_threshold, evaluate


def _binary(n: int = 1000, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    p1 = np.clip(0.3 + 0.35 * (y - 0.3) + rng.normal(0, 0.2, n), 0.001, 0.999)
    return y, np.c_[1 - p1, p1]


def test_threshold_maximises_validation_f1():
    # given validation scores
    y, proba = _binary()

    # when the threshold is chosen
    threshold = choose_threshold(y, proba)

    # then no threshold on a grid gives a better F1
    def f1(t):
        pred = proba[:, 1] >= t
        tp = np.sum(pred & (y == 1))
        return 2 * tp / (pred.sum() + (y == 1).sum())

    assert f1(threshold) >= max(f1(t) for t in np.linspace(0.01, 0.99, 99)) - 1e-12
    # and multiclass problems have none (argmax)
    assert choose_threshold(np.array([0, 1, 2]), np.eye(3)) is None


def test_binary_report_is_json_safe_and_about_the_positive_class():
    # given binary test scores and a threshold
    y, proba = _binary(5000)

    # when evaluated
    report = evaluate(y, proba, class_labels=["no", "yes"], threshold=0.4)

    # then precision/recall are those of "yes" at that threshold
    pred = proba[:, 1] >= 0.4
    assert report["recall"] == pytest.approx(np.sum(pred & (y == 1)) / np.sum(y == 1))
    assert report["precision"] == pytest.approx(np.sum(pred & (y == 1)) / np.sum(pred))
    assert report["confusion_matrix"][1][1] == int(np.sum(pred & (y == 1)))
    assert report["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert 0.5 < report["roc_auc"] <= 1.0
    assert report["brier"] == pytest.approx(np.mean((proba[:, 1] - y) ** 2))
    assert 0.0 <= report["ece"] <= 1.0
    # and curves are thinned to at most 200 points
    assert 2 <= len(report["curves"]["roc"]["fpr"]) <= 200
    assert len(report["curves"]["pr"]["precision"]) <= 200
    assert sum(report["curves"]["calibration"]["count"]) == 5000
    json.dumps(report, allow_nan=False)


def test_undefined_scores_become_none():
    # given test rows of a single class
    y = np.zeros(10, dtype=int)
    proba = np.tile([0.8, 0.2], (10, 1))

    # when evaluated, then ROC AUC is None rather than NaN and the report is valid JSON
    report = evaluate(y, proba, class_labels=["a", "b"], threshold=None)
    assert report["roc_auc"] is None
    json.dumps(report, allow_nan=False)


def test_multiclass_report():
    # given three classes
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 600)
    logits = rng.normal(size=(600, 3)) + 2.0 * np.eye(3)[y]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)

    # when evaluated
    report = evaluate(y, proba, class_labels=["x", "y", "z"], threshold=None)

    # then it has macro scores, a per-class breakdown and micro-averaged curves
    assert report["f1"] == pytest.approx(np.mean([report["per_class"][c]["f1"] for c in "xyz"]))
    assert report["accuracy"] == pytest.approx(np.mean(proba.argmax(axis=1) == y))
    assert report["roc_auc"] > 0.7
    assert report["curves"]["averaging"] == "micro"
    assert len(report["confusion_matrix"]) == 3
    json.dumps(report, allow_nan=False)
