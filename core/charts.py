"""What every page's Plotly figures share: the palette, margins, unit-square axes, and how
values are rounded and curves thinned before they are sent to the browser.

Each app builds its figure specs ({"data": [...], "layout": {...}}) in its own `charts.py`
from what its selectors return; selectors return data only.
"""

from __future__ import annotations

import math

from engine.vocabulary import FAMILIES

BLUE = "#1971c2"
ORANGE = "#e8590c"
GREEN = "#2f9e44"
VIOLET = "#7048e8"
RED = "#e03131"
GREY = "#868e96"
LIGHT_GREY = "#adb5bd"
INK = "#212529"
PAPER = "#f1f3f5"
# In the order series are coloured: first, second, third ...
SERIES = (BLUE, ORANGE, GREEN, VIOLET, RED)

MARGIN = {"l": 55, "r": 20, "t": 40, "b": 50}
MAX_CURVE_POINTS = 300


def family_colour(family: str) -> str:
    """A model family's colour, the same on every page (the vocabulary's order)."""
    names = [c.name for c in FAMILIES]
    index = names.index(family) if family in names else len(names)
    return (BLUE, GREEN, ORANGE, VIOLET)[min(index, 3)]


def rounded(values, digits: int = 4) -> list:
    return [None if v is None else round(float(v), digits) for v in values]


def significant(value, digits: int = 4):
    """Round to `digits` significant digits; None and non-finite values become None."""
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):
        return None
    if value == 0:
        return 0.0
    return round(value, max(0, digits - 1 - int(math.floor(math.log10(abs(value))))))


def thin(*series: list, limit: int = MAX_CURVE_POINTS) -> list[list]:
    """At most `limit` evenly spaced points of each series (first and last included)."""
    n = min(len(s) for s in series) if series else 0
    if n <= limit:
        return [list(s[:n]) for s in series]
    step = (n - 1) / (limit - 1)
    picks = sorted({round(i * step) for i in range(limit)})
    return [[s[i] for i in picks] for s in series]


def diagonal(name: str = "chance") -> dict:
    """The y = x reference line of ROC and calibration plots."""
    return {
        "type": "scatter",
        "mode": "lines",
        "x": [0, 1],
        "y": [0, 1],
        "name": name,
        "line": {"dash": "dash", "color": LIGHT_GREY, "width": 1},
        "hoverinfo": "skip",
        "showlegend": False,
    }


def unit_layout(x_title: str, y_title: str, **extra) -> dict:
    """Both axes on [0, 1] (ROC, precision-recall, calibration)."""
    return {
        "xaxis": {"title": {"text": x_title}, "range": [0, 1]},
        "yaxis": {"title": {"text": y_title}, "range": [0, 1.02]},
        "margin": MARGIN,
        "height": 340,
        "legend": {"x": 1, "xanchor": "right", "y": 0.02},
        **extra,
    }


def horizontal_bars(labels: list[str], values: list[float], *, x_title: str, **trace) -> dict:
    """Sorted horizontal bars, the largest at the top."""
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "x": values,
                "y": labels,
                "marker": {"color": BLUE},
                **trace,
            }
        ],
        "layout": {
            "xaxis": {"title": {"text": x_title}},
            "yaxis": {"automargin": True},
            "margin": {**MARGIN, "l": 120},
            "height": max(220, 60 + 26 * len(labels)),
        },
    }
