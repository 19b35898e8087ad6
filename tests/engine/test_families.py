"""The three model families behind `fit_model`."""

import numpy as np
import optuna
import pytest
import torch

from engine import Cancelled
from engine.families import (
    FAMILIES,
    fit_model,
    log_loss_of,
    set_thread_budget,
)
from engine.families.mlp_torch import MLPEstimator

MLP_PARAMS = {
    "depth": 2,
    "width": 16,
    "dropout": 0.1,
    "lr": 1e-2,
    "weight_decay": 1e-5,
    "batch_size": 64,
}
PARAMS = {
    "mlp": MLP_PARAMS,
    "hgb": {
        "learning_rate": 0.1,
        "max_leaf_nodes": 15,
        "min_samples_leaf": 5,
        "l2_regularization": 1e-3,
        "max_iter": 30,
    },
    "logreg": {"C": 1.0},
}


def _data(n: int, n_classes: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    X = rng.normal(size=(n, 4)).astype(np.float32)
    X[:, 0] += y * 3.0
    return X, y


def _fit(family, params, X, y, Xv, yv, **kwargs):
    options = {
        "class_weight": None,
        "seed": 0,
        "report": None,
        "should_stop": lambda: False,
        "max_epochs": 8,
    }
    return fit_model(family, params, X, y, Xv, yv, **(options | kwargs))


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("n_classes", [2, 3])
def test_each_family_gives_probabilities_that_sum_to_one(family, n_classes):
    # given tiny training and validation sets
    X, y = _data(150, n_classes)
    Xv, yv = _data(60, n_classes, seed=1)

    # when a model of the family is fitted
    model = _fit(family, PARAMS[family], X, y, Xv, yv)
    proba = model.predict_proba(Xv)

    # then it gives one probability per class, summing to 1, better than chance
    assert proba.shape == (60, n_classes)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert log_loss_of(yv, proba) < np.log(n_classes)
    assert model.family == family
    assert model.curve and all(np.isfinite(model.curve))


def test_mlp_survives_a_final_batch_of_one_row():
    # given 129 training rows and batches of 64: the last batch of each epoch has one row
    X, y = _data(129)
    Xv, yv = _data(40, seed=1)
    assert len(X) % MLP_PARAMS["batch_size"] == 1

    # when the MLP trains for a few epochs
    model = _fit("mlp", MLP_PARAMS, X, y, Xv, yv, max_epochs=3)

    # then it trained every epoch without crashing
    assert len(model.curve) == 3


def test_mlp_restores_its_best_epoch():
    # given data on which a too-high learning rate overfits quickly
    X, y = _data(200)
    Xv, yv = _data(80, seed=1)
    params = MLP_PARAMS | {"lr": 5e-2, "width": 128, "dropout": 0.0}

    # when it trains with early stopping
    model = _fit("mlp", params, X, y, Xv, yv, max_epochs=40)

    # then training went past its best epoch, and the returned weights are the best epoch's
    assert model.curve[-1] > min(model.curve)
    assert log_loss_of(yv, model.predict_proba(Xv)) == pytest.approx(min(model.curve), rel=1e-5)


def test_mlp_same_seed_same_model():
    # given the same data and seed twice
    X, y = _data(150)
    Xv, yv = _data(50, seed=1)

    # when fitted twice
    a = _fit("mlp", MLP_PARAMS, X, y, Xv, yv)
    b = _fit("mlp", MLP_PARAMS, X, y, Xv, yv)

    # then the curves and the predictions match
    assert a.curve == b.curve
    assert np.array_equal(a.predict_proba(Xv), b.predict_proba(Xv))


def test_mlp_should_stop_raises_cancelled():
    # given a stop flag that turns on during the third epoch check
    X, y = _data(100)
    Xv, yv = _data(40, seed=1)
    calls = []

    def should_stop() -> bool:
        calls.append(1)
        return len(calls) > 3

    # when the MLP trains, then it stops with Cancelled after a couple of epochs
    with pytest.raises(Cancelled):
        _fit("mlp", MLP_PARAMS, X, y, Xv, yv, should_stop=should_stop, max_epochs=50)
    assert len(calls) == 4


@pytest.mark.parametrize("family", ["hgb", "logreg"])
def test_other_families_check_should_stop_before_fitting(family):
    X, y = _data(60)

    # when asked to stop from the start, then Cancelled is raised before any fitting
    with pytest.raises(Cancelled):
        _fit(family, PARAMS[family], X, y, X, y, should_stop=lambda: True)


def test_mlp_reports_each_epoch_and_a_median_pruner_prunes_it():
    # given a study whose one finished trial reached a validation loss of 0.001 at every epoch
    study = optuna.create_study(
        pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=2)
    )
    good = study.ask()
    for epoch in range(1, 30):
        good.report(0.001, epoch)
    study.tell(good, 0.001)
    trial = study.ask()
    reported = []

    def report(epoch: int, val_loss: float) -> None:
        reported.append(epoch)
        trial.report(val_loss, epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()

    # when an MLP trains under that trial
    X, y = _data(100)
    Xv, yv = _data(40, seed=1)
    with pytest.raises(optuna.TrialPruned):
        _fit("mlp", MLP_PARAMS, X, y, Xv, yv, report=report, max_epochs=30)

    # then it reported epochs 1 and 2 and was pruned at the first epoch after the warm-up
    assert reported == [1, 2]


def test_class_weight_moves_predictions_towards_the_rare_class():
    # given data with 10 % positives
    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.1).astype(int)
    X = (rng.normal(size=(400, 3)) + y[:, None] * 0.8).astype(np.float32)

    # when logistic regression fits with and without balanced class weights
    plain = _fit("logreg", {"C": 1.0}, X, y, X, y)
    weighted = _fit("logreg", {"C": 1.0}, X, y, X, y, class_weight={0: 0.55, 1: 5.0})

    # then the weighted one gives the rare class more probability on average
    assert weighted.predict_proba(X)[:, 1].mean() > plain.predict_proba(X)[:, 1].mean() + 0.1


def test_mlp_weights_rebuild_the_same_network():
    # given a fitted MLP
    X, y = _data(120)
    model = _fit("mlp", MLP_PARAMS, X, y, X, y, max_epochs=3)

    # when rebuilt from its architecture and weights
    rebuilt = MLPEstimator.from_weights(
        architecture=model.architecture, weights=model.weights(), params=model.params
    )

    # then it predicts identically
    assert model.architecture == {
        "in_features": 4,
        "hidden": [16, 16],
        "dropout": 0.1,
        "n_classes": 2,
    }
    assert np.array_equal(rebuilt.predict_proba(X), model.predict_proba(X))


def test_hgb_curve_has_one_point_per_boosting_iteration():
    X, y = _data(120)

    model = _fit("hgb", PARAMS["hgb"], X, y, X, y)

    assert len(model.curve) == PARAMS["hgb"]["max_iter"]


def test_unknown_family_is_refused():
    X, y = _data(30)
    with pytest.raises(ValueError, match="forest"):
        _fit("forest", {}, X, y, X, y)


def test_thread_budget_reaches_torch_and_can_be_reset(monkeypatch):
    # given a budget of two threads
    from engine.families import base

    set_thread_budget(2)
    try:
        # when an MLP trains
        X, y = _data(64)
        _fit("mlp", MLP_PARAMS, X, y, X, y, max_epochs=1)

        # then PyTorch uses two threads
        assert torch.get_num_threads() == 2
    finally:
        set_thread_budget(1)
    # and without an explicit budget the environment variable decides
    monkeypatch.setattr(base, "_thread_budget", None)
    monkeypatch.setenv(base.THREADS_ENV, "3")
    assert base.thread_budget() == 3
