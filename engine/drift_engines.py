"""Evidently and alibi-detect behind the built-in engine's interface.

Both take the same columns as `engine.drift.detect_drift` and return a `DriftReport` of the
same shape: the per-feature test (and its p-value) comes from the library, the effect size
from the library where it has one (Evidently's normalised Wasserstein and Jensen–Shannon
distance) or from the built-in engine (alibi-detect reports test statistics only), and the
histograms and missing shares from the built-in engine. Benjamini–Hochberg, the effect floors
and the dataset rule are then `engine.drift.decide`'s, so a verdict means the same whichever
engine ran.

- Evidently 0.7 (`evidently.Report` with one `ValueDrift` metric per feature and measure:
  "ks" and "wasserstein" for numeric features, "chisquare" and "jensenshannon" for categorical
  ones); its HTML report can be written beside the check.
- alibi-detect's `TabularDrift` (K-S for numeric features, chi-square for categorical ones,
  declared through `categories_per_feature`, with its FDR correction at the monitor's q).
  alibi-detect is licensed under the Business Source License 1.1 (not open source; free for
  non-production use): it is imported only when this engine runs, and the platform works
  without it. It needs complete rows, so a numeric feature's missing values are given the
  reference median for its test (the missing shares are reported as measured).

Both libraries are slow to import (seconds): only the check that uses them imports them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.drift import (
    MISSING,
    RARE,
    UNSEEN,
    DriftConfig,
    DriftReport,
    check_columns,
    decide,
    feature_summaries,
    level_counts,
)

ENGINES = ("builtin", "evidently", "alibi")


def _rows(columns: dict) -> int:
    return len(next(iter(columns.values()))) if columns else 0


def _category_text(values) -> np.ndarray:
    """Category strings with missing values as the built-in engine's MISSING level."""
    array = np.asarray(values, dtype=object)
    text = array.astype(str)
    missing = (array == None) | (text == "") | (text == "nan")  # noqa: E711 (elementwise)
    return np.where(missing, MISSING, text).astype(object)


def detect_drift_evidently(
    reference: dict[str, np.ndarray],
    current: dict[str, np.ndarray],
    kinds: dict[str, str],
    *,
    importances: dict[str, float] | None = None,
    config: DriftConfig | None = None,
    html_path: Path | None = None,
) -> DriftReport:
    """Per-feature p-values and effect sizes from Evidently (see the module docstring); the
    report's HTML goes to `html_path` when given."""
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift

    config = config or DriftConfig()
    check_columns(reference, current, kinds)
    numeric = [name for name, kind in kinds.items() if kind == "numeric"]
    categorical = [name for name in kinds if name not in numeric]

    def frame(columns: dict) -> pd.DataFrame:
        return pd.DataFrame(
            {
                name: (
                    np.asarray(columns[name], dtype=np.float64)
                    if name in numeric
                    else _category_text(columns[name])
                )
                for name in kinds
            }
        )

    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    metrics = []
    for name in kinds:
        test, effect = ("ks", "wasserstein") if name in numeric else ("chisquare", "jensenshannon")
        metrics += [ValueDrift(column=name, method=test), ValueDrift(column=name, method=effect)]
    run = Report(metrics).run(
        Dataset.from_pandas(frame(current), data_definition=definition),
        Dataset.from_pandas(frame(reference), data_definition=definition),
    )
    values = {
        (m["config"]["column"], m["config"]["method"]): float(m["value"])
        for m in run.dict()["metrics"]
    }
    if html_path is not None:
        run.save_html(str(html_path))
    features = feature_summaries(reference, current, kinds, config)
    for feature in features:
        if feature.name in numeric:
            feature.p_value = values[(feature.name, "ks")]
            feature.effect = values[(feature.name, "wasserstein")]
            feature.test, feature.effect_name = "ks", "wasserstein_norm"
        else:
            feature.p_value = values[(feature.name, "chisquare")]
            feature.effect = values[(feature.name, "jensenshannon")]
            feature.test, feature.effect_name = "chi2", "jensen_shannon"
    return decide(
        features,
        config=config,
        importances=importances,
        n_reference=_rows(reference),
        n_current=_rows(current),
    )


def detect_drift_alibi(
    reference: dict[str, np.ndarray],
    current: dict[str, np.ndarray],
    kinds: dict[str, str],
    *,
    importances: dict[str, float] | None = None,
    config: DriftConfig | None = None,
) -> DriftReport:
    """Per-feature tests from alibi-detect's TabularDrift (see the module docstring)."""
    from alibi_detect.cd import TabularDrift  # BSL 1.1: imported only for this engine

    config = config or DriftConfig()
    check_columns(reference, current, kinds)
    names = list(kinds)
    ref_matrix = np.empty((_rows(reference), len(names)), dtype=np.float32)
    cur_matrix = np.empty((_rows(current), len(names)), dtype=np.float32)
    categorical: dict[int, int] = {}
    for j, name in enumerate(names):
        if kinds[name] == "numeric":
            ref = np.asarray(reference[name], dtype=np.float64)
            cur = np.asarray(current[name], dtype=np.float64)
            fill = float(np.nanmedian(ref)) if np.isfinite(ref).any() else 0.0
            ref_matrix[:, j] = np.where(np.isnan(ref), fill, ref)
            cur_matrix[:, j] = np.where(np.isnan(cur), fill, cur)
        else:
            # The built-in engine's levels (rare pooled, missing, unseen), as integer codes.
            levels, _, _ = level_counts(
                reference[name], current[name], rare_share=config.rare_share
            )
            ref_codes, cur_codes = _codes(reference[name], current[name], levels)
            ref_matrix[:, j], cur_matrix[:, j] = ref_codes, cur_codes
            categorical[j] = len(levels)
    detector = TabularDrift(
        ref_matrix,
        p_val=config.fdr_q,
        categories_per_feature=categorical,
        correction="fdr",
    )
    out = detector.predict(
        cur_matrix, drift_type="feature", return_p_val=True, return_distance=True
    )["data"]
    features = feature_summaries(reference, current, kinds, config)
    for j, feature in enumerate(features):
        feature.p_value = float(out["p_val"][j])
        feature.statistic = float(out["distance"][j])
        feature.test = "chi2" if j in categorical else "ks"
    return decide(
        features,
        config=config,
        importances=importances,
        n_reference=_rows(reference),
        n_current=_rows(current),
    )


def _codes(reference, current, levels: list[str]) -> tuple:
    """Each value's index in `levels`, mapped as `level_counts` maps it."""
    ref_text = _category_text(reference)
    cur_text = _category_text(current)
    seen = set(ref_text.tolist())
    index = {level: i for i, level in enumerate(levels)}

    def code(value: str) -> int:
        if value in index:
            return index[value]
        return index[RARE] if value in seen else index[UNSEEN]

    mapping_ref = {v: code(v) for v in set(ref_text.tolist())}
    mapping_cur = {v: code(v) for v in set(cur_text.tolist())}
    return (
        np.array([mapping_ref[v] for v in ref_text.tolist()], dtype=np.float32),
        np.array([mapping_cur[v] for v in cur_text.tolist()], dtype=np.float32),
    )


def run_engine(
    engine: str,
    reference: dict[str, np.ndarray],
    current: dict[str, np.ndarray],
    kinds: dict[str, str],
    *,
    importances: dict[str, float] | None = None,
    config: DriftConfig | None = None,
    html_path: Path | None = None,
) -> DriftReport:
    """The named engine's report ("builtin", "evidently" or "alibi")."""
    from engine.drift import detect_drift

    if engine == "builtin":
        return detect_drift(reference, current, kinds, importances=importances, config=config)
    if engine == "evidently":
        return detect_drift_evidently(
            reference, current, kinds, importances=importances, config=config, html_path=html_path
        )
    if engine == "alibi":
        return detect_drift_alibi(reference, current, kinds, importances=importances, config=config)
    raise ValueError(f"Unknown drift engine {engine!r}; choose from {', '.join(ENGINES)}.")
