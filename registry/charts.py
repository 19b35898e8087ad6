"""The registry pages' Plotly figures: a dataset's columns, a version's test-set evaluation
(confusion matrix, ROC, precision-recall, calibration before and after, feature importance)
and two versions' ROC curves side by side.

Each chart is {id, title, figure}; a figure the stored metrics hold no data for is left out.
"""

from __future__ import annotations

from core.charts import (
    BLUE,
    GREEN,
    GREY,
    MARGIN,
    ORANGE,
    PAPER,
    SERIES,
    diagonal,
    horizontal_bars,
    rounded,
    thin,
    unit_layout,
)
from registry.models import Dataset, ModelVersion

MAX_IMPORTANCE_BARS = 30


def _chart(key: str, title: str, figure: dict) -> dict:
    return {"id": f"chart-{key}", "title": title, "figure": figure}


# -- datasets ----------------------------------------------------------------------------------


def _column_trace(dataset: Dataset, column: dict) -> dict | None:
    if column["name"] == dataset.target and dataset.target_classes:
        labels = [label for label, _ in dataset.target_classes]
        counts = [count for _, count in dataset.target_classes]
        return {"type": "bar", "x": labels, "y": counts, "marker": {"color": ORANGE}}
    if "histogram" in column:
        edges = column["histogram"]["edges"]
        return {
            "type": "bar",
            "x": [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:], strict=True)],
            "y": column["histogram"]["counts"],
            "width": [b - a for a, b in zip(edges[:-1], edges[1:], strict=True)],
            "marker": {"color": BLUE},
        }
    if column.get("top"):
        labels = [label for label, _ in column["top"]]
        counts = [count for _, count in column["top"]]
        if column.get("other_count"):
            labels.append("(other)")
            counts.append(column["other_count"])
        return {"type": "bar", "x": labels, "y": counts, "marker": {"color": GREEN}}
    return None


def dataset_charts(dataset: Dataset) -> list[dict]:
    """One figure per column (histogram, category counts, or class counts), the target's
    first: [{id, name, is_target, figure}]."""
    charts = []
    for column in sorted(dataset.columns, key=lambda c: c["name"] != dataset.target):
        trace = _column_trace(dataset, column)
        if trace is None:
            continue
        is_target = column["name"] == dataset.target
        charts.append(
            {
                "id": f"chart-{len(charts)}",
                "name": column["name"],
                "is_target": is_target,
                "figure": {
                    "data": [trace],
                    "layout": {
                        "title": {"text": column["name"] + (" (target)" if is_target else "")},
                        "margin": {"l": 40, "r": 10, "t": 40, "b": 60},
                        "height": 360 if is_target else 260,
                        "bargap": 0.05,
                    },
                },
            }
        )
    return charts


# -- one version -------------------------------------------------------------------------------


def _curve(metrics: dict, name: str, *keys: str) -> list[list] | None:
    curve = ((metrics or {}).get("curves") or {}).get(name) or {}
    series = [curve.get(k) for k in keys]
    if not all(isinstance(s, list) and s for s in series):
        return None
    return [rounded(s) for s in thin(*series)]


def _roc_trace(version: ModelVersion, colour: str, label: str | None = None) -> dict | None:
    roc = _curve(version.metrics, "roc", "fpr", "tpr")
    if roc is None:
        return None
    auc = (version.metrics or {}).get("roc_auc")
    name = label or "ROC"
    if isinstance(auc, int | float):
        name += f" (AUC {auc:.3f})"
    return {
        "type": "scatter",
        "mode": "lines",
        "name": name,
        "x": roc[0],
        "y": roc[1],
        "line": {"color": colour, "width": 2},
    }


def confusion_chart(version: ModelVersion) -> dict | None:
    matrix = (version.metrics or {}).get("confusion_matrix")
    if not (isinstance(matrix, list) and matrix and all(isinstance(r, list) for r in matrix)):
        return None
    labels = [str(c) for c in version.class_labels] or [str(i) for i in range(len(matrix))]
    labels = labels[: len(matrix)]
    trace = {
        "type": "heatmap",
        "z": matrix,
        "x": labels,
        "y": labels,
        "colorscale": [[0, PAPER], [1, BLUE]],
        "texttemplate": "%{z}",
        "hovertemplate": "actual %{y}<br>predicted %{x}<br>%{z}<extra></extra>",
        "showscale": False,
    }
    layout = {
        "xaxis": {"title": {"text": "predicted"}, "type": "category"},
        "yaxis": {"title": {"text": "actual"}, "type": "category", "autorange": "reversed"},
        "margin": MARGIN,
        "height": max(300, 60 + 45 * len(labels)),
    }
    return _chart("confusion", "Confusion matrix (test set)", {"data": [trace], "layout": layout})


def roc_chart(version: ModelVersion) -> dict | None:
    roc = _roc_trace(version, BLUE)
    if roc is None:
        return None
    layout = unit_layout("false positive rate", "true positive rate")
    return _chart("roc", "ROC curve", {"data": [diagonal(), roc], "layout": layout})


def precision_recall_chart(version: ModelVersion) -> dict | None:
    metrics = version.metrics or {}
    pr = _curve(metrics, "pr", "recall", "precision")
    if pr is None:
        return None
    name = "precision-recall"
    if isinstance(metrics.get("pr_auc"), int | float):
        name += f" (AP {metrics['pr_auc']:.3f})"
    trace = {
        "type": "scatter",
        "mode": "lines",
        "name": name,
        "x": pr[0],
        "y": pr[1],
        "line": {"color": GREEN, "width": 2},
    }
    layout = unit_layout("recall", "precision", showlegend=True)
    return _chart("pr", "Precision-recall curve", {"data": [trace], "layout": layout})


def _reliability_trace(metrics: dict, curve: str, name: str, colour: str, **line) -> dict | None:
    points = _curve(metrics, curve, "mean_predicted", "fraction_positive")
    if points is None:
        return None
    trace = {
        "type": "scatter",
        "mode": "lines+markers",
        "name": name,
        "x": points[0],
        "y": points[1],
        "line": {"color": colour, "width": 2, **line},
    }
    counts = ((metrics.get("curves") or {}).get(curve) or {}).get("count") or []
    if len(counts) == len(points[0]):
        trace["customdata"] = counts
        trace["hovertemplate"] = (
            "predicted %{x:.3f}<br>observed %{y:.3f}<br>%{customdata} rows<extra></extra>"
        )
    return trace


def calibration_chart(version: ModelVersion) -> dict | None:
    """Reliability of the served (calibrated) probabilities, and of the model's own before
    calibration when the version has both."""
    metrics = version.metrics or {}
    method = (metrics.get("calibration") or {}).get("method")
    after = _reliability_trace(
        metrics, "calibration", f"calibrated ({method})" if method else "model", ORANGE
    )
    if after is None:
        return None
    before = _reliability_trace(
        metrics, "calibration_uncalibrated", "before calibration", GREY, dash="dot"
    )
    data = [diagonal(), *([before] if before and method != "none" else []), after]
    layout = unit_layout("mean predicted probability", "fraction positive", showlegend=True)
    return _chart("calibration", "Calibration (reliability)", {"data": data, "layout": layout})


def importance_chart(version: ModelVersion) -> dict | None:
    """Permutation importance of each input feature on the validation rows, largest on top."""
    importance = (version.metrics or {}).get("feature_importance") or {}
    ranked = sorted(
        ((name, v.get("mean", 0.0), v.get("std", 0.0)) for name, v in importance.items()),
        key=lambda item: item[1],
    )[-MAX_IMPORTANCE_BARS:]
    if not ranked:
        return None
    figure = horizontal_bars(
        [name for name, _, _ in ranked],
        rounded([mean for _, mean, _ in ranked], 5),
        x_title="rise in validation log loss when shuffled",
        error_x={"type": "data", "array": rounded([std for _, _, std in ranked], 5)},
        hovertemplate="%{y}: +%{x}<extra></extra>",
    )
    return _chart("importance", "Feature importance (permutation)", figure)


def shap_importance_chart(version: ModelVersion) -> dict | None:
    """Mean |SHAP| of each input feature on the reference sample (engine.explain), largest on
    top: how far, on average, each feature moves a prediction's log-odds."""
    shap = (version.metrics or {}).get("shap_importance") or {}
    ranked = sorted((shap.get("values") or {}).items(), key=lambda item: item[1])[
        -MAX_IMPORTANCE_BARS:
    ]
    if not ranked:
        return None
    figure = horizontal_bars(
        [name for name, _ in ranked],
        rounded([value for _, value in ranked], 5),
        x_title="mean |SHAP| (log-odds)",
        marker={"color": ORANGE},
        hovertemplate="%{y}: %{x}<extra></extra>",
    )
    return _chart(
        "shap-importance",
        f"Feature importance (mean |SHAP|, {shap.get('rows', 0)} reference rows)",
        figure,
    )


def model_version_charts(version: ModelVersion) -> list[dict]:
    """Every figure of a version's page that its metrics hold data for."""
    builders = (
        confusion_chart,
        roc_chart,
        precision_recall_chart,
        calibration_chart,
        importance_chart,
        shap_importance_chart,
    )
    return [chart for build in builders if (chart := build(version)) is not None]


# -- two versions ------------------------------------------------------------------------------


def model_version_compare_charts(a: ModelVersion, b: ModelVersion) -> list[dict]:
    """Both versions' ROC curves over one chance line (none when neither has one)."""
    candidates = (
        _roc_trace(a, SERIES[0], f"v{a.version}"),
        _roc_trace(b, SERIES[1], f"v{b.version}"),
    )
    traces = [trace for trace in candidates if trace is not None]
    if not traces:
        return []
    layout = unit_layout("false positive rate", "true positive rate")
    return [_chart("roc-compare", "ROC curves", {"data": [diagonal(), *traces], "layout": layout})]
