from django.db.models import Count, QuerySet

from registry.models import Dataset


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
