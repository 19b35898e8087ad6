"""Performance drift: is the model still as right as its test set said, and, before the labels
arrive, how right is it probably?

- Accuracy drop, once labels exist: a one-sided two-proportion z-test of the live accuracy of
  the labelled predictions (k_live / n_live) against the version's test-set accuracy
  (k_test / n_test), H1: p_live < p_test, with the pooled standard error
  z = (p_live - p_test) / sqrt(p (1 - p) (1 / n_live + 1 / n_test)), p = (k_live + k_test) /
  (n_live + n_test), p-value = Phi(z) (Fleiss, Levin & Paik 2003, ch. 2; statsmodels'
  `proportions_ztest(alternative="smaller")` computes the same).
- Log-loss rise: a one-sided one-sample t-test of the labelled rows' losses, -ln p(true
  class), against the test-set log loss, H1: mean loss > test log loss (scipy's
  `ttest_1samp(alternative="greater")`). The test-set value is treated as known: it is a mean
  over thousands of rows, and only its mean is stored.
- Estimated accuracy without labels, confidence-based (NannyML's CBPE; Kull, Silva Filho &
  Flach 2017 on why it needs calibration): with calibrated probabilities, the chance a row's
  prediction is right is the probability the model gave the class it predicted, so
  E[accuracy] = mean_i p_i(predicted class), with standard error sqrt(sum p_i (1 - p_i)) / n
  (the rows' correctness as independent Bernoulli draws).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

MIN_LABELLED = 30


@dataclass
class PerformanceReport:
    n_window: int
    estimated_accuracy: float | None
    estimated_accuracy_se: float | None
    n_labelled: int
    live_accuracy: float | None = None
    test_accuracy: float | None = None
    n_test: int | None = None
    accuracy_z: float | None = None
    accuracy_p_value: float | None = None
    live_log_loss: float | None = None
    test_log_loss: float | None = None
    log_loss_p_value: float | None = None
    alpha: float = 0.01
    drop: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def accuracy_drop_test(k_live: int, n_live: int, k_test: int, n_test: int) -> tuple[float, float]:
    """(z, one-sided p) for H1: live accuracy below test accuracy (see the module docstring)."""
    p_live, p_test = k_live / n_live, k_test / n_test
    pooled = (k_live + k_test) / (n_live + n_test)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n_live + 1 / n_test))
    if se == 0:
        return 0.0, 1.0 if p_live >= p_test else 0.0
    z = (p_live - p_test) / se
    return float(z), float(stats.norm.cdf(z))


def log_loss_rise_test(losses: np.ndarray, test_log_loss: float) -> float:
    """One-sided p-value for H1: the mean of `losses` exceeds `test_log_loss`."""
    losses = np.asarray(losses, dtype=np.float64)
    if losses.size < 2 or np.all(losses == losses[0]):
        return 1.0 if losses.size == 0 or losses.mean() <= test_log_loss else 0.0
    return float(stats.ttest_1samp(losses, test_log_loss, alternative="greater").pvalue)


def estimated_accuracy(predicted_probability: np.ndarray) -> tuple[float, float]:
    """(CBPE accuracy estimate, its standard error) from each row's probability of the
    class it was predicted as."""
    p = np.asarray(predicted_probability, dtype=np.float64)
    return float(p.mean()), float(np.sqrt(np.sum(p * (1 - p))) / p.size)


def performance_check(
    *,
    predicted_probability: np.ndarray,
    correct: np.ndarray,
    true_probability: np.ndarray,
    test_accuracy: float | None,
    n_test: int | None,
    test_log_loss: float | None,
    alpha: float = 0.01,
    min_labelled: int = MIN_LABELLED,
) -> PerformanceReport:
    """The window's performance against the test set.

    `predicted_probability`: every window row's probability of its predicted class;
    `correct` and `true_probability`: for the labelled rows only, whether the prediction was
    right and the probability given to the true class. A drop is flagged when either one-sided
    test is below `alpha` with at least `min_labelled` labelled rows."""
    n_window = int(np.asarray(predicted_probability).size)
    estimate, se = estimated_accuracy(predicted_probability) if n_window else (None, None)
    correct = np.asarray(correct, dtype=bool)
    report = PerformanceReport(
        n_window=n_window,
        estimated_accuracy=estimate,
        estimated_accuracy_se=se,
        n_labelled=int(correct.size),
        test_accuracy=test_accuracy,
        n_test=n_test,
        test_log_loss=test_log_loss,
        alpha=alpha,
    )
    if correct.size == 0:
        return report
    report.live_accuracy = float(correct.mean())
    losses = -np.log(np.clip(np.asarray(true_probability, dtype=np.float64), 1e-15, 1.0))
    report.live_log_loss = float(losses.mean())
    if correct.size < min_labelled:
        return report
    if test_accuracy is not None and n_test:
        k_test = int(round(test_accuracy * n_test))
        report.accuracy_z, report.accuracy_p_value = accuracy_drop_test(
            int(correct.sum()), int(correct.size), k_test, int(n_test)
        )
    if test_log_loss is not None:
        report.log_loss_p_value = log_loss_rise_test(losses, test_log_loss)
    report.drop = any(
        p is not None and p < alpha for p in (report.accuracy_p_value, report.log_loss_p_value)
    )
    return report
