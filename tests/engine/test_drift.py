"""The built-in drift engine against reference implementations (scipy, statsmodels) on the
same numbers, its known answers, and its error rates by seeded simulation."""

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import Table
from statsmodels.stats.multitest import multipletests

from engine.drift import (
    MISSING,
    RARE,
    UNSEEN,
    DriftConfig,
    benjamini_hochberg,
    chi_square_test,
    detect_drift,
    jensen_shannon,
    ks_test,
    level_counts,
    normalised_wasserstein,
    population_stability_index,
)


@pytest.mark.parametrize("sizes", [(40, 55), (300, 300), (5000, 2000)])
def test_ks_is_scipys_two_sample_test(sizes):
    rng = np.random.default_rng(sum(sizes))
    a, b = rng.normal(size=sizes[0]), rng.normal(0.1, 1.2, size=sizes[1])
    reference = stats.ks_2samp(a, b)
    assert ks_test(a, b) == pytest.approx((reference.statistic, reference.pvalue), rel=1e-12)
    # and the statistic is the largest gap between the two empirical CDFs
    grid = np.sort(np.concatenate([a, b]))
    gap = np.abs(
        np.searchsorted(np.sort(a), grid, side="right") / a.size
        - np.searchsorted(np.sort(b), grid, side="right") / b.size
    ).max()
    assert ks_test(a, b)[0] == pytest.approx(gap)


def test_chi_square_matches_statsmodels_on_the_same_table():
    ref_counts = np.array([120, 300, 55, 25])
    cur_counts = np.array([80, 260, 90, 40])
    statistic, p_value = chi_square_test(ref_counts, cur_counts)
    reference = Table(np.vstack([ref_counts, cur_counts])).test_nominal_association()
    assert statistic == pytest.approx(reference.statistic, rel=1e-10)
    assert p_value == pytest.approx(reference.pvalue, rel=1e-8)
    # a level nobody has is dropped, not a division by zero
    assert chi_square_test(np.append(ref_counts, 0), np.append(cur_counts, 0)) == pytest.approx(
        (statistic, p_value)
    )
    # and a single level has nothing to compare
    assert chi_square_test(np.array([5]), np.array([9])) == (0.0, 1.0)


def test_benjamini_hochberg_matches_statsmodels():
    rng = np.random.default_rng(3)
    for m in (1, 2, 7, 50):
        p = np.concatenate([rng.uniform(size=m - m // 3), rng.uniform(0, 0.01, size=m // 3)])
        _, expected, _, _ = multipletests(p, method="fdr_bh")
        assert np.allclose(benjamini_hochberg(p), expected, rtol=0, atol=1e-12)
    assert benjamini_hochberg([]).size == 0


def test_effect_sizes_follow_their_formulas():
    rng = np.random.default_rng(0)
    a = rng.normal(size=1000)
    b = a + 0.5  # every value moved by half a unit: W1 = 0.5
    assert normalised_wasserstein(a, b) == pytest.approx(0.5 / np.std(a))
    assert normalised_wasserstein(a, a) == 0.0
    c = rng.gamma(2.0, size=700)
    assert normalised_wasserstein(a, c) == pytest.approx(
        stats.wasserstein_distance(a, c) / np.std(a), rel=1e-10
    )
    p, q = np.array([50, 30, 20]), np.array([20, 30, 50])
    ps, qs = p / p.sum(), q / q.sum()
    m = (ps + qs) / 2
    kl = lambda x, y: np.sum(x * np.log2(x / y))  # noqa: E731
    assert jensen_shannon(p, q) == pytest.approx(np.sqrt((kl(ps, m) + kl(qs, m)) / 2))
    assert jensen_shannon(p, p) == 0.0
    assert jensen_shannon(np.array([1, 0]), np.array([0, 1])) == pytest.approx(1.0)
    assert population_stability_index(p, q) == pytest.approx(np.sum((qs - ps) * np.log(qs / ps)))


def test_levels_pool_rare_keep_missing_and_name_unseen():
    reference = ["a"] * 500 + ["b"] * 490 + ["c"] * 5 + [None] * 5
    current = ["a"] * 100 + ["c"] * 3 + ["zzz"] * 7 + [float("nan")] * 2 + [""] * 1
    levels, ref_counts, cur_counts = level_counts(reference, current, rare_share=0.01)
    assert levels == ["a", "b", RARE, MISSING, UNSEEN]
    assert ref_counts.tolist() == [500, 490, 5, 5, 0]
    assert cur_counts.tolist() == [100, 0, 3, 3, 7]


def _table(n: int, seed: int, *, shift: float = 0.0, shifted: int = 0, cat_shift: float = 0.0):
    """Ten features (eight numeric N(0,1), two categorical); `shifted` numeric ones moved by
    `shift` sd, and the first categorical's top level `cat_shift` more likely."""
    rng = np.random.default_rng(seed)
    columns = {}
    for j in range(8):
        columns[f"x{j}"] = rng.normal(shift if j < shifted else 0.0, 1.0, size=n)
    base = np.array([0.4, 0.3, 0.2, 0.1])
    moved = base + np.array([cat_shift, -cat_shift / 3, -cat_shift / 3, -cat_shift / 3])
    columns["c0"] = rng.choice(list("abcd"), size=n, p=moved)
    columns["c1"] = rng.choice(list("abcd"), size=n, p=base)
    kinds = {f"x{j}": "numeric" for j in range(8)} | {"c0": "categorical", "c1": "categorical"}
    return columns, kinds


def test_a_single_strongly_drifted_feature_is_named_and_flags_the_table():
    reference, kinds = _table(10_000, 1)
    current, _ = _table(2_000, 2, shift=0.5, shifted=1)
    report = detect_drift(reference, current, kinds)
    assert report.drifted_features == ["x0"]
    assert report.drift_detected
    assert report.drift_share == pytest.approx(0.1)
    x0 = report.features[0]
    assert (x0.test, x0.effect_name) == ("ks", "wasserstein_norm")
    assert x0.q_value <= 0.05 and x0.effect >= 0.1
    assert sum(x0.histogram["current"]) == 2_000


def test_a_shifted_category_is_named():
    reference, kinds = _table(10_000, 1)
    current, _ = _table(2_000, 3, cat_shift=0.3)
    report = detect_drift(reference, current, kinds)
    assert report.drifted_features == ["c0"]
    c0 = next(f for f in report.features if f.name == "c0")
    assert c0.test == "chi2" and c0.histogram["levels"] == ["a", "b", "c", "d"]


def test_importance_weighting_counts_what_the_model_leans_on():
    reference, kinds = _table(10_000, 1)
    current, _ = _table(2_000, 2, shift=0.5, shifted=1)
    leaning = {name: (10.0 if name == "x0" else 1.0) for name in kinds}
    ignoring = {name: (0.0 if name == "x0" else 1.0) for name in kinds}
    rule = DriftConfig(dataset_rule="weighted", dataset_threshold=0.3)
    heavy = detect_drift(reference, current, kinds, importances=leaning, config=rule)
    light = detect_drift(reference, current, kinds, importances=ignoring, config=rule)
    assert heavy.weighted_drift_share == pytest.approx(10 / 19)
    assert heavy.drift_detected
    assert light.weighted_drift_share == 0.0
    assert not light.drift_detected
    assert light.drifted_features == ["x0"]  # still named, just not decisive


def test_a_column_missing_on_either_side_is_named():
    reference, kinds = _table(100, 1)
    current, _ = _table(100, 2)
    del current["c1"]
    with pytest.raises(ValueError, match="current data has no column 'c1'"):
        detect_drift(reference, current, kinds)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"fdr_q": 0}, "fdr_q"),
        ({"dataset_rule": "mean"}, "dataset_rule"),
        ({"categorical_effect": "kl"}, "categorical_effect"),
        ({"dataset_threshold": 0}, "dataset_threshold"),
    ],
)
def test_bad_configuration_is_refused_with_its_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DriftConfig(**kwargs)


def test_false_alarm_and_detection_rates_by_seeded_simulation():
    # 100 seeded runs per cell: the table is flagged at most 5 % of the time without drift
    # (any window size), and at least 90 % of the time for a 0.2 sd shift of one feature at
    # 2,000 rows. bench/drift.py prints the whole grid.
    reference, kinds = _table(10_000, 0)
    runs = 100
    for n in (500, 2_000):
        quiet = sum(
            detect_drift(reference, _table(n, 1000 + s)[0], kinds).drift_detected
            for s in range(runs)
        )
        assert quiet / runs <= 0.05, (n, quiet)
    found = sum(
        detect_drift(
            reference, _table(2_000, 2000 + s, shift=0.2, shifted=1)[0], kinds
        ).drift_detected
        for s in range(runs)
    )
    assert found / runs >= 0.90, found


def test_large_samples_with_a_meaningless_shift_stay_quiet():
    # given 10,000 current rows where every numeric feature moved by 0.04 sd: real, tiny
    reference, kinds = _table(10_000, 1)
    current, _ = _table(10_000, 4, shift=0.04, shifted=8)
    report = detect_drift(reference, current, kinds)

    # then some tests are significant on their own, yet nothing is called drifted
    assert any(f.q_value <= 0.05 for f in report.features)
    assert report.drifted_features == []
    assert not report.drift_detected


@pytest.mark.parametrize("engine", ["evidently", "alibi"])
def test_every_engine_names_the_same_drifted_features(engine, tmp_path):
    # given one shifted numeric feature and one shifted categorical level (a known answer)
    from engine.drift_engines import run_engine

    reference, kinds = _table(5_000, 1)
    current, _ = _table(2_000, 6, shift=0.5, shifted=1, cat_shift=0.2)
    current["x5"][:40] = np.nan  # missing values too
    builtin = detect_drift(reference, current, kinds)

    # when the library engine checks the same columns
    html = tmp_path / "report.html"
    report = run_engine(
        engine, reference, current, kinds, html_path=html if engine == "evidently" else None
    )

    # then it names the same features, with a report of the same shape
    assert builtin.drifted_features == ["x0", "c0"]
    assert report.drifted_features == builtin.drifted_features
    assert [f.name for f in report.features] == [f.name for f in builtin.features]
    assert report.drift_detected and report.drift_share == pytest.approx(0.2)
    x0 = report.features[0]
    assert x0.test == "ks" and x0.p_value < 1e-10 and x0.histogram == builtin.features[0].histogram
    if engine == "evidently":
        # Evidently's KS p-value and normalised Wasserstein are scipy's / ours on the same rows
        assert x0.p_value == pytest.approx(builtin.features[0].p_value, rel=1e-6)
        assert x0.effect == pytest.approx(builtin.features[0].effect, rel=1e-6)
        assert (
            html.read_text().lower().startswith("<!doctype html")
            or "<html" in html.read_text()[:500].lower()
        )


def test_an_unknown_engine_is_named():
    from engine.drift_engines import run_engine

    reference, kinds = _table(100, 1)
    with pytest.raises(ValueError, match="Unknown drift engine 'magic'"):
        run_engine("magic", reference, reference, kinds)
