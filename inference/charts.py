"""The Predict page's Plotly figures beyond the probability bars: a row's explanation."""

from __future__ import annotations

from core.charts import BLUE, GREY, MARGIN, RED, significant

WATERFALL_FEATURES = 12  # the largest contributions drawn; the rest as one bar


def waterfall_chart(row: dict, *, chart_id: str = "chart-explanation") -> dict:
    """One explained row (an `Explained.rows()` item) as a waterfall: the base value, each
    feature's contribution from the largest, the rest summed, ending at the output."""
    contributions = sorted(row["contributions"].items(), key=lambda kv: -abs(kv[1]))
    shown = contributions[:WATERFALL_FEATURES]
    rest = contributions[WATERFALL_FEATURES:]
    labels = ["base value"] + [name for name, _ in shown]
    values = [row["base_value"]] + [value for _, value in shown]
    measures = ["absolute"] + ["relative"] * len(shown)
    if rest:
        labels.append(f"{len(rest)} other features")
        values.append(sum(value for _, value in rest))
        measures.append("relative")
    labels.append(f"log-odds of {row['explained_class']}")
    values.append(row["output"])
    measures.append("total")
    return {
        "id": chart_id,
        "figure": {
            "data": [
                {
                    "type": "waterfall",
                    "orientation": "h",
                    "y": labels,
                    "x": [significant(v, 4) for v in values],
                    "measure": measures,
                    "text": [
                        f"{v:+.3f}" if m == "relative" else f"{v:.3f}"
                        for v, m in zip(values, measures, strict=True)
                    ],
                    "textposition": "outside",
                    "increasing": {"marker": {"color": RED}},
                    "decreasing": {"marker": {"color": BLUE}},
                    "totals": {"marker": {"color": GREY}},
                    "connector": {"line": {"color": "#ced4da", "width": 1}},
                    "hovertemplate": "%{y}: %{x}<extra></extra>",
                }
            ],
            "layout": {
                "yaxis": {"type": "category", "autorange": "reversed"},
                "xaxis": {"title": {"text": f"log-odds of {row['explained_class']}"}},
                "margin": {**MARGIN, "l": 150},
                "height": 120 + 26 * len(labels),
                "showlegend": False,
            },
        },
    }
