"""The Optuna search end to end: real Adult rows, failures, cancellation, multiclass, workers."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.csvfiles import profile_frame, read_frame
from engine import Cancelled, NoSuccessfulTrials, search
from engine.search import (
    SearchConfig,
    create_study,
    finalize,
    prepare_data,
    run_search,
    run_trials,
)
from registry.synthetic import SyntheticParams, generate

ADULT = Path(__file__).resolve().parents[2] / "registry" / "data" / "adult.csv.gz"


@pytest.fixture(scope="module")
def adult() -> pd.DataFrame:
    frame = read_frame(ADULT, ",").drop(columns=["split"])
    return frame.sample(n=2000, random_state=1).reset_index(drop=True)


@pytest.fixture(scope="module")
def synthetic() -> pd.DataFrame:
    return generate(SyntheticParams(rows=400, seed=3))


def test_search_on_adult_finds_a_good_model(adult):
    # given 2,000 real Adult rows and their column profiles
    columns = profile_frame(adult)
    config = SearchConfig(target="income", n_trials=3, max_epochs=5, seed=0)
    records = []

    # when a three-trial search runs
    result = run_search(adult, config, columns=columns, on_trial=records.append)

    # then every trial was reported, and the refit best model ranks well on the test rows
    assert [r.number for r in records] == [0, 1, 2]
    assert result.n_complete + result.n_pruned + result.n_failed == 3
    assert result.metric == "roc_auc"
    assert result.test_metrics["roc_auc"] > 0.8
    assert result.model.class_labels == ["<=50K", ">50K"]
    assert 0.0 < result.model.threshold < 1.0
    assert result.best.state == "complete"
    assert result.best.family in ("mlp", "hgb", "logreg")
    assert result.best.imbalance in ("none", "class_weight", "smote")
    # and the refit reproduces the winning trial's validation score (same seed, same rows)
    assert result.validation_score == pytest.approx(result.best.value, abs=1e-6)
    # and the model takes raw rows
    labels = result.model.predict(adult.head(20))
    assert set(labels) <= {"<=50K", ">50K"}
    assert result.model.predict_proba(adult.head(20)).shape == (20, 2)
    # and the reference sample and input example are raw training features, JSON-safe
    features = [f["name"] for f in result.signature["features"]]
    assert list(result.reference_sample.columns) == features
    assert len(result.reference_sample) == len(
        search.prepare_data(adult, config, columns=columns).train_idx
    )
    assert len(result.input_example) == 3
    assert set(result.input_example[0]) == set(features)
    assert "income" not in features
    json.dumps([result.input_example, result.test_metrics, result.signature], allow_nan=False)


def test_a_class_weighted_model_is_calibrated_back(adult):
    # given a search that may only use class weights (which inflate the minority's probability)
    config = SearchConfig(
        target="income", n_trials=1, families=["logreg"], imbalance=["class_weight"], seed=0
    )

    # when it runs
    result = run_search(adult, config, columns=profile_frame(adult))

    # then a calibrator was chosen on the validation rows and the test ECE fell
    metrics = result.test_metrics
    assert metrics["calibration"]["method"] in ("platt", "isotonic")
    assert set(metrics["calibration"]["validation_log_loss"]) == {"none", "platt", "isotonic"}
    assert metrics["ece"] < metrics["ece_uncalibrated"]
    assert metrics["log_loss"] < metrics["log_loss_uncalibrated"]
    # and the model applies it: its probabilities are the calibrated ones
    frame = adult.head(50)
    raw = result.model.estimator.predict_proba(result.model.preprocessor.transform(frame))
    assert np.allclose(result.model.predict_proba(frame), result.model.calibrator.apply(raw))
    assert not np.allclose(result.model.predict_proba(frame), raw)


def test_every_trial_failing_raises_no_successful_trials_with_the_error(monkeypatch, synthetic):
    # given a model fit that always fails
    def broken_fit(*args, **kwargs):
        raise RuntimeError("solver exploded")

    monkeypatch.setattr(search, "fit_model", broken_fit)
    config = SearchConfig(target="label", n_trials=3, families=["logreg"])
    records = []

    # when the search runs, then it tries every trial and reports the error
    with pytest.raises(NoSuccessfulTrials, match=r"3 failed.*RuntimeError: solver exploded"):
        run_search(synthetic, config, columns=[], on_trial=records.append)
    assert [r.state for r in records] == ["failed"] * 3
    assert records[0].error == "RuntimeError: solver exploded"


def test_a_failing_family_does_not_stop_the_search(monkeypatch, synthetic):
    # given a fit that fails for hgb only
    real_fit = search.fit_model

    def fit(family, *args, **kwargs):
        if family == "hgb":
            raise ValueError("hgb is broken today")
        return real_fit(family, *args, **kwargs)

    monkeypatch.setattr(search, "fit_model", fit)
    config = SearchConfig(target="label", n_trials=6, families=["hgb", "logreg"], seed=4)

    # when the search runs
    result = run_search(synthetic, config, columns=[])

    # then the failed trials are counted and the best is a logreg that completed
    assert result.n_failed >= 1
    assert result.n_complete + result.n_failed == 6
    assert result.best.family == "logreg"


def test_should_stop_cancels_the_search_between_trials(synthetic):
    # given a stop flag that turns on once the first trial has finished
    config = SearchConfig(target="label", n_trials=5, families=["logreg"])
    records = []

    def should_stop() -> bool:
        return len(records) >= 1

    # when the search runs, then it raises Cancelled after one trial
    with pytest.raises(Cancelled):
        run_search(synthetic, config, columns=[], on_trial=records.append, should_stop=should_stop)
    assert len(records) == 1


def test_should_stop_cancels_a_running_mlp_trial(synthetic):
    # given a stop flag that turns on during the first MLP trial
    config = SearchConfig(target="label", n_trials=5, families=["mlp"], max_epochs=50)
    prepared = prepare_data(synthetic, config, columns=[])
    study = create_study(config)
    checks = []

    def should_stop() -> bool:
        checks.append(1)
        return len(checks) > 3

    # when trials run, then Cancelled ends the search within that trial
    with pytest.raises(Cancelled):
        run_trials(prepared, config, study=study, n_trials=5, should_stop=should_stop)
    assert len(study.trials) == 1
    assert study.trials[0].user_attrs["error"] == "Cancelled"


def test_multiclass_search():
    # given a three-class synthetic dataset
    frame = generate(SyntheticParams(rows=600, n_classes=3, seed=5))
    config = SearchConfig(target="label", n_trials=3, families=["logreg", "mlp"], max_epochs=5)

    # when searched
    result = run_search(frame, config, columns=[])

    # then it is scored with macro F1, has no threshold and reports per-class metrics
    assert result.metric == "f1_macro"
    assert result.model.threshold is None
    assert result.model.class_labels == ["class_0", "class_1", "class_2"]
    metrics = result.test_metrics
    assert set(metrics["per_class"]) == {"class_0", "class_1", "class_2"}
    assert np.array(metrics["confusion_matrix"]).shape == (3, 3)
    assert metrics["roc_auc"] > 0.6
    assert metrics["curves"]["averaging"] == "micro"
    assert set(result.model.predict(frame.head(30))) <= {"class_0", "class_1", "class_2"}


def test_workers_sharing_a_study_through_storage(tmp_path, synthetic):
    # given an SQLite-backed study shared by two "workers", each with its own prepared data
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    config = SearchConfig(target="label", n_trials=4, families=["logreg", "hgb"], seed=9)
    for _worker in range(3):
        prepared = prepare_data(synthetic, config, columns=[])
        study = create_study(config, storage=storage, study_name="run-1")
        # when each asks for up to 3 trials
        run_trials(prepared, config, study=study, n_trials=3)

    # then the study stops at config.n_trials finished trials in all
    study = create_study(config, storage=storage, study_name="run-1")
    assert len(study.trials) == 4
    # and the workers did not repeat each other's trials
    assert len({tuple(sorted(t.params.items())) for t in study.trials}) == 4
    # and a third process can finalize it
    result = finalize(prepare_data(synthetic, config, columns=[]), config, study=study)
    assert result.n_complete == 4
    assert result.validation_score == pytest.approx(study.best_value, abs=1e-6)


def test_too_few_rows_of_a_class_is_a_clear_error(synthetic):
    # given a frame where one class has two labelled rows
    frame = synthetic.copy()
    frame.loc[frame.index[:2], "label"] = "rare"

    # when prepared, then the error names the class
    with pytest.raises(ValueError, match="'rare'"):
        prepare_data(frame, SearchConfig(target="label"), columns=[])


class _StubEstimator:
    family = "mlp"

    def __init__(self, params: dict, curve: list[float]):
        self.params = params
        self.curve = curve

    def predict_proba(self, X):
        p = 1 / (1 + np.exp(-X[:, 0]))
        return np.c_[1 - p, p]


def test_a_trial_whose_losses_trail_the_median_is_pruned(monkeypatch, synthetic):
    # given fits that report a validation loss of 0.1 per epoch for the first three trials
    # and 5.0 afterwards
    calls = []

    def fake_fit(family, params, *args, report, **kwargs):
        calls.append(family)
        loss = 0.1 if len(calls) <= 3 else 5.0
        curve = []
        for epoch in range(1, 11):
            curve.append(loss)
            if report is not None:  # the final refit reports nothing
                report(epoch, loss)
        return _StubEstimator(params, curve)

    monkeypatch.setattr(search, "fit_model", fake_fit)
    config = SearchConfig(target="label", n_trials=4, families=["mlp"])
    records = []

    # when four trials run
    result = run_search(synthetic, config, columns=[], on_trial=records.append)

    # then the fourth is pruned at the first epoch past the warm-up, with its curve so far
    assert [r.state for r in records] == ["complete"] * 3 + ["pruned"]
    assert records[3].curve == [5.0, 5.0, 5.0]
    assert records[0].curve == [0.1] * 10
    assert (result.n_complete, result.n_pruned, result.n_failed) == (3, 1, 0)
