"""The Drift pages' figures, built from check rows (no page, no database)."""

from datetime import UTC, datetime, timedelta

from core import charts as palette
from monitoring import charts
from monitoring.models import DriftCheck
from registry.models import ModelVersion

T0 = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)


def _check(pk, minutes, share, verdict, features=()):
    return DriftCheck(
        pk=pk,
        created_at=T0 + timedelta(minutes=minutes),
        drift_share=share,
        weighted_drift_share=share / 2 if share is not None else None,
        verdict=verdict,
        features=list(features),
        model_version=ModelVersion(version=1),
    )


def test_timeline_has_shares_threshold_and_event_markers():
    checks = [
        _check(2, 10, 0.3, "drift"),
        _check(1, 0, 0.0, "no_drift"),
        _check(3, 5, None, "insufficient_data"),
    ]
    chart = charts.timeline_chart(
        checks,
        threshold=0.1,
        retrainings=[(T0 + timedelta(minutes=11), "retraining 1 (drift)")],
        promotions=[(T0 + timedelta(minutes=20), "v2 promoted to production")],
    )
    data = chart["figure"]["data"]
    share, weighted, threshold, retrain, promote = data
    assert share["y"] == [0.0, 0.3]  # oldest first; the insufficient check has no share
    assert share["marker"]["color"] == [palette.BLUE, palette.RED]  # drift in red
    assert weighted["y"] == [0.0, 0.15]
    assert threshold["y"] == [0.1, 0.1]
    assert (
        retrain["text"] == ["retraining 1 (drift)"]
        and retrain["marker"]["symbol"] == "triangle-down"
    )
    assert promote["text"] == ["v2 promoted to production"]
    assert charts.timeline_chart([_check(1, 0, None, "insufficient_data")], threshold=0.1) is None


def test_heatmap_marks_drifted_cells_and_feature_chart_shows_shares():
    features = [
        {
            "name": "x0",
            "effect": 0.61,
            "drifted": True,
            "histogram": {"edges": [0, 1, 2], "reference": [3, 1], "current": [1, 3]},
        },
        {
            "name": "c",
            "effect": 0.02,
            "drifted": False,
            "histogram": {"levels": ["a", "b"], "reference": [5, 5], "current": [6, 4]},
        },
    ]
    chart = charts.heatmap_chart([_check(1, 0, 0.5, "drift", features)])
    heat = chart["figure"]["data"][0]
    assert heat["y"] == ["x0", "c"] and heat["z"] == [[0.61], [0.02]]
    assert heat["text"] == [["●"], [""]]
    numeric = charts.feature_chart(features[0])
    assert numeric["data"][0]["y"] == [0.75, 0.25] and numeric["data"][1]["y"] == [0.25, 0.75]
    assert numeric["layout"]["barmode"] == "overlay"
    categorical = charts.feature_chart(features[1])
    assert categorical["data"][0]["x"] == ["a", "b"] and categorical["layout"]["barmode"] == "group"
