"""Data drift between a reference sample and a current window, feature by feature.

Per feature, a two-sample test (is the current distribution different at all?) and an effect
size (by how much?); across features, the Benjamini–Hochberg correction; over the table, a
dataset rule. A feature is drifted when its BH-adjusted q-value is at most `fdr_q` AND its
effect size is at least the floor for its kind: with thousands of rows every p-value is tiny
for changes nobody cares about, and the effect floor is what keeps such data quiet.

- Numeric: the two-sample Kolmogorov–Smirnov test, D = sup_x |F_ref(x) - F_cur(x)|, computed
  by `scipy.stats.ks_2samp` (its exact / asymptotic choice, method="auto"); missing values are
  left out and their shares reported. Effect: the Wasserstein-1 distance between the two
  empirical distributions divided by the reference standard deviation (as Evidently
  normalises it), so 0.1 means the mass moved a tenth of a standard deviation on average.
  References: Massey (1951); Villani (2009), ch. 6.
- Categorical and boolean: Pearson's chi-square test of homogeneity on the 2 x L table of level
  counts, X^2 = sum (O - E)^2 / E with E = row total * column total / N and L - 1 degrees of
  freedom (`scipy.stats.chi2_contingency`, no continuity correction). Levels: a reference
  level under `rare_share` of the reference rows is pooled into "(rare)", a missing value is
  its own level "(missing)", and current values the reference never had form one "(unseen)"
  level. Effect: the Jensen–Shannon distance (base 2, in [0, 1]) between the two level
  distributions (Lin 1991), or the population stability index,
  PSI = sum (p_cur - p_ref) ln(p_cur / p_ref) with shares floored at 1e-4 (Siddiqi 2006).
- Across features: Benjamini–Hochberg (1995) q-values, q_(i) = min_{k >= i} p_(k) m / k,
  so the expected share of false discoveries among the drifted features is at most fdr_q.
- Dataset: drift share = drifted features / features; importance-weighted share = the sum
  of the drifted features' normalised importances. The rule compares the share, the weighted
  share, or either with `dataset_threshold`.

No pandas here: columns come in as numpy arrays (float64 with NaN for numeric features,
object or str arrays with None for categorical ones).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon

MISSING = "(missing)"
RARE = "(rare)"
UNSEEN = "(unseen)"
HISTOGRAM_BINS = 20
PSI_FLOOR = 1e-4
RULES = ("share", "weighted", "either")
CATEGORICAL_EFFECTS = ("jensen_shannon", "psi")


@dataclass(frozen=True)
class DriftConfig:
    """How a check decides. Defaults chosen by bench/drift.py (README, "Drift")."""

    fdr_q: float = 0.05
    numeric_effect_floor: float = 0.1  # normalised Wasserstein distance
    categorical_effect_floor: float = 0.1  # Jensen–Shannon distance (or PSI)
    categorical_effect: str = "jensen_shannon"
    rare_share: float = 0.01
    dataset_rule: str = "either"
    dataset_threshold: float = 0.1

    def __post_init__(self) -> None:
        if not 0.0 < self.fdr_q < 1.0:
            raise ValueError(f"fdr_q must be in (0, 1), not {self.fdr_q}.")
        if self.numeric_effect_floor < 0 or self.categorical_effect_floor < 0:
            raise ValueError("Effect-size floors must not be negative.")
        if self.categorical_effect not in CATEGORICAL_EFFECTS:
            raise ValueError(
                f"categorical_effect must be one of {', '.join(CATEGORICAL_EFFECTS)}, "
                f"not {self.categorical_effect!r}."
            )
        if not 0.0 <= self.rare_share < 0.5:
            raise ValueError(f"rare_share must be in [0, 0.5), not {self.rare_share}.")
        if self.dataset_rule not in RULES:
            raise ValueError(
                f"dataset_rule must be one of {', '.join(RULES)}, not {self.dataset_rule!r}."
            )
        if not 0.0 < self.dataset_threshold <= 1.0:
            raise ValueError(f"dataset_threshold must be in (0, 1], not {self.dataset_threshold}.")


@dataclass
class FeatureDrift:
    name: str
    kind: str  # numeric, categorical, boolean
    test: str  # "ks" or "chi2"
    statistic: float
    p_value: float
    effect: float
    effect_name: str  # "wasserstein_norm", "jensen_shannon" or "psi"
    missing_reference: float
    missing_current: float
    # For charts: numeric {"edges", "reference", "current"}; categorical {"levels", ...}.
    histogram: dict
    importance: float = 0.0  # normalised, sums to 1 over the features (0 when unknown)
    q_value: float = 1.0
    drifted: bool = False


@dataclass
class DriftReport:
    features: list[FeatureDrift]
    n_reference: int
    n_current: int
    drift_share: float
    weighted_drift_share: float
    drift_detected: bool
    config: DriftConfig = field(default_factory=DriftConfig)

    @property
    def drifted_features(self) -> list[str]:
        return [f.name for f in self.features if f.drifted]

    def to_dict(self) -> dict:
        return asdict(self)


# -- tests and effect sizes --------------------------------------------------------------------


def ks_test(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov–Smirnov (D, p) on the non-missing values, scipy's semantics."""
    result = stats.ks_2samp(reference, current, method="auto")
    return float(result.statistic), float(result.pvalue)


def normalised_wasserstein(reference: np.ndarray, current: np.ndarray) -> float:
    """W1(reference, current) / sd(reference); a constant reference divides by 1.

    W1 = integral |F_ref(x) - F_cur(x)| dx over the merged sample, computed from the sorted
    samples as scipy.stats.wasserstein_distance computes it (tests compare the two)."""
    a = np.sort(reference)
    b = np.sort(current)
    merged = np.sort(np.concatenate([a, b]), kind="stable")  # two sorted runs: a merge
    widths = np.diff(merged)
    cdf_a = np.searchsorted(a, merged[:-1], side="right") / a.size
    cdf_b = np.searchsorted(b, merged[:-1], side="right") / b.size
    distance = float(np.sum(np.abs(cdf_a - cdf_b) * widths))
    scale = float(np.std(a))
    return distance / scale if scale > 0 else distance


def chi_square_test(
    reference_counts: np.ndarray, current_counts: np.ndarray
) -> tuple[float, float]:
    """Pearson's chi-square of homogeneity on the 2 x L table (levels with no count on either
    side dropped); one level left is (0, 1): nothing to compare."""
    table = np.vstack([reference_counts, current_counts]).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0
    statistic, p_value, _, _ = stats.chi2_contingency(table, correction=False)
    return float(statistic), float(p_value)


def jensen_shannon(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """Jensen–Shannon distance, base 2: 0 for equal distributions, 1 for disjoint ones."""
    p = reference_counts / max(reference_counts.sum(), 1)
    q = current_counts / max(current_counts.sum(), 1)
    return float(jensenshannon(p, q, base=2))


def population_stability_index(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """PSI = sum (q - p) ln(q / p), shares floored at 1e-4 so empty levels stay finite."""
    p = np.maximum(reference_counts / max(reference_counts.sum(), 1), PSI_FLOOR)
    q = np.maximum(current_counts / max(current_counts.sum(), 1), PSI_FLOOR)
    return float(np.sum((q - p) * np.log(q / p)))


def benjamini_hochberg(p_values) -> np.ndarray:
    """BH-adjusted q-values, in the input order (statsmodels' multipletests "fdr_bh")."""
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p)
    scaled = p[order] * m / np.arange(1, m + 1)
    q_sorted = np.minimum.accumulate(scaled[::-1])[::-1]
    q = np.empty(m)
    q[order] = np.minimum(q_sorted, 1.0)
    return q


# -- per feature -------------------------------------------------------------------------------


def _numeric(name: str, kind: str, reference, current) -> FeatureDrift:
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    # Sorted once: scipy's KS and the Wasserstein distance sort again, and a sorted array
    # sorts in a fraction of the time.
    ref_ok, cur_ok = np.sort(ref[~np.isnan(ref)]), np.sort(cur[~np.isnan(cur)])
    missing_ref = 1.0 - ref_ok.size / max(ref.size, 1)
    missing_cur = 1.0 - cur_ok.size / max(cur.size, 1)
    if ref_ok.size == 0 or cur_ok.size == 0:
        statistic, p_value, effect = 0.0, 1.0, 0.0
        histogram = {"edges": [], "reference": [], "current": []}
    else:
        statistic, p_value = ks_test(ref_ok, cur_ok)
        effect = normalised_wasserstein(ref_ok, cur_ok)
        low = min(ref_ok.min(), cur_ok.min())
        high = max(ref_ok.max(), cur_ok.max())
        edges = np.linspace(low, high if high > low else low + 1.0, HISTOGRAM_BINS + 1)
        histogram = {
            "edges": edges.tolist(),
            "reference": np.histogram(ref_ok, bins=edges)[0].tolist(),
            "current": np.histogram(cur_ok, bins=edges)[0].tolist(),
        }
    return FeatureDrift(
        name=name,
        kind=kind,
        test="ks",
        statistic=statistic,
        p_value=p_value,
        effect=effect,
        effect_name="wasserstein_norm",
        missing_reference=missing_ref,
        missing_current=missing_cur,
        histogram=histogram,
    )


def _level_counts(values) -> dict[str, int]:
    """{category string: count}, missing values (None, NaN, "") counted as MISSING. One
    conversion to a fixed-width string array and one np.unique: no Python loop over rows."""
    array = np.asarray(values, dtype=object).ravel()
    missing = array == None  # noqa: E711 (elementwise)
    text = array.astype(str)
    missing |= (text == "") | (text == "nan")
    names, counts = np.unique(text[~missing], return_counts=True)
    out = dict(zip(names.tolist(), counts.tolist(), strict=True))
    if missing.any():
        out[MISSING] = int(missing.sum())
    return out


def level_counts(
    reference, current, *, rare_share: float
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(levels, reference counts, current counts): reference levels under `rare_share` pooled
    into RARE, missing values as MISSING, current levels unknown to the reference as UNSEEN."""
    ref = _level_counts(reference)
    cur = _level_counts(current)
    n_ref = sum(ref.values())
    kept = {name for name, count in ref.items() if count >= rare_share * n_ref or name == MISSING}

    def level(name: str) -> str:
        if name in kept:
            return name
        return RARE if name in ref else UNSEEN

    ref_levels: dict[str, int] = {}
    cur_levels: dict[str, int] = {}
    for counts, into in ((ref, ref_levels), (cur, cur_levels)):
        for name, count in counts.items():
            key = level(name)
            into[key] = into.get(key, 0) + count
    present = set(ref_levels) | set(cur_levels)
    levels = sorted(present - {RARE, MISSING, UNSEEN})
    levels += [extra for extra in (RARE, MISSING, UNSEEN) if extra in present]
    ref_counts = np.array([ref_levels.get(name, 0) for name in levels], dtype=np.int64)
    cur_counts = np.array([cur_levels.get(name, 0) for name in levels], dtype=np.int64)
    return levels, ref_counts, cur_counts


def _categorical(name: str, kind: str, reference, current, config: DriftConfig) -> FeatureDrift:
    levels, ref_counts, cur_counts = level_counts(reference, current, rare_share=config.rare_share)
    statistic, p_value = chi_square_test(ref_counts, cur_counts)
    if config.categorical_effect == "psi":
        effect = population_stability_index(ref_counts, cur_counts)
    else:
        effect = jensen_shannon(ref_counts, cur_counts)
    missing = levels.index(MISSING) if MISSING in levels else None
    return FeatureDrift(
        name=name,
        kind=kind,
        test="chi2",
        statistic=statistic,
        p_value=p_value,
        effect=effect,
        effect_name=config.categorical_effect,
        missing_reference=float(ref_counts[missing] / max(ref_counts.sum(), 1))
        if missing is not None
        else 0.0,
        missing_current=float(cur_counts[missing] / max(cur_counts.sum(), 1))
        if missing is not None
        else 0.0,
        histogram={
            "levels": levels,
            "reference": ref_counts.tolist(),
            "current": cur_counts.tolist(),
        },
    )


# -- the check ---------------------------------------------------------------------------------


def check_columns(reference: dict, current: dict, kinds: dict[str, str]) -> None:
    """ValueError naming the first feature either side lacks."""
    for side, columns in (("reference", reference), ("current", current)):
        missing = [name for name in kinds if name not in columns]
        if missing:
            raise ValueError(f"The {side} data has no column {missing[0]!r}.")


def feature_summaries(
    reference: dict[str, np.ndarray],
    current: dict[str, np.ndarray],
    kinds: dict[str, str],
    config: DriftConfig,
) -> list[FeatureDrift]:
    """Every feature's built-in test, effect size, missing shares and histograms, before the
    correction across features (`decide`)."""
    return [
        _numeric(name, kind, reference[name], current[name])
        if kind == "numeric"
        else _categorical(name, kind, reference[name], current[name], config)
        for name, kind in kinds.items()
    ]


def decide(
    features: list[FeatureDrift],
    *,
    config: DriftConfig,
    importances: dict[str, float] | None,
    n_reference: int,
    n_current: int,
) -> DriftReport:
    """Benjamini–Hochberg across the features' p-values, each feature's verdict (q and effect
    floor), and the dataset rule. Every engine ends here, so their reports have one shape."""
    q_values = benjamini_hochberg([f.p_value for f in features])
    weights = _normalised(importances or {}, [f.name for f in features])
    for feature, q in zip(features, q_values.tolist(), strict=True):
        floor = (
            config.numeric_effect_floor
            if feature.kind == "numeric"
            else config.categorical_effect_floor
        )
        feature.q_value = q
        feature.drifted = bool(q <= config.fdr_q and feature.effect >= floor)
        feature.importance = weights[feature.name]
    drifted = [f for f in features if f.drifted]
    share = len(drifted) / len(features) if features else 0.0
    weighted = float(sum(f.importance for f in drifted))
    by_share = share >= config.dataset_threshold
    by_weight = weighted >= config.dataset_threshold
    detected = {
        "share": by_share,
        "weighted": by_weight,
        "either": by_share or by_weight,
    }[config.dataset_rule]
    return DriftReport(
        features=features,
        n_reference=n_reference,
        n_current=n_current,
        drift_share=share,
        weighted_drift_share=weighted,
        drift_detected=bool(detected and drifted),
        config=config,
    )


def _rows(columns: dict) -> int:
    return len(next(iter(columns.values()))) if columns else 0


def detect_drift(
    reference: dict[str, np.ndarray],
    current: dict[str, np.ndarray],
    kinds: dict[str, str],
    *,
    importances: dict[str, float] | None = None,
    config: DriftConfig | None = None,
) -> DriftReport:
    """The built-in engine: compare every feature of `kinds` ({name: "numeric" |
    "categorical" | "boolean"}) between the reference and current columns, then apply BH and
    the dataset rule. Raises ValueError naming a feature either side lacks."""
    config = config or DriftConfig()
    check_columns(reference, current, kinds)
    return decide(
        feature_summaries(reference, current, kinds, config),
        config=config,
        importances=importances,
        n_reference=_rows(reference),
        n_current=_rows(current),
    )


def _normalised(importances: dict[str, float], names: list[str]) -> dict[str, float]:
    """Importances clipped at 0 and scaled to sum to 1; without any, equal weights."""
    raw = np.array([max(float(importances.get(n, 0.0)), 0.0) for n in names])
    if raw.sum() <= 0:
        raw = np.ones(len(names))
    raw = raw / raw.sum() if len(names) else raw
    return dict(zip(names, raw.tolist(), strict=True))
