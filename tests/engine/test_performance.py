"""Performance drift statistics against statsmodels / scipy on the same numbers, and their
error rates by seeded simulation."""

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportions_ztest

from engine.performance import (
    accuracy_drop_test,
    estimated_accuracy,
    log_loss_rise_test,
    performance_check,
)


@pytest.mark.parametrize(
    "counts", [(410, 500, 850, 1000), (45, 60, 900, 1000), (999, 1000, 990, 1000)]
)
def test_accuracy_drop_is_statsmodels_one_sided_z_test(counts):
    k_live, n_live, k_test, n_test = counts
    z, p = accuracy_drop_test(k_live, n_live, k_test, n_test)
    ref_z, ref_p = proportions_ztest([k_live, k_test], [n_live, n_test], alternative="smaller")
    assert z == pytest.approx(ref_z, rel=1e-12)
    assert p == pytest.approx(ref_p, rel=1e-12)


def test_log_loss_rise_is_scipys_one_sided_t_test():
    losses = np.random.default_rng(1).exponential(0.45, size=200)
    assert log_loss_rise_test(losses, 0.4) == pytest.approx(
        stats.ttest_1samp(losses, 0.4, alternative="greater").pvalue
    )
    assert log_loss_rise_test(np.array([]), 0.4) == 1.0


def test_cbpe_estimate_tracks_realised_accuracy_of_a_calibrated_model():
    # given calibrated probabilities: each row is right with the probability it was given
    covered = 0
    for seed in range(200):
        r = np.random.default_rng(seed)
        p = r.uniform(0.5, 1.0, size=2000)
        realised = (r.uniform(size=2000) < p).mean()
        estimate, se = estimated_accuracy(p)
        covered += abs(realised - estimate) <= 1.96 * se
    # then the 95 % interval covers the realised accuracy about 95 % of the time
    assert 0.91 <= covered / 200 <= 0.99


def _window(rng, n, accuracy, labelled):
    p = rng.uniform(0.6, 1.0, size=n)
    correct = rng.uniform(size=labelled) < accuracy
    true_p = np.where(correct, p[:labelled], 1 - p[:labelled])
    return p, correct, true_p


def test_error_rates_by_seeded_simulation():
    # a model whose test accuracy was 0.85 on 2,000 rows; windows of 300 labelled rows
    runs = 300
    false_alarms = detections = 0
    for seed in range(runs):
        rng = np.random.default_rng(seed)
        for accuracy, bucket in ((0.85, "null"), (0.75, "drop")):
            p, correct, true_p = _window(rng, 1000, accuracy, 300)
            report = performance_check(
                predicted_probability=p,
                correct=correct,
                true_probability=true_p,
                test_accuracy=0.85,
                n_test=2000,
                test_log_loss=None,
                alpha=0.01,
            )
            if bucket == "null":
                false_alarms += report.drop
            else:
                detections += report.drop
    assert false_alarms / runs <= 0.02  # nominal 1 %
    assert detections / runs >= 0.90


def test_too_few_labels_report_accuracy_but_decide_nothing():
    rng = np.random.default_rng(3)
    p, correct, true_p = _window(rng, 100, 0.2, 10)
    report = performance_check(
        predicted_probability=p,
        correct=correct,
        true_probability=true_p,
        test_accuracy=0.9,
        n_test=1000,
        test_log_loss=0.3,
    )
    assert report.n_labelled == 10 and report.live_accuracy is not None
    assert report.accuracy_p_value is None and not report.drop
    empty = performance_check(
        predicted_probability=p,
        correct=np.array([], bool),
        true_probability=np.array([]),
        test_accuracy=0.9,
        n_test=1000,
        test_log_loss=0.3,
    )
    assert empty.live_accuracy is None and empty.estimated_accuracy == pytest.approx(p.mean())
