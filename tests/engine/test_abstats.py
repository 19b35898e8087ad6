"""A/B statistics against references on the same numbers (scipy, statsmodels, a direct
computation of the mixture likelihood ratio, seeded Monte Carlo), and their error rates by
seeded simulation: the mSPRT stays at or below alpha however often it is looked at."""

import math

import numpy as np
import pytest
from scipy import integrate, stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportions_ztest,
    samplesize_proportions_2indep_onetail,
)

from engine import abstats

COUNTS = [(1000, 800, 1000, 920), (250, 210, 300, 240), (5000, 4250, 4800, 4130), (60, 50, 45, 40)]


@pytest.mark.parametrize("counts", COUNTS)
def test_z_test_and_its_interval_are_statsmodels(counts):
    n_a, k_a, n_b, k_b = counts
    result = abstats.z_test(n_a, k_a, n_b, k_b)
    z, p = proportions_ztest([k_b, k_a], [n_b, n_a])
    low, high = confint_proportions_2indep(k_b, n_b, k_a, n_a, method="wald", compare="diff")
    assert result.z == pytest.approx(z, rel=1e-10)
    assert result.p_value == pytest.approx(p, rel=1e-10)
    assert (result.low, result.high) == pytest.approx((low, high), rel=1e-10)


@pytest.mark.parametrize(("b", "c"), [(40, 80), (12, 9), (0, 7), (150, 151), (0, 0)])
def test_mcnemar_exact_is_statsmodels(b, c):
    reference = mcnemar([[500, b], [c, 300]], exact=True).pvalue
    assert abstats.mcnemar_exact(b, c) == pytest.approx(reference, rel=1e-10)


@pytest.mark.parametrize(
    ("observed", "planned"),
    [([200, 320], [0.5, 0.5]), ([7010, 2990], [0.7, 0.3]), ([5, 6], [1, 1])],
)
def test_srm_is_scipys_chisquare(observed, planned):
    result = abstats.srm(observed, planned)
    shares = np.asarray(planned) / sum(planned)
    chi2, p = stats.chisquare(observed, np.asarray(shares) * sum(observed))
    assert result.chi2 == pytest.approx(chi2, rel=1e-10)
    assert result.p_value == pytest.approx(p, rel=1e-10)
    assert result.blocked == (p < 0.001)
    assert abstats.srm([0, 0], [0.5, 0.5]).p_value == 1.0


@pytest.mark.parametrize(
    ("baseline", "mde", "share"), [(0.85, 0.02, 0.5), (0.7, 0.05, 0.5), (0.9, -0.03, 0.3)]
)
def test_sample_size_is_statsmodels_within_two_percent(baseline, mde, share):
    result = abstats.sample_size(baseline, mde, alpha=0.05, power=0.8, share=share)
    ratio = (1 - share) / share  # statsmodels: nobs2 = ratio * nobs1, nobs1 the challenger's
    reference = samplesize_proportions_2indep_onetail(
        mde, baseline, 0.8, ratio=ratio, alpha=0.05, alternative="two-sided"
    )
    assert result.per_arm == pytest.approx(reference, rel=0.02)
    assert result.champion_per_arm == pytest.approx(reference * ratio, rel=0.02)
    assert result.sequential_per_arm > 0


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"baseline": 1.2, "mde": 0.02}, "baseline"),
        ({"baseline": 0.99, "mde": 0.02}, "baseline + mde"),
        ({"baseline": 0.8, "mde": 0.0}, "mde"),
        ({"baseline": 0.8, "mde": 0.02, "alpha": 0}, "alpha"),
        ({"baseline": 0.8, "mde": 0.02, "power": 1.0}, "power"),
        ({"baseline": 0.8, "mde": 0.02, "share": 1.0}, "share"),
    ],
)
def test_sample_size_names_a_bad_input(kwargs, named):
    with pytest.raises(ValueError, match=f"^{named.replace('+', '[+]')} must"):
        abstats.sample_size(**kwargs)


@pytest.mark.parametrize(
    ("theta", "variance", "tau2"),
    [(0.03, 0.0002, 0.0004), (-0.01, 0.0001, 0.0009), (0.0, 0.001, 0.0004), (0.12, 0.0003, 0.04)],
)
def test_msprt_likelihood_ratio_is_the_mixture_integral(theta, variance, tau2):
    # Λ = ∫ N(θ̂; θ, V) N(θ; 0, τ²) dθ / N(θ̂; 0, V), integrated numerically
    sd, prior_sd = math.sqrt(variance), math.sqrt(tau2)
    numerator, _ = integrate.quad(
        lambda t: stats.norm.pdf(theta, t, sd) * stats.norm.pdf(t, 0, prior_sd),
        -10 * prior_sd,
        10 * prior_sd,
        points=[0.0, theta],
        limit=200,
    )
    direct = numerator / stats.norm.pdf(theta, 0, sd)
    result = abstats.msprt(theta, variance, tau2=tau2, alpha=0.05)
    assert result.log_likelihood_ratio == pytest.approx(math.log(direct), rel=1e-6, abs=1e-9)
    assert result.p_value == pytest.approx(min(1.0, 1 / direct), rel=1e-6)


def test_msprt_keeps_its_running_minimum_and_intersection():
    first = abstats.msprt(0.05, 0.0004, tau2=0.0004, alpha=0.05)
    second = abstats.msprt(0.0, 0.0002, tau2=0.0004, alpha=0.05, previous=first)
    assert second.p_value == first.p_value  # a look with less evidence takes nothing back
    assert second.low >= first.low and second.high <= first.high
    # a look with no information changes nothing, and nothing is NaN
    empty = abstats.two_sample(100, 100, 100, 100, tau2=0.0004, alpha=0.05, previous=second)
    assert (empty.p_value, empty.low, empty.high) == (second.p_value, second.low, second.high)
    early = abstats.two_sample(10, 5, 10, 10, tau2=0.0004, alpha=0.05)
    assert early.p_value == 1.0 and not early.significant


def test_beta_binomial_matches_seeded_monte_carlo():
    rng = np.random.default_rng(3)
    for n_a, k_a, n_b, k_b in [(400, 330, 420, 360), (5000, 4250, 5000, 4290), (20, 15, 25, 21)]:
        result = abstats.beta_binomial(n_a, k_a, n_b, k_b)
        a = rng.beta(1 + k_a, 1 + n_a - k_a, 1_000_000)
        b = rng.beta(1 + k_b, 1 + n_b - k_b, 1_000_000)
        prob = (b > a).mean()
        assert result.prob_b_better == pytest.approx(prob, abs=4 * math.sqrt(0.25 / 1e6))
        loss_a, loss_b = np.maximum(b - a, 0), np.maximum(a - b, 0)
        assert result.expected_loss_a == pytest.approx(loss_a.mean(), abs=4 * loss_a.std() / 1e3)
        assert result.expected_loss_b == pytest.approx(loss_b.mean(), abs=4 * loss_b.std() / 1e3)


def _peeked_aa(rng, *, tests: int, looks: int, batch: int, p: float, alpha: float) -> np.ndarray:
    """Per simulated A/A split test, whether the mSPRT was ever significant over its looks
    (a look after every `batch` labelled rows per arm), vectorised over tests."""
    a = rng.binomial(batch, p, size=(tests, looks)).cumsum(axis=1)
    b = rng.binomial(batch, p, size=(tests, looks)).cumsum(axis=1)
    n = batch * np.arange(1, looks + 1)
    pa, pb = a / n, b / n
    v = pa * (1 - pa) / n + pb * (1 - pb) / n
    tau2 = abstats.default_tau2(0.02)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_lr = 0.5 * np.log(v / (v + tau2)) + (pb - pa) ** 2 * tau2 / (2 * v * (v + tau2))
    return (np.nan_to_num(log_lr, nan=-np.inf) >= math.log(1 / alpha)).any(axis=1)


def test_the_vectorised_simulation_is_the_function():
    # the simulation below computes exactly what two_sample does, look by look
    rng = np.random.default_rng(0)
    a, b = rng.binomial(100, 0.85, 5).cumsum(), rng.binomial(100, 0.85, 5).cumsum()
    previous = None
    for i in range(5):
        n = 100 * (i + 1)
        previous = abstats.two_sample(
            n, a[i], n, b[i], tau2=abstats.default_tau2(0.02), alpha=0.05, previous=previous
        )
        pa, pb = a[i] / n, b[i] / n
        v = pa * (1 - pa) / n + pb * (1 - pb) / n
        tau2 = abstats.default_tau2(0.02)
        log_lr = 0.5 * np.log(v / (v + tau2)) + (pb - pa) ** 2 * tau2 / (2 * v * (v + tau2))
        assert previous.variance == pytest.approx(v)
        assert previous.log_likelihood_ratio == pytest.approx(log_lr)


def test_aa_split_tests_peeked_after_every_batch_stay_within_alpha():
    rng = np.random.default_rng(2026)
    alpha, tests = 0.05, 2000
    fired = _peeked_aa(rng, tests=tests, looks=20, batch=100, p=0.85, alpha=alpha)
    rate = fired.mean()
    assert rate <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / tests)
    # while a z-test read at the same looks fires far more often
    a = rng.binomial(100, 0.85, size=(tests, 20)).cumsum(axis=1)
    b = rng.binomial(100, 0.85, size=(tests, 20)).cumsum(axis=1)
    n = 100 * np.arange(1, 21)
    pooled = (a + b) / (2 * n)
    z = (b - a) / n / np.sqrt(pooled * (1 - pooled) * 2 / n)
    naive = (np.abs(z) > stats.norm.ppf(1 - alpha / 2)).any(axis=1).mean()
    assert naive > 2 * alpha


def test_aa_shadow_tests_peeked_after_every_batch_stay_within_alpha():
    # both versions scored the same rows: right with p = 0.85 each, disagreeing on 10 %
    rng = np.random.default_rng(7)
    alpha, tests, looks, batch = 0.05, 2000, 20, 100
    disagree = rng.random((tests, looks, batch)) < 0.10
    challenger_side = rng.random((tests, looks, batch)) < 0.5
    c = (disagree & challenger_side).sum(axis=2).cumsum(axis=1)
    b = (disagree & ~challenger_side).sum(axis=2).cumsum(axis=1)
    fired = np.zeros(tests, dtype=bool)
    tau2 = abstats.default_tau2(0.02)
    for i in range(looks):
        n = batch * (i + 1)
        theta = (c[:, i] - b[:, i]) / n
        v = ((b[:, i] + c[:, i]) / n - theta**2) / n
        with np.errstate(divide="ignore", invalid="ignore"):
            log_lr = 0.5 * np.log(v / (v + tau2)) + theta**2 * tau2 / (2 * v * (v + tau2))
        fired |= np.nan_to_num(log_lr, nan=-np.inf) >= math.log(1 / alpha)
    assert fired.mean() <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / tests)
    # the same numbers through the function
    one = abstats.paired(batch * looks, int(b[0, -1]), int(c[0, -1]), tau2=tau2, alpha=alpha)
    assert 0 < one.p_value <= 1


def test_a_real_effect_is_found_and_an_srm_is_caught():
    rng = np.random.default_rng(11)
    # +5 points around 0.85: the sequential test is significant within 20 looks almost always
    tests, looks, batch = 500, 20, 100
    a = rng.binomial(batch, 0.85, size=(tests, looks)).cumsum(axis=1)
    b = rng.binomial(batch, 0.90, size=(tests, looks)).cumsum(axis=1)
    found = 0
    for t in range(tests):
        previous = None
        for i in range(looks):
            n = batch * (i + 1)
            previous = abstats.two_sample(
                n,
                a[t, i],
                n,
                b[t, i],
                tau2=abstats.default_tau2(0.02),
                alpha=0.05,
                previous=previous,
            )
            if previous.significant:
                found += 1
                break
    assert found / tests > 0.9
    # a 52/48 split of 20,000 units against a planned 50/50 is caught
    assert abstats.srm([10_400, 9_600], [0.5, 0.5]).blocked
    # and the planned split is flagged about 0.1 % of the time
    units = rng.binomial(20_000, 0.5, size=20_000)
    flagged = np.mean([abstats.srm([k, 20_000 - k], [0.5, 0.5]).blocked for k in units[:5000]])
    assert flagged <= 0.001 + 3 * math.sqrt(0.001 / 5000)
