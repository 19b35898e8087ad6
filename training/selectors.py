"""Read side of training jobs: lists, progress, and the Optuna-style figures of a job's trials.

Figures are Plotly specs (data + layout dicts) for the pages' `charts-data` json_script. They
are kept small: values rounded, curves capped. scikit-learn (parameter importances) is imported
inside the function that needs it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from django.db.models import QuerySet
from django.utils import timezone

from engine import vocabulary
from training.models import TrainingJob, Trial

FAMILY_COLOURS = {"mlp": "#1971c2", "hgb": "#2f9e44", "logreg": "#e8590c"}
OTHER_COLOUR = "#7048e8"
PRUNED_COLOUR = "#868e96"
FAILED_COLOUR = "#e03131"
MIN_TRIALS_FOR_IMPORTANCE = 4
MAX_LEARNING_CURVES = 40
MARGIN = {"l": 50, "r": 20, "t": 40, "b": 40}


def training_job_list() -> QuerySet[TrainingJob]:
    return TrainingJob.objects.select_related(
        "dataset", "created_by", "result_version__registered_model"
    )


def training_job_trials(job: TrainingJob) -> list[Trial]:
    return list(job.trials.order_by("number"))


def training_job_get_progress(job: TrainingJob, *, now=None) -> dict:
    """Trials finished of total, elapsed wall time, and an ETA from the mean time per trial."""
    now = now or timezone.now()
    finished = job.trials_finished
    total = job.n_trials
    elapsed = None
    if job.started_at is not None:
        end = job.finished_at or now
        elapsed = max(0.0, (end - job.started_at).total_seconds())
    eta = None
    if job.status == TrainingJob.Status.RUNNING and elapsed is not None and finished:
        eta = elapsed / finished * max(0, total - finished)
        timeout_s = (job.config or {}).get("timeout_s")
        if timeout_s:
            eta = min(eta, max(0.0, float(timeout_s) - elapsed))
    return {
        "status": job.status,
        "status_label": job.get_status_display(),
        "is_finished": job.is_finished,
        "finished": finished,
        "total": total,
        "done": job.trials_done,
        "pruned": job.trials_pruned,
        "failed": job.trials_failed,
        "share": job.progress_share,
        "percent": round(job.progress_share * 100),
        "best_value": job.best_value,
        "elapsed_s": elapsed,
        "eta_s": eta,
    }


def training_job_direction(job: TrainingJob, trials: Iterable[Trial] = ()) -> str:
    """ "maximize" or "minimize": only log loss is minimised ("auto" resolves to ROC AUC for
    binary targets and macro F1 for multiclass ones, both maximised)."""
    metric = (job.config or {}).get("metric", "auto")
    return vocabulary.direction(metric)


def training_job_best_trial(job: TrainingJob, trials: list[Trial]) -> Trial | None:
    complete = [t for t in trials if t.state == Trial.State.COMPLETE and t.value is not None]
    if not complete:
        return None
    pick = min if training_job_direction(job, trials) == "minimize" else max
    return pick(complete, key=lambda t: t.value)


def training_job_get_charts(job: TrainingJob, trials: list[Trial] | None = None) -> list[dict]:
    """The job's figures: [{id, title, figure or None, note}]; figure None means omitted."""
    trials = training_job_trials(job) if trials is None else trials
    if not trials:
        return []
    direction = training_job_direction(job, trials)
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


def _r(value, digits: int = 4):
    """Round for the page (significant digits), keeping None and non-finite values out."""
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):
        return None
    if value == 0:
        return 0.0
    return round(value, max(0, digits - 1 - int(math.floor(math.log10(abs(value))))))


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
                "y": [_r(t.value) for t in own],
                "text": [t.imbalance for t in own],
                "hovertemplate": "trial %{x}<br>%{y}<br>imbalance %{text}<extra>"
                + family
                + "</extra>",
                "marker": {"color": FAMILY_COLOURS.get(family, OTHER_COLOUR), "size": 8},
            }
        )
    if complete:
        best, xs, ys = None, [], []
        for t in sorted(complete, key=lambda t: t.number):
            if best is None or (t.value < best if direction == "minimize" else t.value > best):
                best = t.value
            xs.append(t.number)
            ys.append(_r(best))
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": "best so far",
                "x": xs,
                "y": ys,
                "line": {"shape": "hv", "color": "#212529", "width": 2},
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
                "x": [_r(v, 3) for _, v in ranked],
                "y": [n for n, _ in ranked],
                "marker": {"color": "#1971c2"},
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
    tickvals = [_r(v, 5) for v in ticks]
    ticktext = [f"{_r(10**v if log else v, 3):g}" for v in ticks]
    values = []
    has_missing = any(v is None for v in column)
    missing_at = tlo - span * 0.15
    for v in column:
        values.append(_r(missing_at if v is None else transform(float(v)), 5))
    if has_missing:
        tickvals.insert(0, _r(missing_at, 5))
        ticktext.insert(0, "n/a")
    return {
        "label": f"{name} (log)" if log else name,
        "values": values,
        "range": [
            _r(missing_at if has_missing else tlo - span * 0.02, 5),
            _r(thi + span * 0.02, 5),
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
    values = [_r(t.value, 5) for t in complete]
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
                "y": [_r(v) for v in t.curve],
                "showlegend": False,
                "hovertemplate": f"trial {t.number} ({t.state})<br>epoch %{{x}}: %{{y}}"
                "<extra></extra>",
                "line": {
                    "width": 1 if pruned else 1.8,
                    "dash": "dot" if pruned else "solid",
                    "color": PRUNED_COLOUR if pruned else FAMILY_COLOURS["mlp"],
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
