"""The Optuna-style figures of a training job's trials, as Plotly specs (data + layout) for
the job page's `charts-data` json_script: optimisation history, parameter importances,
parallel coordinates and learning curves. Kept small: values rounded, curves capped.
scikit-learn (parameter importances) is imported inside the function that needs it.
"""

from __future__ import annotations

import math

from core.charts import BLUE, GREY, INK, RED, family_colour, significant
from training import selectors
from training.models import TrainingJob, Trial

PRUNED_COLOUR = GREY
FAILED_COLOUR = RED
MIN_TRIALS_FOR_IMPORTANCE = 4
MAX_LEARNING_CURVES = 40
MARGIN = {"l": 50, "r": 20, "t": 40, "b": 40}


def training_job_charts(job: TrainingJob, trials: list[Trial] | None = None) -> list[dict]:
    """The job's figures: [{id, title, figure or None, note}]; figure None means omitted."""
    trials = selectors.training_job_trials(job) if trials is None else trials
    if not trials:
        return []
    direction = selectors.training_job_direction(job, trials)
    builders = [
        ("history", "Optimisation history", _history_figure),
        ("importance", "Parameter importances", _importance_figure),
        ("parcoords", "Parallel coordinates", _parcoords_figure),
        ("curves", "MLP learning curves", _curves_figure),
    ]
    charts = []
    for key, title, build in builders:
        figure, note = build(trials, direction)
        if figure is None and note is None:
            continue
        charts.append(
            {
                "id": f"chart-{key}",
                "title": title,
                "figure": figure,
                "note": note,
                "wide": key == "parcoords" and figure is not None,
            }
        )
    return charts


# --- figure helpers --------------------------------------------------------------------------


def _complete(trials: list[Trial]) -> list[Trial]:
    return [t for t in trials if t.state == Trial.State.COMPLETE and t.value is not None]


def _history_figure(trials: list[Trial], direction: str):
    complete = _complete(trials)
    data = []
    for family in sorted({t.family for t in complete}):
        own = [t for t in complete if t.family == family]
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": family,
                "x": [t.number for t in own],
                "y": [significant(t.value) for t in own],
                "text": [t.imbalance for t in own],
                "hovertemplate": "trial %{x}<br>%{y}<br>imbalance %{text}<extra>"
                + family
                + "</extra>",
                "marker": {"color": family_colour(family), "size": 8},
            }
        )
    if complete:
        best, xs, ys = None, [], []
        for t in sorted(complete, key=lambda t: t.number):
            if best is None or (t.value < best if direction == "minimize" else t.value > best):
                best = t.value
            xs.append(t.number)
            ys.append(significant(best))
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": "best so far",
                "x": xs,
                "y": ys,
                "line": {"shape": "hv", "color": INK, "width": 2},
                "hoverinfo": "skip",
            }
        )
    # Pruned and failed trials have no final value: a strip of crosses along the bottom.
    layout_extra = {}
    for state, colour in ((Trial.State.PRUNED, PRUNED_COLOUR), (Trial.State.FAILED, FAILED_COLOUR)):
        own = [t for t in trials if t.state == state]
        if not own:
            continue
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": str(state.label).lower(),
                "x": [t.number for t in own],
                "y": [0.04] * len(own),
                "yaxis": "y2",
                "text": [f"{t.family}" for t in own],
                "hovertemplate": "trial %{x} (%{text})<extra>" + state.value + "</extra>",
                "marker": {"color": colour, "symbol": "x", "size": 9},
            }
        )
        layout_extra["yaxis2"] = {
            "overlaying": "y",
            "range": [0, 1],
            "visible": False,
            "fixedrange": True,
        }
    if not data:
        return None, None
    layout = {
        "xaxis": {"title": {"text": "trial"}},
        "yaxis": {"title": {"text": f"objective ({direction})"}},
        "margin": {**MARGIN, "b": 90},
        "height": 360,
        "legend": {"orientation": "h", "x": 0, "y": -0.28, "yanchor": "top"},
        **layout_extra,
    }
    return {"data": data, "layout": layout}, None


def _param_table(complete: list[Trial]) -> dict[str, list]:
    """Each scalar parameter (family and imbalance included) -> its value per trial (None when
    the trial's family does not have it)."""
    names: dict[str, None] = {}
    for t in complete:
        for key, value in t.params.items():
            if value is None or isinstance(value, bool | int | float | str):
                names.setdefault(key)
    table = {
        "family": [t.family for t in complete],
        "imbalance": [t.imbalance or "none" for t in complete],
    }
    for name in names:
        if name in table:
            continue
        table[name] = [t.params.get(name) for t in complete]
    return table


def _is_numeric(values: list) -> bool:
    present = [v for v in values if v is not None]
    return bool(present) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in present
    )


def _categories(values: list) -> list[str]:
    return sorted({str(v) for v in values if v is not None})


def _importance_figure(trials: list[Trial], direction: str):
    complete = _complete(trials)
    if len(complete) < MIN_TRIALS_FOR_IMPORTANCE:
        return None, (
            f"Parameter importances need at least {MIN_TRIALS_FOR_IMPORTANCE} complete trials "
            f"({len(complete)} so far)."
        )
    values = [t.value for t in complete]
    if min(values) == max(values):
        return None, "Every complete trial scored the same; no parameter explains a difference."
    columns, names = [], []
    for name, column in _param_table(complete).items():
        if len({str(v) for v in column}) < 2:
            continue  # constant over the trials: explains nothing
        if _is_numeric(column):
            present = [float(v) for v in column if v is not None]
            missing = min(present) - 1.0 - (max(present) - min(present))
            encoded = [float(v) if v is not None else missing for v in column]
        else:
            codes = {c: i for i, c in enumerate(_categories(column))}
            encoded = [float(codes[str(v)]) if v is not None else -1.0 for v in column]
        columns.append(encoded)
        names.append(name)
    if not names:
        return None, "No parameter varied between the complete trials."
    from sklearn.ensemble import RandomForestRegressor

    features = [list(row) for row in zip(*columns, strict=True)]
    forest = RandomForestRegressor(n_estimators=64, random_state=0)
    forest.fit(features, values)
    raw = [float(v) for v in forest.feature_importances_]
    total = sum(raw)
    if not total > 0:
        return None, "The parameters explain none of the variation in the objective."
    ranked = sorted(zip(names, (v / total for v in raw), strict=True), key=lambda p: p[1])
    figure = {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "x": [significant(v, 3) for _, v in ranked],
                "y": [n for n, _ in ranked],
                "marker": {"color": BLUE},
                "hovertemplate": "%{y}: %{x:.1%}<extra></extra>",
            }
        ],
        "layout": {
            "xaxis": {"title": {"text": "importance (share)"}, "tickformat": ".0%"},
            "yaxis": {"automargin": True},
            "margin": {**MARGIN, "l": 120},
            "height": max(220, 60 + 28 * len(ranked)),
        },
    }
    note = (
        f"Random-forest importances (64 trees) over {len(complete)} complete trials, "
        "normalised to sum to 1."
    )
    return figure, note


def _numeric_dimension(name: str, column: list) -> dict:
    present = [float(v) for v in column if v is not None]
    lo, hi = min(present), max(present)
    log = lo > 0 and hi / lo >= 100
    transform = math.log10 if log else (lambda v: v)
    tlo, thi = transform(lo), transform(hi)
    span = (thi - tlo) or 1.0
    ticks = [tlo + span * i / 4 for i in range(5)] if thi > tlo else [tlo]
    tickvals = [significant(v, 5) for v in ticks]
    ticktext = [f"{significant(10**v if log else v, 3):g}" for v in ticks]
    values = []
    has_missing = any(v is None for v in column)
    missing_at = tlo - span * 0.15
    for v in column:
        values.append(significant(missing_at if v is None else transform(float(v)), 5))
    if has_missing:
        tickvals.insert(0, significant(missing_at, 5))
        ticktext.insert(0, "n/a")
    return {
        "label": f"{name} (log)" if log else name,
        "values": values,
        "range": [
            significant(missing_at if has_missing else tlo - span * 0.02, 5),
            significant(thi + span * 0.02, 5),
        ],
        "tickvals": tickvals,
        "ticktext": ticktext,
    }


def _categorical_dimension(name: str, column: list) -> dict:
    categories = _categories(column)
    has_missing = any(v is None for v in column)
    labels = (["n/a"] if has_missing else []) + categories
    codes = {label: i for i, label in enumerate(labels)}
    return {
        "label": name,
        "values": [codes["n/a" if v is None else str(v)] for v in column],
        "range": [-0.2, max(len(labels) - 1, 0) + 0.2],
        "tickvals": list(range(len(labels))),
        "ticktext": labels,
    }


def _parcoords_figure(trials: list[Trial], direction: str):
    complete = _complete(trials)
    if len(complete) < 2:
        return None, "Parallel coordinates need at least 2 complete trials."
    dimensions = []
    for name, column in _param_table(complete).items():
        if all(v is None for v in column):
            continue
        if _is_numeric(column):
            dimensions.append(_numeric_dimension(name, column))
        else:
            dimensions.append(_categorical_dimension(name, column))
    values = [significant(t.value, 5) for t in complete]
    dimensions.append({"label": "objective", "values": values})
    figure = {
        "data": [
            {
                "type": "parcoords",
                "line": {
                    "color": values,
                    "colorscale": "Viridis",
                    "reversescale": direction == "minimize",
                    "showscale": True,
                },
                "dimensions": dimensions,
            }
        ],
        "layout": {"margin": {"l": 60, "r": 60, "t": 50, "b": 30}, "height": 380},
    }
    return figure, "Complete trials only; “n/a” marks a parameter the trial's family lacks."


def _curves_figure(trials: list[Trial], direction: str):
    with_curves = [t for t in trials if t.family == "mlp" and len(t.curve or []) >= 1]
    if not with_curves:
        return None, None
    shown = with_curves[-MAX_LEARNING_CURVES:]
    data = []
    for t in shown:
        pruned = t.state != Trial.State.COMPLETE
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"trial {t.number}",
                "x": list(range(1, len(t.curve) + 1)),
                "y": [significant(v) for v in t.curve],
                "showlegend": False,
                "hovertemplate": f"trial {t.number} ({t.state})<br>epoch %{{x}}: %{{y}}"
                "<extra></extra>",
                "line": {
                    "width": 1 if pruned else 1.8,
                    "dash": "dot" if pruned else "solid",
                    "color": PRUNED_COLOUR if pruned else family_colour("mlp"),
                },
                "opacity": 0.6 if pruned else 0.9,
            }
        )
    note = "Validation loss per epoch; dotted grey lines are pruned or failed trials."
    if len(with_curves) > len(shown):
        note += f" The last {len(shown)} of {len(with_curves)} MLP trials are shown."
    figure = {
        "data": data,
        "layout": {
            "xaxis": {"title": {"text": "epoch"}},
            "yaxis": {"title": {"text": "validation loss"}},
            "margin": MARGIN,
            "height": 320,
        },
    }
    return figure, note
