from django.db.models import Count, Max, Prefetch, Q, QuerySet

from engine import vocabulary
from registry.models import Dataset, ModelVersion, RegisteredModel, StageTransition


def dataset_list() -> QuerySet[Dataset]:
    return Dataset.objects.select_related("created_by").annotate(
        version_count=Count("model_versions")
    )


def dataset_get_charts(dataset: Dataset) -> list[dict]:
    """Plotly figure specs (data + layout) for each column, the target's first."""
    charts = []
    ordered = sorted(dataset.columns, key=lambda c: c["name"] != dataset.target)
    for column in ordered:
        is_target = column["name"] == dataset.target
        if is_target and dataset.target_classes:
            labels = [label for label, _ in dataset.target_classes]
            counts = [count for _, count in dataset.target_classes]
            trace = {"type": "bar", "x": labels, "y": counts, "marker": {"color": "#e8590c"}}
        elif "histogram" in column:
            edges = column["histogram"]["edges"]
            centres = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:], strict=True)]
            widths = [b - a for a, b in zip(edges[:-1], edges[1:], strict=True)]
            trace = {
                "type": "bar",
                "x": centres,
                "y": column["histogram"]["counts"],
                "width": widths,
                "marker": {"color": "#1971c2"},
            }
        elif column.get("top"):
            labels = [label for label, _ in column["top"]]
            counts = [count for _, count in column["top"]]
            if column.get("other_count"):
                labels.append("(other)")
                counts.append(column["other_count"])
            trace = {"type": "bar", "x": labels, "y": counts, "marker": {"color": "#2f9e44"}}
        else:
            continue
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


def registered_model_list() -> QuerySet[RegisteredModel]:
    return RegisteredModel.objects.annotate(version_count=Count("versions")).prefetch_related(
        Prefetch(
            "versions",
            queryset=ModelVersion.objects.only("id", "version", "stage", "registered_model_id"),
        )
    )


def model_version_get_production(model_name: str) -> ModelVersion | None:
    return (
        ModelVersion.objects.select_related("registered_model")
        .filter(registered_model__name=model_name, stage=ModelVersion.Stage.PRODUCTION)
        .first()
    )


# --- Model registry ---------------------------------------------------------------------------

# (key, label, higher_is_better) for the scalar test-set metrics, in table order.
SCALAR_METRICS = [(m.name, m.label, m.higher_is_better) for m in vocabulary.TEST_METRICS]
KEY_METRICS = vocabulary.HEADLINE_METRICS
MAX_CURVE_POINTS = 300
_CHART_MARGIN = {"l": 55, "r": 20, "t": 40, "b": 50}
_COLOURS = ("#1971c2", "#e8590c")


def registered_model_summaries() -> list[dict]:
    """For the models page: every model with its production and latest versions, version
    count and key metric."""
    models = list(
        RegisteredModel.objects.annotate(
            version_count=Count("versions"), latest_number=Max("versions__version")
        ).order_by("name")
    )
    production = {
        v.registered_model_id: v
        for v in ModelVersion.objects.filter(stage=ModelVersion.Stage.PRODUCTION)
    }
    latest_filter = Q(pk__in=[])
    for m in models:
        if m.latest_number is not None:
            latest_filter |= Q(registered_model_id=m.pk, version=m.latest_number)
    latest = {v.registered_model_id: v for v in ModelVersion.objects.filter(latest_filter)}
    rows = []
    for m in models:
        shown = production.get(m.pk) or latest.get(m.pk)
        rows.append(
            {
                "model": m,
                "production": production.get(m.pk),
                "latest": latest.get(m.pk),
                "version_count": m.version_count,
                "key_metric": model_version_key_metric(shown) if shown else None,
            }
        )
    return rows


def model_version_key_metric(version: ModelVersion) -> dict | None:
    for key in KEY_METRICS:
        value = (version.metrics or {}).get(key)
        if isinstance(value, int | float):
            return {
                "key": key,
                "label": dict((k, lbl) for k, lbl, _ in SCALAR_METRICS)[key],
                "value": value,
                "version": version.version,
            }
    return None


def model_version_list(model: RegisteredModel) -> QuerySet[ModelVersion]:
    return model.versions.select_related("training_job", "dataset").order_by("-version")


def model_version_get(name: str, number: int) -> ModelVersion:
    return (
        ModelVersion.objects.select_related("registered_model", "dataset", "training_job")
        .filter(registered_model__name=name, version=number)
        .get()
    )


def model_version_metric_rows(version: ModelVersion) -> list[dict]:
    metrics = version.metrics or {}
    return [
        {"key": key, "label": label, "value": metrics[key], "higher_is_better": higher}
        for key, label, higher in SCALAR_METRICS
        if isinstance(metrics.get(key), int | float)
    ]


def model_version_per_class(version: ModelVersion) -> list[dict]:
    per_class = (version.metrics or {}).get("per_class") or {}
    order = version.class_labels or list(per_class)
    rows = []
    for label in order:
        scores = per_class.get(str(label)) or per_class.get(label)
        if isinstance(scores, dict):
            rows.append({"label": label, **scores})
    return rows


def model_version_history(version: ModelVersion) -> QuerySet[StageTransition]:
    return version.transitions.select_related("actor").order_by("-created_at", "-id")


def _round(values, digits: int = 4) -> list:
    return [None if v is None else round(float(v), digits) for v in values]


def _thin(*series: list) -> list[list]:
    """Keep at most MAX_CURVE_POINTS evenly spaced points (first and last included)."""
    n = min(len(s) for s in series) if series else 0
    if n <= MAX_CURVE_POINTS:
        return [list(s[:n]) for s in series]
    step = (n - 1) / (MAX_CURVE_POINTS - 1)
    picks = sorted({round(i * step) for i in range(MAX_CURVE_POINTS)})
    return [[s[i] for i in picks] for s in series]


def _curve(metrics: dict, name: str, *keys: str) -> list[list] | None:
    curve = ((metrics or {}).get("curves") or {}).get(name) or {}
    series = [curve.get(k) for k in keys]
    if not all(isinstance(s, list) and s for s in series):
        return None
    return [_round(s) for s in _thin(*series)]


def _diagonal() -> dict:
    return {
        "type": "scatter",
        "mode": "lines",
        "x": [0, 1],
        "y": [0, 1],
        "name": "chance",
        "line": {"dash": "dash", "color": "#adb5bd", "width": 1},
        "hoverinfo": "skip",
        "showlegend": False,
    }


def _unit_layout(x_title: str, y_title: str, **extra) -> dict:
    return {
        "xaxis": {"title": {"text": x_title}, "range": [0, 1]},
        "yaxis": {"title": {"text": y_title}, "range": [0, 1.02]},
        "margin": _CHART_MARGIN,
        "height": 340,
        "legend": {"x": 1, "xanchor": "right", "y": 0.02},
        **extra,
    }


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


def model_version_get_charts(version: ModelVersion) -> list[dict]:
    """Confusion matrix, ROC, precision-recall and calibration figures: [{id, title, figure}].
    A figure the metrics hold no data for is left out."""
    metrics = version.metrics or {}
    charts = []
    matrix = metrics.get("confusion_matrix")
    if isinstance(matrix, list) and matrix and all(isinstance(r, list) for r in matrix):
        labels = [str(c) for c in version.class_labels] or [str(i) for i in range(len(matrix))]
        labels = labels[: len(matrix)]
        charts.append(
            {
                "id": "chart-confusion",
                "title": "Confusion matrix (test set)",
                "figure": {
                    "data": [
                        {
                            "type": "heatmap",
                            "z": matrix,
                            "x": labels,
                            "y": labels,
                            "colorscale": [[0, "#f1f3f5"], [1, "#1971c2"]],
                            "texttemplate": "%{z}",
                            "hovertemplate": "actual %{y}<br>predicted %{x}<br>%{z}<extra></extra>",
                            "showscale": False,
                        }
                    ],
                    "layout": {
                        "xaxis": {"title": {"text": "predicted"}, "type": "category"},
                        "yaxis": {
                            "title": {"text": "actual"},
                            "type": "category",
                            "autorange": "reversed",
                        },
                        "margin": _CHART_MARGIN,
                        "height": max(300, 60 + 45 * len(labels)),
                    },
                },
            }
        )
    roc = _roc_trace(version, _COLOURS[0])
    if roc is not None:
        charts.append(
            {
                "id": "chart-roc",
                "title": "ROC curve",
                "figure": {
                    "data": [_diagonal(), roc],
                    "layout": _unit_layout("false positive rate", "true positive rate"),
                },
            }
        )
    pr = _curve(metrics, "pr", "recall", "precision")
    if pr is not None:
        name = "precision-recall"
        if isinstance(metrics.get("pr_auc"), int | float):
            name += f" (AP {metrics['pr_auc']:.3f})"
        charts.append(
            {
                "id": "chart-pr",
                "title": "Precision-recall curve",
                "figure": {
                    "data": [
                        {
                            "type": "scatter",
                            "mode": "lines",
                            "name": name,
                            "x": pr[0],
                            "y": pr[1],
                            "line": {"color": "#2f9e44", "width": 2},
                        }
                    ],
                    "layout": _unit_layout("recall", "precision", showlegend=True),
                },
            }
        )
    calibration = _curve(metrics, "calibration", "mean_predicted", "fraction_positive")
    if calibration is not None:
        counts = ((metrics.get("curves") or {}).get("calibration") or {}).get("count") or []
        trace = {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "model",
            "x": calibration[0],
            "y": calibration[1],
            "line": {"color": "#e8590c", "width": 2},
        }
        if len(counts) == len(calibration[0]):
            trace["customdata"] = counts
            trace["hovertemplate"] = (
                "predicted %{x:.3f}<br>observed %{y:.3f}<br>%{customdata} rows<extra></extra>"
            )
        charts.append(
            {
                "id": "chart-calibration",
                "title": "Calibration (reliability)",
                "figure": {
                    "data": [_diagonal(), trace],
                    "layout": _unit_layout("mean predicted probability", "fraction positive"),
                },
            }
        )
    return charts


def model_version_compare(a: ModelVersion, b: ModelVersion) -> dict:
    """Side by side: metric rows with b - a deltas judged better/worse, params, overlaid ROC."""
    metric_rows = []
    for key, label, higher in SCALAR_METRICS:
        va, vb = (a.metrics or {}).get(key), (b.metrics or {}).get(key)
        va = va if isinstance(va, int | float) else None
        vb = vb if isinstance(vb, int | float) else None
        if va is None and vb is None:
            continue
        delta = verdict = None
        if va is not None and vb is not None:
            delta = vb - va
            if abs(delta) < 1e-12:
                verdict = "same"
            else:
                verdict = "better" if (delta > 0) == higher else "worse"
        metric_rows.append(
            {
                "key": key,
                "label": label,
                "a": va,
                "b": vb,
                "delta": delta,
                "verdict": verdict,
                "higher_is_better": higher,
            }
        )
    keys = list(dict.fromkeys([*(a.params or {}), *(b.params or {})]))
    param_rows = [
        {
            "key": k,
            "a": (a.params or {}).get(k),
            "b": (b.params or {}).get(k),
            "differs": (a.params or {}).get(k) != (b.params or {}).get(k),
        }
        for k in keys
    ]
    param_rows.insert(
        0, {"key": "family", "a": a.family, "b": b.family, "differs": a.family != b.family}
    )
    traces = [
        t
        for t in (
            _roc_trace(a, _COLOURS[0], f"v{a.version}"),
            _roc_trace(b, _COLOURS[1], f"v{b.version}"),
        )
        if t is not None
    ]
    charts = []
    if traces:
        charts.append(
            {
                "id": "chart-roc-compare",
                "title": "ROC curves",
                "figure": {
                    "data": [_diagonal(), *traces],
                    "layout": _unit_layout("false positive rate", "true positive rate"),
                },
            }
        )
    return {"metrics": metric_rows, "params": param_rows, "charts": charts}
