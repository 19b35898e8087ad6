"""Post-hoc calibration: each method against a reference implementation on the same numbers,
the cross-fitted choice, and what it does to a class-weighted model's test ECE."""

import numpy as np
import pytest
import statsmodels.api as sm
from scipy.special import expit, logit, softmax
from sklearn.isotonic import IsotonicRegression

from engine.calibration import (
    Calibrator,
    fit_calibrator,
    fit_isotonic,
    fit_platt,
    fit_temperature,
    platt_targets,
)
from engine.metrics import evaluate


def _overconfident(n: int, seed: int):
    """Binary labels drawn from true probabilities p, reported as p pushed towards 0 and 1."""
    rng = np.random.default_rng(seed)
    p_true = rng.uniform(0.02, 0.98, size=n)
    y = (rng.uniform(size=n) < p_true).astype(np.int64)
    reported = expit(3.0 * logit(p_true) + 0.7)  # overconfident and shifted
    return y, np.column_stack([1 - reported, reported]), p_true


def test_platt_is_the_maximum_likelihood_fit_statsmodels_finds():
    y, proba, _ = _overconfident(3000, 1)
    ours = fit_platt(y, proba[:, 1])
    z = logit(proba[:, 1])
    # statsmodels' binomial GLM on the same smoothed targets (fractions are allowed there)
    targets = platt_targets(y)
    reference = sm.GLM(targets, sm.add_constant(z), family=sm.families.Binomial()).fit().params
    assert ours["a"] == pytest.approx(reference[1], rel=1e-6)
    assert ours["b"] == pytest.approx(reference[0], rel=1e-6, abs=1e-8)
    # and it undoes the distortion it was given: a ≈ 1/3, b ≈ -0.7/3
    assert ours["a"] == pytest.approx(1 / 3, abs=0.05)


def test_isotonic_applies_scikit_learns_fit():
    y, proba, _ = _overconfident(2000, 2)
    params = fit_isotonic(y, proba[:, 1])
    calibrated = Calibrator("isotonic", params).apply(proba)[:, 1]
    reference = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(proba[:, 1], y)
    assert np.allclose(calibrated, np.clip(reference.predict(proba[:, 1]), 1e-6, 1 - 1e-6))


def test_temperature_minimises_the_negative_log_likelihood():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(2000, 4)) * 2
    y = np.array([rng.choice(4, p=p) for p in softmax(logits, axis=1)])
    sharpened = softmax(logits * 2.5, axis=1)  # true temperature 2.5
    t = fit_temperature(y, sharpened)["temperature"]

    def nll(temp):
        p = softmax(np.log(sharpened) / temp, axis=1)
        return -np.mean(np.log(p[np.arange(len(y)), y]))

    grid = np.linspace(1.0, 5.0, 401)
    assert nll(t) <= min(nll(g) for g in grid) + 1e-6
    assert t == pytest.approx(2.5, rel=0.15)


def test_the_choice_improves_held_out_calibration_of_a_miscalibrated_model():
    # given a validation set and a test set from the same overconfident model
    y_val, p_val, _ = _overconfident(3000, 4)
    y_test, p_test, _ = _overconfident(3000, 5)

    # when a calibrator is chosen on the validation rows
    calibrator = fit_calibrator(y_val, p_val, seed=0)

    # then it is not "none", every candidate was scored, and the test ECE and log loss drop
    assert calibrator.method in ("platt", "isotonic")
    assert set(calibrator.scores) == {"none", "platt", "isotonic"}
    before = evaluate(y_test, p_test, class_labels=["a", "b"], threshold=None)
    after = evaluate(y_test, calibrator.apply(p_test), class_labels=["a", "b"], threshold=None)
    assert after["ece"] < before["ece"] / 2
    assert after["log_loss"] < before["log_loss"]


def test_calibrated_probabilities_are_left_nearly_alone():
    rng = np.random.default_rng(6)
    p = rng.uniform(0.05, 0.95, size=4000)
    y = (rng.uniform(size=4000) < p).astype(np.int64)
    proba = np.column_stack([1 - p, p])
    calibrator = fit_calibrator(y, proba, seed=0)
    # whichever wins, it barely moves well-calibrated probabilities
    assert np.abs(calibrator.apply(proba)[:, 1] - p).mean() < 0.03


def test_platt_stays_finite_on_separable_rows():
    # given five rows a threshold separates perfectly (the MLE would be infinite)
    y = np.array([0, 0, 1, 1, 1])
    params = fit_platt(y, np.array([0.1, 0.2, 0.6, 0.7, 0.9]))
    # then Platt's targets keep both parameters finite
    assert np.isfinite(params["a"]) and np.isfinite(params["b"])
    assert platt_targets(y).tolist() == pytest.approx([1 / 4, 1 / 4, 4 / 5, 4 / 5, 4 / 5])


def test_a_round_trip_and_bad_methods():
    calibrator = Calibrator("platt", {"a": 0.5, "b": -0.1}, {"none": 0.6, "platt": 0.5})
    assert Calibrator.from_dict(calibrator.to_dict()) == calibrator
    with pytest.raises(ValueError, match="Unknown calibration method 'magic'"):
        Calibrator.from_dict({"method": "magic"})
    # and tiny validation sets are not calibrated at all
    assert fit_calibrator(np.array([0, 1, 0]), np.full((3, 2), 0.5)).method == "none"
