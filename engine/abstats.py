"""Statistics of live A/B tests between two classifier versions, on the correctness of labelled
predictions (accuracy). Arm A is the champion, arm B the challenger; the difference is
accuracy_B − accuracy_A. Plain numpy/scipy; every function names its formula and reference,
and tests/engine/test_abstats.py checks each against scipy/statsmodels or a direct
computation, with error rates by seeded simulation (bench/abtests.py runs them at scale).

- `msprt`: the normal-mixture sequential probability ratio test, always valid however often
  it is looked at; `two_sample` (split tests) and `paired` (shadow tests) apply it.
- `z_test`, `mcnemar_exact`: fixed-horizon references, valid only at a planned sample size.
- `beta_binomial`: P(challenger better) and the expected loss of choosing each arm.
- `srm`: the sample-ratio-mismatch check that blocks every decision when the split is off.
- `sample_size`: the calculator (fixed horizon, and where the sequential test should stop).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import integrate, optimize, special, stats

# A split arm (or a shadow test's pairs) needs this many labelled rows before the sequential
# test reads anything: the plug-in variance of a handful of rows is too unstable.
MIN_ROWS_PER_ARM = 30
# A sample-ratio mismatch this unlikely blocks every decision (the convention of
# Fabijan et al. 2019, "Diagnosing sample ratio mismatch in online controlled experiments").
SRM_ALPHA = 0.001


@dataclass(frozen=True)
class SequentialResult:
    estimate: float  # θ̂, the difference in accuracy (B − A)
    variance: float  # V, the variance of θ̂
    log_likelihood_ratio: float  # log Λ at this look
    p_value: float  # always valid: the running minimum of 1/Λ over looks
    low: float  # always-valid confidence sequence (the running intersection)
    high: float
    significant: bool  # p_value < alpha


@dataclass(frozen=True)
class FixedHorizonResult:
    z: float
    p_value: float
    low: float  # Wald interval of the difference
    high: float


@dataclass(frozen=True)
class BayesResult:
    prob_b_better: float  # P(θ_B > θ_A | data)
    expected_loss_a: float  # E[max(θ_B − θ_A, 0)]: what choosing A (the champion) may cost
    expected_loss_b: float  # E[max(θ_A − θ_B, 0)]: what choosing B (the challenger) may cost


@dataclass(frozen=True)
class SrmResult:
    chi2: float
    p_value: float
    blocked: bool  # p_value < SRM_ALPHA


@dataclass(frozen=True)
class SampleSize:
    per_arm: int  # labelled rows of the challenger arm at a fixed horizon
    champion_per_arm: int  # and of the champion arm (they differ unless the split is even)
    total: int
    sequential_per_arm: int  # where the mSPRT is expected to stop at a true effect of `mde`
    sequential_total: int


def default_tau2(mde: float) -> float:
    """The mixing variance τ² of the mSPRT's normal prior on the effect: τ = |mde| (floor
    1e-4). Johari et al. tune τ to the effects one expects; the minimum detectable effect is
    the platform's statement of that."""
    return max(abs(float(mde)), 1e-4) ** 2


def _initial(previous: SequentialResult | None) -> tuple[float, float, float]:
    if previous is None:
        return 1.0, -1.0, 1.0
    return previous.p_value, previous.low, previous.high


def msprt(
    theta_hat: float,
    variance: float,
    *,
    tau2: float,
    alpha: float,
    previous: SequentialResult | None = None,
) -> SequentialResult:
    """Normal-mixture mSPRT (Johari, Koomen, Pekelis & Walsh 2017, "Peeking at A/B tests",
    KDD; Johari, Pekelis & Walsh, "Always valid inference", Operations Research 2022; the
    Optimizely Stats Engine).

    With θ̂ ~ N(θ, V) and a N(0, τ²) mixture over θ, the likelihood ratio against θ = 0 is

        Λ = sqrt(V / (V + τ²)) · exp(θ̂² τ² / (2 V (V + τ²)))

    and p = min over looks of 1/Λ is an always-valid p-value: under θ = 0 it is below α with
    probability at most α however many looks are taken (Ville's inequality). The confidence
    sequence, all θ not rejected at level α, is

        θ̂ ± sqrt(V (V + τ²) / τ² · (log((V + τ²) / V) + 2 log(1/α)))

    intersected with the previous looks' intervals. A look with no information (V ≤ 0 or not
    finite, e.g. both arms always right) changes nothing.
    """
    p_prev, low_prev, high_prev = _initial(previous)
    if not (math.isfinite(theta_hat) and math.isfinite(variance) and variance > 0 and tau2 > 0):
        return SequentialResult(
            estimate=float(theta_hat) if math.isfinite(theta_hat) else 0.0,
            variance=float(variance) if math.isfinite(variance) else 0.0,
            log_likelihood_ratio=0.0,
            p_value=p_prev,
            low=low_prev,
            high=high_prev,
            significant=p_prev < alpha,
        )
    v, t = float(variance), float(tau2)
    log_lr = 0.5 * math.log(v / (v + t)) + theta_hat**2 * t / (2.0 * v * (v + t))
    p_value = min(p_prev, math.exp(-log_lr) if log_lr > 0 else 1.0)
    half = math.sqrt(v * (v + t) / t * (math.log((v + t) / v) + 2.0 * math.log(1.0 / alpha)))
    low, high = max(low_prev, theta_hat - half), min(high_prev, theta_hat + half)
    if low > high:  # an empty intersection (possible only by chance): keep this look's
        low, high = theta_hat - half, theta_hat + half
    return SequentialResult(
        estimate=float(theta_hat),
        variance=v,
        log_likelihood_ratio=float(log_lr),
        p_value=float(p_value),
        low=float(low),
        high=float(high),
        significant=bool(p_value < alpha),
    )


def _no_look(previous: SequentialResult | None, estimate: float, alpha: float):
    p_prev, low_prev, high_prev = _initial(previous)
    return SequentialResult(
        estimate=estimate,
        variance=0.0,
        log_likelihood_ratio=0.0,
        p_value=p_prev,
        low=low_prev,
        high=high_prev,
        significant=p_prev < alpha,
    )


def two_sample(
    n_a: int,
    correct_a: int,
    n_b: int,
    correct_b: int,
    *,
    tau2: float,
    alpha: float,
    previous: SequentialResult | None = None,
) -> SequentialResult:
    """Split tests: θ̂ = p̂_B − p̂_A with the unpooled variance V = p̂_A(1−p̂_A)/n_A +
    p̂_B(1−p̂_B)/n_B (Johari et al. 2017, §4, two-stream Bernoulli data), then `msprt`.
    Until each arm has MIN_ROWS_PER_ARM labelled rows the look changes nothing."""
    if min(n_a, n_b) < MIN_ROWS_PER_ARM:
        estimate = (correct_b / n_b if n_b else 0.0) - (correct_a / n_a if n_a else 0.0)
        return _no_look(previous, estimate, alpha)
    pa, pb = correct_a / n_a, correct_b / n_b
    variance = pa * (1 - pa) / n_a + pb * (1 - pb) / n_b
    return msprt(pb - pa, variance, tau2=tau2, alpha=alpha, previous=previous)


def paired(
    n_pairs: int,
    champion_only: int,
    challenger_only: int,
    *,
    tau2: float,
    alpha: float,
    previous: SequentialResult | None = None,
) -> SequentialResult:
    """Shadow tests: both versions answered the same labelled rows. Per pair d ∈ {−1, 0, +1}
    (+1: only the challenger right), θ̂ = mean(d) = (c − b)/N and V = var(d)/N =
    ((b + c)/N − θ̂²)/N, with b, c the discordant counts; only discordant pairs carry
    information, as in McNemar's test. Then `msprt` on (θ̂, V)."""
    n = int(n_pairs)
    if n < MIN_ROWS_PER_ARM:
        estimate = (challenger_only - champion_only) / n if n else 0.0
        return _no_look(previous, estimate, alpha)
    theta = (challenger_only - champion_only) / n
    variance = ((champion_only + challenger_only) / n - theta**2) / n
    return msprt(theta, variance, tau2=tau2, alpha=alpha, previous=previous)


def mcnemar_exact(champion_only: int, challenger_only: int) -> float:
    """McNemar's exact test (McNemar 1947; the binomial form): two-sided p =
    min(1, 2 · P[Binomial(b + c, ½) ≤ min(b, c)]). Fixed-horizon reference for shadow tests;
    statsmodels' `mcnemar(table, exact=True)` computes the same."""
    b, c = int(champion_only), int(challenger_only)
    if b + c == 0:
        return 1.0
    return float(min(1.0, 2.0 * stats.binom.cdf(min(b, c), b + c, 0.5)))


def z_test(
    n_a: int, correct_a: int, n_b: int, correct_b: int, *, alpha: float = 0.05
) -> FixedHorizonResult:
    """Two-proportion z-test with the pooled variance under H0 (two-sided), and the Wald
    interval of p̂_B − p̂_A with the unpooled variance (e.g. Agresti, "Categorical Data
    Analysis", §2.2 and §3.1). Valid only once, at the sample size planned in advance: read
    after every look, its false-positive rate grows far past alpha (bench/abtests.py)."""
    if min(n_a, n_b) == 0:
        return FixedHorizonResult(z=0.0, p_value=1.0, low=-1.0, high=1.0)
    pa, pb = correct_a / n_a, correct_b / n_b
    pooled = (correct_a + correct_b) / (n_a + n_b)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    diff = pb - pa
    if se0 == 0:
        z, p = 0.0, 1.0
    else:
        z = diff / se0
        p = float(2 * stats.norm.sf(abs(z)))
    se = math.sqrt(pa * (1 - pa) / n_a + pb * (1 - pb) / n_b)
    half = stats.norm.ppf(1 - alpha / 2) * se
    return FixedHorizonResult(
        z=float(z), p_value=p, low=float(diff - half), high=float(diff + half)
    )


def _beta_tail_mean(b: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """E[(X − b)⁺] for X ~ Beta(α, β): μ (1 − I_b(α+1, β)) − b (1 − I_b(α, β))."""
    mean = alpha / (alpha + beta)
    return mean * special.betaincc(alpha + 1, beta, b) - b * special.betaincc(alpha, beta, b)


def beta_binomial(
    n_a: int, correct_a: int, n_b: int, correct_b: int, *, prior: tuple[float, float] = (1, 1)
) -> BayesResult:
    """Beta-Binomial comparison (as in VWO's SmartStats and GrowthBook's Bayesian engine):
    posteriors θ_k ~ Beta(α₀ + correct_k, β₀ + n_k − correct_k). P(θ_B > θ_A) = ∫ f_B(x)
    F_A(x) dx, and the expected losses E[(θ_B − θ_A)⁺] = ∫ f_A(a) E[(θ_B − a)⁺] da (Stucchio
    2015, "Bayesian A/B testing at VWO"), integrated on a grid where the posteriors have
    their mass (their 1e-12 and 1 − 1e-12 quantiles), with the closed form of E[(X − b)⁺]
    for a Beta X."""
    a0, b0 = prior
    aa, ba = a0 + correct_a, b0 + n_a - correct_a
    ab, bb = a0 + correct_b, b0 + n_b - correct_b
    lo = max(0.0, min(stats.beta.ppf(1e-12, aa, ba), stats.beta.ppf(1e-12, ab, bb)))
    hi = min(1.0, max(stats.beta.isf(1e-12, aa, ba), stats.beta.isf(1e-12, ab, bb)))
    x = np.linspace(lo, hi, 4001)
    fa, fb = stats.beta.pdf(x, aa, ba), stats.beta.pdf(x, ab, bb)
    prob = float(np.clip(integrate.trapezoid(fb * stats.beta.cdf(x, aa, ba), x), 0.0, 1.0))
    loss_a = float(max(integrate.trapezoid(fa * _beta_tail_mean(x, ab, bb), x), 0.0))
    loss_b = float(max(integrate.trapezoid(fb * _beta_tail_mean(x, aa, ba), x), 0.0))
    return BayesResult(prob_b_better=prob, expected_loss_a=loss_a, expected_loss_b=loss_b)


def srm(observed: list[int], planned: list[float]) -> SrmResult:
    """Sample-ratio mismatch: Pearson's chi-square of the units each arm saw against the
    planned shares (k − 1 degrees of freedom); scipy's `chisquare` is the reference. Below
    SRM_ALPHA the assignment or the logging is broken and no decision can be trusted
    (Fabijan et al. 2019)."""
    counts = np.asarray(observed, dtype=float)
    total = counts.sum()
    if total <= 0:
        return SrmResult(chi2=0.0, p_value=1.0, blocked=False)
    shares = np.asarray(planned, dtype=float)
    expected = total * shares / shares.sum()
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    p = float(stats.chi2.sf(chi2, len(counts) - 1))
    return SrmResult(chi2=chi2, p_value=p, blocked=p < SRM_ALPHA)


def _check_share(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and 0.0 < value < 1.0 and math.isfinite(value)):
        raise ValueError(f"{name} must be strictly between 0 and 1, not {value!r}.")


def sample_size(
    baseline: float, mde: float, *, alpha: float = 0.05, power: float = 0.8, share: float = 0.5
) -> SampleSize:
    """Labelled rows for the two-sided two-proportion z-test to detect p₂ = p₁ + mde with the
    given power, the challenger taking `share` of the units (ratio r = n_A/n_B):

        n_B = (z_{1−α/2} sqrt(p̄ q̄ (1 + 1/r)) + z_{1−β} sqrt(p₁q₁/r + p₂q₂))² / mde²,

    p̄ the pooled proportion (Fleiss, Levin & Paik 2003, §4.2; Chow, Shao & Wang, "Sample
    size calculations in clinical research", §4.2). statsmodels'
    `samplesize_proportions_2indep_onetail` agrees within 2 %.

    `sequential_per_arm`: the labelled rows at which the mSPRT (τ² = mde²) is expected to
    stop at a true effect of mde, where the drift of its log-likelihood ratio reaches
    log(1/α): δ²τ²/(2V(V+τ²)) − ½ log((V+τ²)/V) = log(1/α), V = (p₁q₁/w_A + p₂q₂/w_B)/N for N
    labelled rows split w_A, w_B (solved for N with brentq). bench/abtests.py sets it beside
    simulated stopping times.
    """
    _check_share("baseline", baseline)
    if not (isinstance(mde, int | float) and math.isfinite(mde)) or mde == 0:
        raise ValueError(f"mde must be a non-zero difference in accuracy, not {mde!r}.")
    _check_share("baseline + mde", baseline + mde)
    _check_share("alpha", alpha)
    _check_share("power", power)
    _check_share("share", share)
    p1, p2 = float(baseline), float(baseline + mde)
    q1, q2 = 1 - p1, 1 - p2
    r = (1 - share) / share  # champion rows per challenger row
    pbar = (r * p1 + p2) / (r + 1)
    za, zb = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
    n_b = (
        za * math.sqrt(pbar * (1 - pbar) * (1 + 1 / r)) + zb * math.sqrt(p1 * q1 / r + p2 * q2)
    ) ** 2 / mde**2
    n_b = math.ceil(n_b)
    n_a = math.ceil(n_b * r)

    tau2 = default_tau2(mde)
    sigma2 = p1 * q1 / (1 - share) + p2 * q2 / share

    def boundary(n_total: float) -> float:
        v = sigma2 / n_total
        return (
            mde**2 * tau2 / (2 * v * (v + tau2))
            - 0.5 * math.log((v + tau2) / v)
            - math.log(1 / alpha)
        )

    hi = 10.0
    while boundary(hi) < 0:
        hi *= 2
    n_seq = optimize.brentq(boundary, 1.0, hi)
    return SampleSize(
        per_arm=n_b,
        champion_per_arm=n_a,
        total=n_a + n_b,
        sequential_per_arm=math.ceil(n_seq * share),
        sequential_total=math.ceil(n_seq),
    )
