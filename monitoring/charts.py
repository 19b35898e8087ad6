"""The Drift pages' Plotly figures: a model's drift share over its checks, the feature x check
heatmap of effect sizes, and one feature's reference-versus-current distribution."""

from __future__ import annotations

from core.charts import (
    BLUE,
    GREEN,
    GREY,
    MARGIN,
    ORANGE,
    PAPER,
    RED,
    SERIES,
    rounded,
    significant,
    thin,
)
from monitoring.models import DriftCheck

MAX_TIMELINE_CHECKS = 200


def _finished(checks: list[DriftCheck]) -> list[DriftCheck]:
    done = [c for c in checks if c.drift_share is not None]
    return sorted(done, key=lambda c: (c.created_at, c.pk))[-MAX_TIMELINE_CHECKS:]


def _markers(events: list[tuple], name: str, symbol: str, colour: str) -> dict:
    """Events [(when, text)] as markers along the top of the timeline."""
    return {
        "type": "scatter",
        "mode": "markers",
        "name": name,
        "x": [when.isoformat() for when, _ in events],
        "y": [1.0] * len(events),
        "text": [text for _, text in events],
        "hovertemplate": "%{text}<br>%{x}<extra></extra>",
        "marker": {"symbol": symbol, "size": 12, "color": colour},
    }


def timeline_chart(
    checks: list[DriftCheck],
    *,
    threshold: float,
    retrainings: list[tuple] = (),
    promotions: list[tuple] = (),
) -> dict | None:
    """Drift share and importance-weighted share per check, with the dataset threshold, and
    markers where a retraining started and where a version was promoted to production
    (`retrainings` and `promotions`: [(when, text)])."""
    done = _finished(checks)
    if not done:
        return None
    when = [c.created_at.isoformat() for c in done]
    data = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "drift share",
            "x": when,
            "y": rounded([c.drift_share for c in done], 3),
            "text": [f"check {c.pk} v{c.model_version.version}" for c in done],
            "line": {"color": BLUE},
            "marker": {
                "color": [RED if c.verdict == DriftCheck.Verdict.DRIFT else BLUE for c in done],
                "size": 8,
            },
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": "importance-weighted share",
            "x": when,
            "y": rounded([c.weighted_drift_share for c in done], 3),
            "line": {"color": ORANGE, "dash": "dot"},
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": f"threshold {threshold:g}",
            "x": [when[0], when[-1]],
            "y": [threshold, threshold],
            "line": {"color": GREY, "dash": "dash", "width": 1},
            "hoverinfo": "skip",
        },
    ]
    if retrainings:
        data.append(_markers(list(retrainings), "retraining started", "triangle-down", ORANGE))
    if promotions:
        data.append(_markers(list(promotions), "promoted to production", "star", GREEN))
    layout = {
        "yaxis": {"title": {"text": "share of features"}, "range": [0, 1.08]},
        "margin": MARGIN,
        "height": 320,
        "legend": {"orientation": "h", "y": -0.2},
    }
    return {
        "id": "chart-timeline",
        "title": "Drift share over checks",
        "figure": {"data": data, "layout": layout},
    }


def heatmap_chart(checks: list[DriftCheck]) -> dict | None:
    """Effect size of every feature (rows) in every check (columns); drifted cells marked."""
    done = [c for c in _finished(checks) if c.features]
    if not done:
        return None
    names = [f["name"] for f in done[-1].features]
    z, marks = [], []
    for name in names:
        row, mark = [], []
        for check in done:
            feature = next((f for f in check.features if f["name"] == name), None)
            row.append(None if feature is None else significant(feature["effect"], 3))
            mark.append("●" if feature and feature.get("drifted") else "")
        z.append(row)
        marks.append(mark)
    data = [
        {
            "type": "heatmap",
            "z": z,
            "x": [f"#{c.pk}" for c in done],
            "y": names,
            "text": marks,
            "texttemplate": "%{text}",
            "colorscale": [[0, PAPER], [1, RED]],
            "zmin": 0,
            "colorbar": {"title": {"text": "effect"}},
            "hovertemplate": "%{y} in check %{x}<br>effect %{z}<extra></extra>",
        }
    ]
    layout = {
        "xaxis": {"title": {"text": "check"}, "type": "category"},
        "yaxis": {"automargin": True, "autorange": "reversed"},
        "margin": {**MARGIN, "l": 110},
        "height": max(260, 60 + 24 * len(names)),
    }
    return {
        "id": "chart-heatmap",
        "title": "Effect size per feature and check (● drifted)",
        "figure": {"data": data, "layout": layout},
    }


def feature_chart(feature: dict) -> dict:
    """Reference against current for one feature, as shares of each side's rows."""
    histogram = feature.get("histogram") or {}
    reference = histogram.get("reference") or []
    current = histogram.get("current") or []
    total_ref, total_cur = max(sum(reference), 1), max(sum(current), 1)
    if "levels" in histogram:
        x = histogram["levels"]
        width = None
    else:
        edges = histogram.get("edges") or []
        x = rounded([(a + b) / 2 for a, b in zip(edges[:-1], edges[1:], strict=False)], 5)
        width = edges[1] - edges[0] if len(edges) > 1 else None
    data = [
        {
            "type": "bar",
            "name": "reference",
            "x": x,
            "y": rounded([v / total_ref for v in reference], 5),
            "marker": {"color": BLUE, "opacity": 0.6},
            **({"width": width} if width else {}),
        },
        {
            "type": "bar",
            "name": "current",
            "x": x,
            "y": rounded([v / total_cur for v in current], 5),
            "marker": {"color": ORANGE, "opacity": 0.6},
            **({"width": width} if width else {}),
        },
    ]
    layout = {
        "barmode": "overlay" if width else "group",
        "yaxis": {"title": {"text": "share of rows"}, "tickformat": ".0%"},
        "xaxis": {
            "title": {"text": feature["name"]},
            **({"type": "category"} if not width else {}),
        },
        "margin": MARGIN,
        "height": 320,
        "legend": {"orientation": "h", "y": 1.12},
    }
    return {"data": data, "layout": layout}


# --- Performance history ------------------------------------------------------------------------

EVENT_COLOURS = {"promotion": GREEN, "drift": RED, "abtest": ORANGE}
EVENT_NAMES = {"promotion": "promotion", "drift": "drift found", "abtest": "A/B decision"}


def _event_layers(events: list[tuple]) -> tuple[list[dict], list[dict]]:
    """Vertical lines (shapes) at each event, and one hoverable marker trace per kind along
    the top of the chart, so every chart shares the same time axis of what happened."""
    shapes = [
        {
            "type": "line",
            "xref": "x",
            "yref": "paper",
            "x0": when.isoformat(),
            "x1": when.isoformat(),
            "y0": 0,
            "y1": 1,
            "line": {"color": EVENT_COLOURS[kind], "width": 1, "dash": "dot"},
        }
        for when, kind, _ in events
    ]
    traces = []
    for kind, colour in EVENT_COLOURS.items():
        picked = [(when, text) for when, k, text in events if k == kind]
        if picked:
            traces.append(
                {
                    "type": "scatter",
                    "mode": "markers",
                    "name": EVENT_NAMES[kind],
                    "x": [when.isoformat() for when, _ in picked],
                    "y": [1.0] * len(picked),
                    "yaxis": "y2",
                    "text": [text for _, text in picked],
                    "hovertemplate": "%{text}<br>%{x}<extra></extra>",
                    "marker": {"color": colour, "size": 10, "symbol": "diamond"},
                }
            )
    return shapes, traces


def _per_version(snapshots: list, value) -> list[dict]:
    by_version: dict[int, list] = {}
    for snap in snapshots:
        by_version.setdefault(snap.version, []).append(snap)
    traces = []
    for i, (number, snaps) in enumerate(sorted(by_version.items())):
        x, y = thin([s.interval_start.isoformat() for s in snaps], [value(s) for s in snaps])
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "marker": {"size": 3},
                "name": f"v{number}",
                "x": x,
                "y": [None if v is None else significant(v, 4) for v in y],
                "line": {"color": SERIES[i % len(SERIES)]},
                "connectgaps": False,
            }
        )
    return traces


def _history_chart(chart_id, title, data, y_title, events, **yaxis) -> dict:
    shapes, markers = _event_layers(events)
    layout = {
        "yaxis": {"title": {"text": y_title}, **yaxis},
        "yaxis2": {"overlaying": "y", "range": [0, 1.05], "visible": False},
        "shapes": shapes,
        "margin": MARGIN,
        "height": 300,
        "legend": {"orientation": "h", "y": -0.25},
    }
    return {
        "id": chart_id,
        "title": title,
        "figure": {"data": data + markers, "layout": layout},
    }


def performance_charts(
    snapshots: list, events: list[tuple], *, bucket_seconds: int = 60
) -> list[dict]:
    """Latency percentiles (of the production version, or each version's p95 when several
    served), throughput, error rate and live / estimated accuracy per version over time
    (`snapshots`: HistoryPoints of `bucket_seconds`), with promotions, drift findings and A/B
    decisions on the same time axis."""
    if not snapshots:
        return []
    versions = {s.model_version_id for s in snapshots}
    if len(versions) == 1:
        when = [s.interval_start.isoformat() for s in snapshots]
        latency = []
        for i, (name, attr) in enumerate(
            [("p50", "latency_p50_ms"), ("p95", "latency_p95_ms"), ("p99", "latency_p99_ms")]
        ):
            x, y = thin(when, [getattr(s, attr) for s in snapshots])
            latency.append(
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "marker": {"size": 3},
                    "name": name,
                    "x": x,
                    "y": [None if v is None else significant(v, 4) for v in y],
                    "line": {"color": SERIES[i]},
                }
            )
    else:
        latency = _per_version(snapshots, lambda s: s.latency_p95_ms)
    per = {60: "", 3600: ", per hour"}.get(bucket_seconds, f", per {bucket_seconds // 60} min")
    accuracy = _per_version(snapshots, lambda s: s.live_accuracy)
    for trace in _per_version(snapshots, lambda s: s.estimated_accuracy):
        accuracy.append(
            {
                **trace,
                "name": f"{trace['name']} estimated",
                "line": {**trace["line"], "dash": "dot"},
            }
        )
    return [
        _history_chart(
            "chart-latency",
            "Request latency (ms)" + (", p95 per version" if len(versions) > 1 else "") + per,
            latency,
            "ms",
            events,
            rangemode="tozero",
        ),
        _history_chart(
            "chart-throughput",
            "Throughput (rows/s)" + per,
            _per_version(snapshots, lambda s: s.rows_per_second),
            "rows per second",
            events,
            rangemode="tozero",
        ),
        _history_chart(
            "chart-errors",
            "Error rate" + per,
            _per_version(snapshots, lambda s: s.error_rate),
            "failed requests",
            events,
            tickformat=".1%",
            rangemode="tozero",
        ),
        _history_chart(
            "chart-accuracy-history",
            "Live accuracy (solid) and estimated accuracy (dotted)",
            accuracy,
            "accuracy",
            events,
            tickformat=".1%",
        ),
    ]


# -- costs ----------------------------------------------------------------------------------

COST_COLOURS = {
    "inference": BLUE,
    "training": ORANGE,
    "batch_scoring": GREEN,
    "drift_check": RED,
    "ab_evaluation": "#7048e8",
    "storage": GREY,
}


def _money(value) -> float:
    return significant(float(value), 4)


def cost_charts(by_day_kind: dict, per_version: list[dict], kinds: dict[str, str]) -> list[dict]:
    """The Costs page: cost per day stacked by kind, each version's cost stacked by kind, and
    each version's inference cost per 1,000 predictions."""
    currency = by_day_kind["currency"]
    charts = []
    if by_day_kind["rows"]:
        days = sorted({row["day"].isoformat() for row in by_day_kind["rows"]})
        data = []
        for kind, label in kinds.items():
            amounts = {
                row["day"].isoformat(): row["amount"]
                for row in by_day_kind["rows"]
                if row["kind"] == kind
            }
            if amounts:
                data.append(
                    {
                        "type": "bar",
                        "name": label,
                        "x": days,
                        "y": [_money(amounts.get(d, 0)) for d in days],
                        "marker": {"color": COST_COLOURS.get(kind, GREY)},
                    }
                )
        charts.append(
            {
                "id": "chart-cost-days",
                "title": f"Cost per day by kind ({currency})",
                "figure": {
                    "data": data,
                    "layout": {
                        "barmode": "stack",
                        "margin": MARGIN,
                        "height": 320,
                        "yaxis": {"title": {"text": currency}, "rangemode": "tozero"},
                        # One bar per day: a category axis, or a single day gets
                        # millisecond ticks.
                        "xaxis": {"type": "category"},
                        "legend": {"orientation": "h", "y": -0.2},
                    },
                },
            }
        )
    if per_version:
        labels = [f"{e['model']} v{e['version']}" for e in per_version]
        data = []
        for kind, label in kinds.items():
            values = [e["by_kind"].get(kind) for e in per_version]
            if any(v for v in values):
                data.append(
                    {
                        "type": "bar",
                        "orientation": "h",
                        "name": label,
                        "y": labels,
                        "x": [_money(v or 0) for v in values],
                        "marker": {"color": COST_COLOURS.get(kind, GREY)},
                    }
                )
        charts.append(
            {
                "id": "chart-cost-versions",
                "title": f"Cost per version ({currency})",
                "figure": {
                    "data": data,
                    "layout": {
                        "barmode": "stack",
                        "margin": {**MARGIN, "l": 110, "b": 90},
                        "height": 170 + 28 * len(labels),
                        "xaxis": {"rangemode": "tozero"},
                        "yaxis": {"autorange": "reversed"},
                        "legend": {"orientation": "h", "y": -0.25},
                    },
                },
            }
        )
        priced = [e for e in per_version if e["per_1k"] is not None]
        if priced:
            charts.append(
                {
                    "id": "chart-cost-per-1k",
                    "title": f"Inference cost per 1,000 predictions ({currency})",
                    "figure": {
                        "data": [
                            {
                                "type": "bar",
                                "orientation": "h",
                                "y": [f"{e['model']} v{e['version']}" for e in priced],
                                "x": [significant(float(e["per_1k"]), 4) for e in priced],
                                "marker": {"color": BLUE},
                                "hovertemplate": "%{y}: %{x} " + currency + "<extra></extra>",
                            }
                        ],
                        "layout": {
                            "margin": {**MARGIN, "l": 110},
                            "height": 120 + 28 * len(priced),
                            "xaxis": {"title": {"text": currency}, "rangemode": "tozero"},
                            "yaxis": {"autorange": "reversed"},
                        },
                    },
                }
            )
    return charts
