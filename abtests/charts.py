"""The A/B test page's Plotly figures, from the test's snapshots: the always-valid interval of
the difference narrowing over time, P(challenger better) over time, and each arm's accuracy."""

from __future__ import annotations

from abtests.models import Snapshot
from core.charts import BLUE, GREY, MARGIN, ORANGE, rounded, thin

ARM_COLOURS = {"champion": BLUE, "challenger": ORANGE, "watch": ORANGE}


def _when(snapshots: list[Snapshot]) -> list[str]:
    return [s.created_at.isoformat() for s in snapshots]


def _zero_line(x: list[str], y: float, name: str) -> dict:
    return {
        "type": "scatter",
        "mode": "lines",
        "name": name,
        "x": [x[0], x[-1]],
        "y": [y, y],
        "line": {"color": GREY, "dash": "dash", "width": 1},
        "hoverinfo": "skip",
    }


def interval_chart(snapshots: list[Snapshot], *, alpha: float) -> dict | None:
    """The difference in accuracy (challenger - champion) with its always-valid interval:
    valid at every look, so it may be read whenever the page is opened."""
    done = [s for s in snapshots if s.low is not None and s.difference is not None]
    if not done:
        return None
    x, low, high, mid = thin(
        _when(done),
        [max(s.low, -1.0) * 100 for s in done],
        [min(s.high, 1.0) * 100 for s in done],
        [s.difference * 100 for s in done],
    )
    data = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": "interval low",
            "x": x,
            "y": rounded(low, 3),
            "line": {"color": ORANGE, "width": 0},
            "showlegend": False,
            "hovertemplate": "low %{y:.2f} points<extra></extra>",
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": f"always-valid {1 - alpha:.0%} interval",
            "x": x,
            "y": rounded(high, 3),
            "fill": "tonexty",
            "fillcolor": "rgba(232, 89, 12, 0.18)",
            "line": {"color": ORANGE, "width": 0},
            "hovertemplate": "high %{y:.2f} points<extra></extra>",
        },
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "difference",
            "x": x,
            "y": rounded(mid, 3),
            "line": {"color": ORANGE},
            "marker": {"size": 4},
            "hovertemplate": "%{y:.2f} points<br>%{x}<extra></extra>",
        },
        _zero_line(x, 0.0, "no difference"),
    ]
    layout = {
        "yaxis": {"title": {"text": "challenger − champion (accuracy points)"}, "zeroline": False},
        "margin": MARGIN,
        "height": 320,
        "legend": {"orientation": "h", "y": -0.2},
    }
    return {
        "id": "chart-interval",
        "title": "Difference in accuracy, always-valid interval",
        "figure": {"data": data, "layout": layout},
    }


def prob_better_chart(snapshots: list[Snapshot]) -> dict | None:
    """P(challenger more accurate) from the Beta-Binomial posteriors at each evaluation."""
    done = [s for s in snapshots if s.prob_better is not None]
    if not done:
        return None
    x, y = thin(_when(done), [s.prob_better for s in done])
    data = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "P(challenger better)",
            "x": x,
            "y": rounded(y, 4),
            "line": {"color": ORANGE},
            "marker": {"size": 4},
        },
        _zero_line(x, 0.5, "even"),
    ]
    layout = {
        "yaxis": {"title": {"text": "probability"}, "range": [0, 1], "tickformat": ".0%"},
        "margin": MARGIN,
        "height": 320,
        "legend": {"orientation": "h", "y": -0.2},
    }
    return {
        "id": "chart-prob-better",
        "title": "P(challenger better), Beta-Binomial",
        "figure": {"data": data, "layout": layout},
    }


def accuracy_chart(snapshots: list[Snapshot]) -> dict | None:
    """Each arm's accuracy over its labelled predictions so far, at each evaluation."""
    done = [s for s in snapshots if s.arms]
    arms = [a for a in ARM_COLOURS if any((s.arms.get(a) or {}).get("accuracy") for s in done)]
    if not arms:
        return None
    data = []
    for arm in arms:
        points = [(s, (s.arms.get(arm) or {}).get("accuracy")) for s in done]
        points = [(s, v) for s, v in points if v is not None]
        x, y = thin([s.created_at.isoformat() for s, _ in points], [v for _, v in points])
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": arm,
                "x": x,
                "y": rounded(y, 4),
                "line": {"color": ARM_COLOURS[arm]},
            }
        )
    layout = {
        "yaxis": {"title": {"text": "accuracy of labelled predictions"}, "tickformat": ".1%"},
        "margin": MARGIN,
        "height": 320,
        "legend": {"orientation": "h", "y": -0.2},
    }
    return {
        "id": "chart-accuracy",
        "title": "Accuracy per arm",
        "figure": {"data": data, "layout": layout},
    }
